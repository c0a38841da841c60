import Foundation
import Kafka
import KafkaMock
import PostgresStore
import StreamSyncCore
import SyncModel
import Testing

/// Poison messages and Debezium envelopes through the whole pipeline.
@Suite struct EventFormatTests {
    @Test func poisonMessagesOfEveryKindGoToTheDeadLetterTopicAndGoodOnesApply() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic("potato", partitions: 1)
                try cluster.createTopic("Cabbage", partitions: 1)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let good = (Int64(1)...5).map { record(.potato, $0) }
                let valid = RecordJSON.encode(record(.potato, 9))
                let poison: [(String, String, EventDecodingError.Kind)] = [
                    ("potato", "{not json", .malformedJSON),
                    ("potato", valid.replacingOccurrences(of: #""camera_id":2,"#, with: ""), .missingField),
                    ("potato", valid.replacingOccurrences(of: #""is_active":true"#, with: #""is_active":"yes""#), .wrongType),
                    ("potato", valid.replacingOccurrences(of: #""id":9,"#, with: #""id":0,"#), .invalidValue),
                    ("Cabbage", valid, .invalidPlant),
                    ("potato", #"{"op": "u", "after": null}"#, .unsupported),
                    ("potato", String(repeating: " ", count: 70_000) + valid, .oversized),
                ]
                var records: [KafkaProducerRecord] = []
                for (i, r) in good.enumerated() {
                    records.append(KafkaProducerRecord(topic: "potato", partition: 0, value: limsValue(r)))
                    if i < poison.count - 2 {
                        let (topic, value, _) = poison[i]
                        records.append(
                            KafkaProducerRecord(
                                topic: topic, partition: 0, key: Array("k\(i)".utf8), value: Array(value.utf8),
                                headers: [KafkaHeader(name: "origin", text: "test")]))
                    }
                }
                for (topic, value, _) in poison.suffix(2) {
                    records.append(KafkaProducerRecord(topic: topic, partition: 0, key: Array("tail".utf8), value: Array(value.utf8)))
                }
                try await send(records, cluster: cluster)

                var settings = StreamSyncSettings(topics: ["potato", "Cabbage"], batchMaxSize: 4, batchMaxWait: .milliseconds(50))
                settings.maxValueBytes = 64 << 10
                let metrics = StreamMetrics()
                let running = try startPipeline(
                    cluster: cluster, store: store,
                    source: .assign(partitions("potato", 1) + partitions("Cabbage", 1), from: .committed), settings: settings,
                    metrics: metrics)
                let done = await eventually { running.pipeline.progress.messages == records.count }
                try await running.stop()
                #expect(done)
                #expect(try await storeMatches(store, good.map { Change.upsert($0) }))
                #expect(running.pipeline.progress.deadLettered == poison.count)

                let dead = try await readAll("plantsync.deadletter", partitions: 1, cluster: cluster, expecting: poison.count)
                #expect(dead.count == poison.count)
                let kinds = Set(dead.compactMap { m in m.headers.first { $0.name == DeadLetter.kindHeader }?.text })
                #expect(kinds == Set(poison.map(\.2.rawValue)))
                for m in dead {
                    let h = Dictionary(m.headers.map { ($0.name, $0.text ?? "") }, uniquingKeysWith: { a, _ in a })
                    #expect(h[DeadLetter.topicHeader] == "potato" || h[DeadLetter.topicHeader] == "Cabbage")
                    #expect(h[DeadLetter.partitionHeader] == "0")
                    #expect(Int(h[DeadLetter.offsetHeader] ?? "") != nil)
                    #expect(!(h[DeadLetter.detailHeader] ?? "").isEmpty)
                    // The original key and value travel unchanged.
                    let original = records.first {
                        $0.topic == h[DeadLetter.topicHeader] && $0.value == m.value
                    }
                    #expect(original != nil)
                    #expect(original?.key == m.key)
                }
                let missing = dead.first { $0.headers.contains { $0.name == DeadLetter.kindHeader && $0.text == "missing-field" } }
                #expect(missing?.headers.first { $0.name == DeadLetter.fieldHeader }?.text == "camera_id")
                #expect(missing?.headers.first { $0.name == "origin" }?.text == "test")
                #expect(metrics.exposition().contains(#"plantsync_changes_dead_lettered_total{job="streamsync",reason="oversized"} 1"#))
            }
        }
    }

    /// A Debezium `after`/`before` image of a record (base64 bytes, microsecond timestamps).
    static func image(_ r: ImageRecord) -> String {
        let data = r.data.map { "\"" + Data($0).base64EncodedString() + "\"" } ?? "null"
        let updated = r.updatedAt.map { String($0.microsecondsSinceEpoch) } ?? "null"
        return """
            {"id": \(r.id), "camera_id": \(r.cameraId), "data": \(data), "gps_coordinates": [\(r.latitude), \(r.longitude)], \
            "disease": \(r.disease.map { "\"\($0)\"" } ?? "null"), "percentage": \(r.percentage.map { "\($0)" } ?? "null"), \
            "created_at": \(r.createdAt.microsecondsSinceEpoch), "updated_at": \(updated), \
            "is_active": \(r.isActive), "is_deleted": \(r.isDeleted)}
            """
    }

    @Test func debeziumEnvelopesAndTombstonesEndInTheRightState() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                let topic = "lims.imagedbplantproducer.imagecolplanttomato"
                try cluster.createTopic(topic, partitions: 1)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let r1 = record(.tomato, 1)
                let r1u = record(.tomato, 1, revision: 3)
                let r2 = record(.tomato, 2)
                let r3 = record(.tomato, 3)
                let r4 = record(.tomato, 4)
                let later = 1_800_000_000_000  // ms, after every record's version
                func envelope(_ op: String, before: ImageRecord?, after: ImageRecord?, wrapped: Bool = false) -> [UInt8] {
                    let payload = """
                        {"before": \(before.map(Self.image) ?? "null"), "after": \(after.map(Self.image) ?? "null"), "op": "\(op)", \
                        "ts_ms": \(later), "source": {"table": "tomato", "ts_ms": \(later)}}
                        """
                    return Array((wrapped ? #"{"schema": {"type": "struct"}, "payload": \#(payload)}"# : payload).utf8)
                }
                func key(_ id: Int64) -> [UInt8] { Array(#"{"id": \#(id)}"#.utf8) }
                let messages = [
                    KafkaProducerRecord(topic: topic, partition: 0, key: key(1), value: envelope("c", before: nil, after: r1)),
                    KafkaProducerRecord(
                        topic: topic, partition: 0, key: key(2), value: envelope("c", before: nil, after: r2, wrapped: true)),
                    KafkaProducerRecord(topic: topic, partition: 0, key: key(3), value: envelope("r", before: nil, after: r3)),
                    KafkaProducerRecord(
                        topic: topic, partition: 0, key: key(4), value: envelope("r", before: nil, after: r4, wrapped: true)),
                    KafkaProducerRecord(topic: topic, partition: 0, key: key(1), value: envelope("u", before: r1, after: r1u)),
                    KafkaProducerRecord(topic: topic, partition: 0, key: key(2), value: envelope("d", before: r2, after: nil)),
                    // Debezium's tombstone after a delete, and a bare tombstone deleting id 3.
                    KafkaProducerRecord(topic: topic, partition: 0, key: key(2), value: nil, timestampMillis: Int64(later)),
                    KafkaProducerRecord(topic: topic, partition: 0, key: key(3), value: nil, timestampMillis: Int64(later)),
                ]
                try await send(messages, cluster: cluster)
                let running = try startPipeline(
                    cluster: cluster, store: store, source: .assign(partitions(topic, 1), from: .committed),
                    settings: StreamSyncSettings(topics: [topic], format: .auto, batchMaxSize: 3, batchMaxWait: .milliseconds(50)))
                let done = await eventually { running.pipeline.progress.messages == messages.count }
                try await running.stop()
                #expect(done)
                #expect(running.pipeline.progress.deadLettered == 0)
                #expect(try await store.record(RecordKey(plant: .tomato, id: 1)) == r1u)
                #expect(try await store.record(RecordKey(plant: .tomato, id: 2)) == nil)
                #expect(try await store.record(RecordKey(plant: .tomato, id: 3)) == nil)
                #expect(try await store.record(RecordKey(plant: .tomato, id: 4)) == r4)
                #expect(try await store.count(of: .tomato) == 2)
            }
        }
    }

    /// Debezium updates whose unchanged TOASTed columns hold the unavailable-value placeholder, in the
    /// same batch as the create carrying the bytes: the placeholder is never stored, the create's bytes
    /// and the stored disease stay, and the placeholders are counted per field (docs/design.md §2).
    @Test func debeziumPlaceholdersKeepTheStoredValuesAndAreCounted() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                let topic = "dbserver.public.tomato"
                try cluster.createTopic(topic, partitions: 1)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let custom = "__toast__"
                let r1 = record(.tomato, 1)
                let r1u = record(.tomato, 1, revision: 3)
                let r2 = record(.tomato, 2, revision: 1)
                var r2u = record(.tomato, 2, revision: 4)
                r2u.disease = "Late Blight"  // sent as the placeholder: the stored "Healthy" stays
                func update(_ r: ImageRecord, data: String? = nil, disease: String? = nil) -> [UInt8] {
                    var image = Self.image(r)
                    if let data {
                        image = image.replacingOccurrences(
                            of: #""data": "\#(Data(r.data!).base64EncodedString())""#, with: #""data": "\#(data)""#)
                    }
                    if let disease {
                        let stored = "\"disease\": " + (r.disease.map { "\"" + $0 + "\"" } ?? "null")
                        image = image.replacingOccurrences(of: stored, with: "\"disease\": \"" + disease + "\"")
                    }
                    return Array(#"{"after": \#(image), "op": "u", "source": {"table": "tomato", "ts_ms": 1}}"#.utf8)
                }
                let messages = [
                    KafkaProducerRecord(topic: topic, partition: 0, value: Array(#"{"after": \#(Self.image(r1)), "op": "c"}"#.utf8)),
                    KafkaProducerRecord(topic: topic, partition: 0, value: update(r1u, data: BinaryText.base64(Array(custom.utf8)))),
                    KafkaProducerRecord(topic: topic, partition: 0, value: Array(#"{"after": \#(Self.image(r2)), "op": "c"}"#.utf8)),
                    KafkaProducerRecord(topic: topic, partition: 0, value: update(r2u, data: custom, disease: custom)),
                ]
                try await send(messages, cluster: cluster)
                let metrics = StreamMetrics()
                let running = try startPipeline(
                    cluster: cluster, store: store, source: .assign(partitions(topic, 1), from: .committed),
                    settings: StreamSyncSettings(
                        topics: [topic], format: .debezium, batchMaxSize: 100, batchMaxWait: .milliseconds(50),
                        debeziumUnavailablePlaceholder: try parseUnavailablePlaceholder(custom)),
                    metrics: metrics)
                let done = await eventually { running.pipeline.progress.messages == messages.count }
                try await running.stop()
                #expect(done)
                #expect(running.pipeline.progress.deadLettered == 0)
                var expected1 = r1u
                expected1.data = r1.data
                #expect(try await store.record(r1.key) == expected1)
                var expected2 = r2u
                expected2.data = r2.data
                expected2.disease = r2.disease
                #expect(try await store.record(r2.key) == expected2)
                let text = metrics.exposition()
                #expect(text.contains(#"plantsync_debezium_placeholders_total{job="streamsync",field="data"} 2"#), "\(text)")
                #expect(text.contains(#"plantsync_debezium_placeholders_total{job="streamsync",field="disease"} 1"#))
                #expect(text.contains(#"plantsync_debezium_placeholders_total{job="streamsync",field="gps_coordinates"} 0"#))
                #expect(throws: StreamSyncError.self) { try parseUnavailablePlaceholder("") }
            }
        }
    }
}
