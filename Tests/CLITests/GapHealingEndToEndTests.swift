import Foundation
import Kafka
import KafkaMock
import PostgresStore
import SyncModel
import TestSupport
import Testing

/// Issue 20 through the real executables (docs/design.md §8): Kafka loses changes — retention trimmed
/// the log past the group's committed offset while StreamSync was down, and an event was
/// dead-lettered — and the pair notices and heals them: StreamSync itself given `--producer-uri`, else
/// the next BatchSync run; the gap ledger, `/status` and the metrics say so.
@Suite struct GapHealingEndToEndTests {
    /// A LIMS record whose bytes are `bytes` long (large ones fill the mock broker's log).
    static func record(_ id: Int64, bytes: Int = 200, revision: Int = 0) -> ImageRecord {
        let created = Timestamp(microsecondsSinceEpoch: 1_696_779_589_000_000 + id * 60_000_000)
        return ImageRecord(
            plant: .potato, id: id, cameraId: id % 5, data: (0..<bytes).map { UInt8(truncatingIfNeeded: Int(id) &* 7 &+ $0) },
            latitude: 52.2, longitude: 21.0, disease: revision > 0 ? "Late Blight" : nil, percentage: nil, createdAt: created,
            updatedAt: revision > 0 ? Timestamp(microsecondsSinceEpoch: created.microsecondsSinceEpoch + Int64(revision) * 1_000_000) : nil)
    }

    /// A group that read the topic long ago: its committed offset is 0.
    static func commitZero(group: String, cluster: KafkaMockCluster) async throws {
        try await KafkaGroupOffsets.commit(
            [TopicPartition(topic: "potato", partition: 0): 0], configuration: mockKafkaConfiguration(cluster, group: group, clientId: "old-reader"),
            asMember: false)
    }

    static func status(_ base: String) async -> [String: Any] {
        guard let reply = await get("\(base)/status"), reply.status == 200 else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any]) ?? [:]
    }

    func streamSyncArguments(cluster: KafkaMockCluster, group: String, consumer: PostgresStore) throws -> [String] {
        [
            "--bootstrap-servers", cluster.bootstrapServers, "--group-id", group, "--topics", "potato",
            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "--batch-wait-ms", "50",
            "--store-uri", try postgresURI(), "--schema", consumer.configuration.schema, "--log-level", "warning",
        ]
    }

    @Test func streamSyncHealsARetentionGapAndADeadLetterFromTheProducer() async throws {
        let producer = try await LimsPostgresProducer.create(shape: .limsTables)
        defer { producer.drop() }
        try await withPostgresStore { consumer in
            try await withMockCluster { cluster in
                try cluster.createTopic("potato", partitions: 1)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let group = uniqueName("heal-")
                try await Self.commitZero(group: group, cluster: cluster)
                // While StreamSync is down, LIMS writes 60 large images; the broker keeps about 5 MB of
                // the partition and trims the start, which the group never read.
                let large = (Int64(1)...60).map { Self.record($0, bytes: 100_000) }
                try await producer.write(large)
                try await publish(large, cluster: cluster)

                let arguments =
                    try streamSyncArguments(cluster: cluster, group: group, consumer: consumer)
                    + ["--producer-uri", producer.uri, "--producer-table", producer.layout.container]
                try await withStreamSync(arguments) { base, log, process in
                    let healed = await eventually {
                        let status = await Self.status(base)
                        return (status["gaps_healed"] as? Int ?? 0) >= 1 && status["open_gaps"] as? Int == 0
                    }
                    let afterHeal = await Self.status(base)
                    #expect(healed, "\(afterHeal) \(log())")
                    #expect(try await liveRecords(consumer, plants: [.potato]) == large, "every image, the trimmed ones healed")

                    // A corrupt event for image 61, which the producer holds: dead-lettered, then healed by its key.
                    let sixtyOne = Self.record(61)
                    try await producer.write([sixtyOne])
                    try await publish(
                        [KafkaProducerRecord(topic: "potato", partition: 0, key: Array("61".utf8), value: Array("{\"id\": 61, \"camera_id\":".utf8))],
                        cluster: cluster)
                    let keyHealed = await eventually { (try? await consumer.record(sixtyOne.key)) == sixtyOne }
                    let afterKey = await Self.status(base)
                    #expect(keyHealed, "\(afterKey) \(log())")
                    let settled = await eventually { await Self.status(base)["open_gaps"] as? Int == 0 }
                    #expect(settled)

                    let metrics = await get("\(base)/metrics")?.body ?? ""
                    #expect(metrics.contains(#"plantsync_stream_gaps_total{job="streamsync",plant="potato",reason="retention"} 1"#), "\(metrics)")
                    #expect(metrics.contains(#"plantsync_stream_gaps_total{job="streamsync",plant="potato",reason="dead-letter"} 1"#))
                    #expect(metrics.contains(#"plantsync_stream_gaps_open{job="streamsync",plant="potato"} 0"#))
                    process.terminate()
                    process.waitUntilExit()
                    #expect(process.terminationStatus == 0, "\(log())")
                }
                let gaps = try await consumer.openGaps()
                #expect(gaps.isEmpty)
            }
        }
    }

    /// Without a producer StreamSync only reports; one BatchSync run closes the gaps, and `/status` and
    /// the gauge follow.
    @Test func withoutAProducerTheNextBatchSyncRunClosesTheGaps() async throws {
        let producer = try await LimsPostgresProducer.create(shape: .limsTables)
        defer { producer.drop() }
        try await withPostgresStore { consumer in
            try await withMockCluster { cluster in
                try cluster.createTopic("potato", partitions: 1)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let records = (Int64(1)...5).map { Self.record($0) }
                try await producer.write(records)
                try await publish(records, cluster: cluster)
                let arguments = try streamSyncArguments(cluster: cluster, group: uniqueName("batch-"), consumer: consumer)
                try await withStreamSync(arguments) { base, log, process in
                    let applied = await eventually { await total(base, "potato") == 5 }
                    #expect(applied, "\(log())")
                    // Image 3 changes, and its event is corrupt.
                    let changed = Self.record(3, revision: 1)
                    try await producer.write([changed])
                    try await publish(
                        [KafkaProducerRecord(topic: "potato", partition: 0, key: Array("3".utf8), value: Array("not json".utf8))],
                        cluster: cluster)
                    let reported = await eventually { await Self.status(base)["open_gaps"] as? Int == 1 }
                    let status = await Self.status(base)
                    #expect(reported, "\(status) \(log())")
                    #expect(status["healing"] as? String == "batchsync")
                    #expect(try await consumer.record(changed.key) == records[2], "not healed by StreamSync")

                    let run = try await Executable(name: "BatchSync").run([
                        "--producer-uri", producer.uri, "--producer-table", producer.layout.container, "--consumer-uri", try postgresURI(),
                        "--consumer-schema", consumer.configuration.schema, "--plants", "tomato", "--strategy", "merkle",
                    ])
                    #expect(run.status == 0, "\(run.stderr)")
                    let report = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
                    #expect(report["gaps_closed"] as? Int == 1, "\(run.stdout)")
                    #expect(report["plants"] as? [String] == ["potato", "tomato"], "the gap's plant first")
                    #expect(try await consumer.record(changed.key) == changed)
                    let closed = await eventually { await Self.status(base)["open_gaps"] as? Int == 0 }
                    #expect(closed)
                    let metrics = await get("\(base)/metrics")?.body ?? ""
                    #expect(metrics.contains(#"plantsync_stream_gaps_open{job="streamsync",plant="potato"} 0"#), "\(metrics)")
                    process.terminate()
                    process.waitUntilExit()
                }
            }
        }
    }
}
