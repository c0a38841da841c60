import Kafka
import KafkaMock
import PostgresStore
import StreamSyncCore
import SyncModel
import TestSupport
import Testing

/// A plant LIMS adds reaches StreamSync by configuration alone (docs/design.md §1, §2): its topic names
/// it, a regex subscription finds the topic when it appears, and metrics are labelled with it.
@Suite struct OpenPlantsTests {
    // MARK: Settings

    @Test(arguments: [
        (StreamSyncSettings(topicPattern: "cucumber"), "--topic-pattern", "must start with '^'"),
        (StreamSyncSettings(topicPattern: "^(cucumber"), "--topic-pattern", "not a POSIX extended regular expression"),
        (StreamSyncSettings(topicPattern: "^[a-z]+"), "--topic-pattern", "matches the dead-letter topic 'plantsync.deadletter'"),
        (StreamSyncSettings(topics: [], topicPattern: nil), "--topics", "name at least one topic"),
        (StreamSyncSettings(topics: ["^cu.*"]), "--topics", "a pattern goes in --topic-pattern"),
        (StreamSyncSettings(topics: ["potato", "Cucumber"], format: .lims), "--topics", "'Cucumber' is not a valid plant name"),
    ])
    func badSubscriptionsNameTheirFlagAndValue(settings: StreamSyncSettings, flag: String, says: String) {
        let error = #expect(throws: StreamSyncError.self) { try settings.validate() }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.hasPrefix("invalid \(flag) \""), "\(text)")
        #expect(text.contains(says), "\(text)")
    }

    @Test func aPatternAloneOrBesideTopicsIsASubscription() throws {
        let alone = StreamSyncSettings(topics: [], topicPattern: "^[a-z][a-z0-9_]*$")
        try alone.validate()
        #expect(alone.subscription == ["^[a-z][a-z0-9_]*$"])
        let beside = StreamSyncSettings(topicPattern: "^lims\\.imagedbplantproducer\\..*")
        try beside.validate()
        #expect(beside.subscription == ["potato", "tomato", "pepper", "^lims\\.imagedbplantproducer\\..*"])
        // Topics that name no plant are fine where a Debezium source may name it.
        try StreamSyncSettings(topics: ["cdc.Leaves"], format: .auto).validate()
    }

    @Test func topicPlantMappingsAreValidatedByThePlantParser() throws {
        #expect(try parseTopicPlants("cdc.leaves=cucumber,x=imagecolplantkale").mapValues(\.rawValue) == ["cdc.leaves": "cucumber", "x": "kale"])
        let error = #expect(throws: StreamSyncError.self) { try parseTopicPlants("cdc.leaves=Cucumber") }
        #expect(
            error.map { "\($0)" }
                == "invalid --topic-plant \"cdc.leaves=Cucumber\": 'Cucumber': a plant name starts with a lower-case letter a-z")
    }

    /// librdkafka's regex semantics (POSIX extended, unanchored search), as the settings check them.
    @Test func topicPatternsMatchAsLibrdkafkaDoes() throws {
        let pattern = try KafkaTopicPattern("^[a-z][a-z0-9_]*$")
        #expect(pattern.matches("cucumber") && pattern.matches("bell_pepper2"))
        #expect(!pattern.matches("plantsync.deadletter") && !pattern.matches("Cucumber") && !pattern.matches("__consumer_offsets"))
        #expect(try KafkaTopicPattern("^lims\\.").matches("lims.imagedbplantproducer.imagecolplantkale"))
    }

    // MARK: A topic that appears after start

    /// The pipeline subscribed with a pattern before the plant's topic existed: once LIMS creates the
    /// topic and writes to it, the next metadata refresh subscribes it and its events are applied,
    /// counted under the new plant's label; an event on a matched topic that names no plant is a dead
    /// letter of kind invalid-plant.
    @Test func aNewPlantsTopicIsFoundByThePatternWithoutARestart() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic("potato", partitions: 1)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let settings = StreamSyncSettings(
                    topics: [], topicPattern: "^[a-zA-Z][a-zA-Z0-9_]*$", batchMaxSize: 50, batchMaxWait: .milliseconds(50))
                try settings.validate()
                let metrics = StreamMetrics()
                let running = try startPipeline(
                    cluster: cluster, store: store, source: .subscribe(settings.subscription), settings: settings, metrics: metrics,
                    // A topic found by the pattern is a rebalance; the mock broker can stall one until the
                    // session times out (docs/streamsync.md, "Known limits"): a short session, as the rebalance tests use.
                    properties: [
                        "topic.metadata.refresh.interval.ms": "500", "auto.offset.reset": "earliest", "session.timeout.ms": "6000",
                        "heartbeat.interval.ms": "500",
                    ])
                defer { running.pipeline.stop() }
                try await produce([record(.potato, 1)], cluster: cluster, partitions: 1)
                #expect(await eventually(timeout: .seconds(120)) { running.pipeline.progress.applied == 1 }, "the pattern subscribed the existing topic")

                // LIMS starts imaging cucumbers: a new topic, nothing else changes.
                let cucumber = try #require(Plant(rawValue: "cucumber"))
                try cluster.createTopic("cucumber", partitions: 2)
                try cluster.createTopic("Kale", partitions: 1)
                let records = (Int64(1)...20).map { record(cucumber, $0) }
                try await produce(records, cluster: cluster)
                try await send([KafkaProducerRecord(topic: "Kale", partition: 0, key: Array("1".utf8), value: limsValue(record(.potato, 2)))], cluster: cluster)
                let arrived = await eventually(timeout: .seconds(120)) {
                    running.pipeline.progress.applied == 21 && running.pipeline.progress.deadLettered == 1
                }
                try await running.stop()
                #expect(arrived, "\(running.pipeline.progress)")
                #expect(try await store.count(of: cucumber) == 20)
                #expect(try await store.record(records[4].key) == records[4])
                #expect(try await store.plants() == [cucumber, .potato])
                let text = metrics.exposition()
                #expect(text.contains(#"plantsync_changes_applied_total{job="streamsync",plant="cucumber"} 20"#), "\(text)")
                #expect(text.contains(#"plantsync_changes_dead_lettered_total{job="streamsync",reason="invalid-plant"} 1"#))
                let dead = try await readAll("plantsync.deadletter", partitions: 1, cluster: cluster, expecting: 1)
                let headers = Dictionary(dead.first?.headers.map { ($0.name, $0.text ?? "") } ?? [], uniquingKeysWith: { a, _ in a })
                #expect(headers[DeadLetter.kindHeader] == "invalid-plant")
                #expect(headers[DeadLetter.topicHeader] == "Kale")
                #expect(headers[DeadLetter.detailHeader]?.contains("'Kale' is not a valid plant name") == true)
            }
        }
    }
}
