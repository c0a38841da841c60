import Foundation
import Kafka
import KafkaMock
import MongoStore
import PostgresStore
import SyncModel
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Issue 22 through the real executables: LIMS's MongoDB producer's change events as the MongoDB Kafka
/// source connector publishes them (inserts, updates with and without `fullDocument`, replaces, deletes
/// by `_id` only) reach either consumer store exactly; a delete of an `_id` never seen is a gap that
/// StreamSync heals from the producer (`--producer-uri`); and after a restart, with nothing cached,
/// deletes and patches by `_id` are resolved through the consumer store.
@Suite struct MongoChangeEventsEndToEndTests {
    typealias Events = MongoChangeStreamEvents
    static let topic = "lims.imagedbplantproducer.imagecolplantpotato"

    /// A LIMS record at whole milliseconds (what a BSON date keeps).
    static func record(_ id: Int64, revision: Int = 0) -> ImageRecord {
        let created = Timestamp(microsecondsSinceEpoch: 1_696_779_589_000_000 + id * 60_000_000)
        return ImageRecord(
            plant: .potato, id: id, cameraId: id % 5, data: (0..<(200 + Int(id))).map { UInt8(truncatingIfNeeded: Int(id) &* 13 &+ $0) },
            latitude: 52.2 + Double(id) / 1000, longitude: 21.0, disease: revision > 0 ? "Late Blight" : nil,
            percentage: revision > 0 ? 0.5 + Double(revision) / 10 : nil, createdAt: created,
            updatedAt: revision > 0 ? Timestamp(microsecondsSinceEpoch: created.microsecondsSinceEpoch + Int64(revision) * 1_000_000) : nil)
    }

    /// `record` as an update without `fullDocument` leaves it: disease set, percentage removed.
    static func patched(_ r: ImageRecord, at millis: Int64) -> (record: ImageRecord, event: String) {
        var after = r
        after.disease = "Healthy"
        after.percentage = nil
        after.updatedAt = Timestamp(microsecondsSinceEpoch: millis * 1000)
        let event = Events.patch(
            .potato, id: r.id, updated: #""disease": "Healthy", "updated_at": \#(Events.date(after.updatedAt!))"#, removed: ["percentage"],
            wallMillis: millis)
        return (after, event)
    }

    func withConsumer<T>(_ engine: NewPlantEndToEndTests.Engine, _ body: (any ConsumerStore, _ uri: String, _ schema: [String]) async throws -> T)
        async throws -> T
    {
        try await NewPlantEndToEndTests().withConsumer(engine, body)
    }

    @Test(arguments: NewPlantEndToEndTests.Engine.allCases)
    func connectorEventsEndExactInEitherConsumerAndDeletesByIDResolveAfterARestart(engine: NewPlantEndToEndTests.Engine) async throws {
        try await withMongoDouble {
            let producer = try await LimsMongoProducer.create(plants: [.potato])
            defer { producer.drop() }
            try await withConsumer(engine) { consumer, consumerURI, schema in
                try await withMockCluster { cluster in
                    try cluster.createTopic(Self.topic, partitions: 1)
                    try cluster.createTopic("plantsync.deadletter", partitions: 1)
                    let group = uniqueName("cdc-")
                    let arguments =
                        [
                            "--bootstrap-servers", cluster.bootstrapServers, "--group-id", group, "--topics", Self.topic,
                            "--format", "mongodb-change-stream", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
                            "--store-uri", consumerURI, "--batch-wait-ms", "50", "--timestamp-precision", "milliseconds",
                            "--producer-uri", producer.uri, "--log-level", "warning",
                        ] + schema
                    func send(_ values: [String]) async throws {
                        try await publish(
                            values.map { KafkaProducerRecord(topic: Self.topic, partition: 0, key: Array(Events.key.utf8), value: Array($0.utf8)) },
                            cluster: cluster)
                    }

                    // LIMS's producer as the events leave it, written before each event is published.
                    var state = Dictionary(uniqueKeysWithValues: (Int64(1)...20).map { ($0, Self.record($0)) })
                    try await producer.write(Array(state.values))
                    var events = (Int64(1)...20).map { Events.insert(Self.record($0)) }
                    for id in Int64(1)...3 {  // updates with fullDocument (updateLookup)
                        state[id] = Self.record(id, revision: 1)
                        events.append(Events.update(state[id]!))
                    }
                    let patchMillis = Self.record(20).createdAt.microsecondsSinceEpoch / 1000 + 3_600_000
                    for id in Int64(4)...6 {  // updates without fullDocument
                        let (after, event) = Self.patched(state[id]!, at: patchMillis + id)
                        state[id] = after
                        events.append(event)
                    }
                    state[10] = Self.record(10, revision: 2)
                    events.append(Events.insert(state[10]!, operation: "replace"))
                    for id in Int64(7)...9 {  // deletes: documentKey._id only
                        state[id] = nil
                        events.append(Events.delete(.potato, id: id, wallMillis: patchMillis + 100 + id))
                    }
                    // A delete of a document created and deleted before this log began: an _id never seen.
                    events.append(Events.delete(.potato, id: 99, wallMillis: patchMillis + 200))
                    try await producer.write([state[1]!, state[2]!, state[3]!, state[4]!, state[5]!, state[6]!, state[10]!])
                    try await producer.delete((Int64(7)...9).map { RecordKey(plant: .potato, id: $0) })
                    try await send(events)

                    try await withStreamSync(arguments) { base, log, process in
                        let expected = state.values.sorted { $0.id < $1.id }
                        let exact = await eventually { (try? await liveRecords(consumer, plants: [.potato])) == expected }
                        #expect(exact, "\(log())")
                        // `/status`'s heal count, not the open-gaps gauge (0 until the ledger's first poll).
                        let healed = await eventually {
                            let status = await GapHealingEndToEndTests.status(base)
                            return (status["gaps_healed"] as? Int ?? 0) >= 1 && status["open_gaps"] as? Int == 0
                        }
                        let metrics = await get("\(base)/metrics")?.body ?? ""
                        #expect(healed, "the unknown _id is a gap, healed from the producer: \(metrics) \(log())")
                        #expect(metrics.contains(#"plantsync_stream_gaps_total{job="streamsync",plant="potato",reason="unknown-source-id"} 1"#))
                        // Three patches and three deletes of records read in this run (cached), one unknown _id.
                        #expect(metrics.contains(#"plantsync_changes_by_id_total{job="streamsync",resolved="cache"} 6"#), "\(metrics)")
                        #expect(metrics.contains(#"plantsync_changes_by_id_total{job="streamsync",resolved="none"} 1"#))
                        let final = try await liveRecords(consumer, plants: [.potato])
                        #expect(final == expected)
                        process.terminate()
                        process.waitUntilExit()
                        #expect(process.terminationStatus == 0, "\(log())")
                    }

                    let leftover = try await consumer.openGaps()
                    #expect(leftover.isEmpty, "\(leftover)")
                    // Restarted, nothing cached: a delete and a patch by _id resolve through the consumer store.
                    state[11] = nil
                    let (patched, patch) = Self.patched(state[12]!, at: patchMillis + 500)
                    state[12] = patched
                    try await producer.write([patched])
                    try await producer.delete([RecordKey(plant: .potato, id: 11)])
                    try await send([Events.delete(.potato, id: 11, wallMillis: patchMillis + 400), patch])
                    try await withStreamSync(arguments) { base, log, process in
                        let expected = state.values.sorted { $0.id < $1.id }
                        let exact = await eventually { (try? await liveRecords(consumer, plants: [.potato])) == expected }
                        #expect(exact, "\(log())")
                        let open = try await consumer.openGaps()
                        #expect(open.isEmpty)
                        let metrics = await get("\(base)/metrics")?.body ?? ""
                        #expect(metrics.contains(#"plantsync_changes_by_id_total{job="streamsync",resolved="store"} 2"#), "\(metrics)")
                        process.terminate()
                        process.waitUntilExit()
                        #expect(process.terminationStatus == 0, "\(log())")
                    }
                    let held = try await producer.store().records(of: .potato, in: .all, pageSize: 100).collect()
                    #expect(held == state.values.sorted { $0.id < $1.id }, "the producer ends as the events imply")
                }
            }
        }
    }
}
