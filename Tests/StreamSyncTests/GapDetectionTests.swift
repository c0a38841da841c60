import Foundation
import Kafka
import KafkaMock
import PostgresStore
import StreamSyncCore
import SyncModel
import TestSupport
import Testing

/// Gap detection against the mock cluster (docs/design.md §8): every offset range StreamSync will never
/// read is recorded in the consumer's ledger, exactly, before anything past it is committed.
@Suite struct GapDetectionTests {
    static let topic = "potato"
    static let tp = TopicPartition(topic: topic, partition: 0)
    static let partition = StreamPartition(topic: topic, partition: 0)
    /// A short session, as the rebalance tests use: a member that left is forgotten quickly.
    static let session = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]

    /// Sets `group`'s committed offset of `tp`, as an operator's `kafka-consumer-groups --reset-offsets`
    /// (or a group that read long ago) leaves it (`KafkaGroupOffsets`, shared with `scripts/chaos`).
    static func commit(_ offset: Int64, group: String, cluster: KafkaMockCluster, asMember: Bool = false) async throws {
        var configuration = kafkaConfig(cluster, group: group)
        configuration.properties.merge(session) { $1 }
        try await KafkaGroupOffsets.commit([tp: offset], configuration: configuration, asMember: asMember, logger: quietLogger)
    }

    static func records(_ ids: ClosedRange<Int64>, dataBytes: Int = 64) -> [ImageRecord] {
        ids.map { record(.potato, $0, dataBytes: dataBytes) }
    }

    static func watermarks(_ cluster: KafkaMockCluster) async throws -> KafkaWatermarks {
        let consumer = try KafkaConsumer(configuration: kafkaConfig(cluster), logger: quietLogger)
        defer { Task { await consumer.close() } }
        return try await consumer.watermarks([tp])[tp]!
    }

    func run(
        _ cluster: KafkaMockCluster, _ store: PostgresStore, group: String, reset: KafkaConfiguration.OffsetReset = .earliest,
        until done: @escaping (StreamPipeline) -> Bool
    ) async throws {
        let running = try startPipeline(
            cluster: cluster, store: store, source: .subscribe([Self.topic]), group: group, properties: Self.session,
            gapDetection: GapDetection(ledger: store, group: group, reset: reset))
        let finished = await eventually(timeout: .seconds(120)) { done(running.pipeline) }
        try await running.stop()
        #expect(finished, "progress \(running.pipeline.progress)")
    }

    /// Retention deleted the start of the log while the group's committed offset still pointed there.
    @Test func aTrimmedLogIsAGapOfExactlyTheDeletedOffsets() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic(Self.topic, partitions: 1)
                let group = uniqueName("g-")
                try await Self.commit(0, group: group, cluster: cluster)
                // 70 records of 100 kB: the mock broker keeps about 5 MB of a partition and trims the rest.
                try await produce(Self.records(1...70, dataBytes: 100_000), cluster: cluster, partitions: 1)
                let marks = try await Self.watermarks(cluster)
                #expect(marks.low > 0 && marks.high == 70, "the mock trimmed the log: \(marks)")
                try await run(cluster, store, group: group) { $0.committedOffsets[Self.tp] == 70 }
                let gaps = try await store.openGaps()
                #expect(gaps.map(\.reason) == [.retention])
                #expect(gaps.first?.partition == Self.partition)
                #expect(gaps.first?.firstOffset == 0 && gaps.first?.endOffset == marks.low)
                #expect(try await store.count(of: .potato) == Int(70 - marks.low), "everything after the gap applied")
            }
        }
    }

    /// A group with no committed offset started at latest skipped the log before it; at earliest, nothing.
    @Test(arguments: [KafkaConfiguration.OffsetReset.earliest, .latest])
    func aNewGroupSkipsOnlyWhatItsResetSkips(reset: KafkaConfiguration.OffsetReset) async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic(Self.topic, partitions: 1)
                try await produce(Self.records(1...10), cluster: cluster, partitions: 1)
                let group = uniqueName("g-")
                let running = try startPipeline(
                    cluster: cluster, store: store, source: .subscribe([Self.topic]), group: group,
                    gapDetection: GapDetection(ledger: store, group: group, reset: reset))
                // At latest, the next record is read and nothing before it.
                let started = try await eventually(timeout: .seconds(120)) {
                    reset == .earliest ? running.pipeline.committedOffsets[Self.tp] == 10 : !(try await store.openGaps().isEmpty)
                }
                if reset == .latest { try await produce(Self.records(11...11), cluster: cluster, partitions: 1) }
                let done = await eventually(timeout: .seconds(120)) { running.pipeline.committedOffsets[Self.tp] == 11 || reset == .earliest }
                try await running.stop()
                #expect(started && done)
                let gaps = try await store.openGaps()
                switch reset {
                case .earliest:
                    #expect(gaps.isEmpty)
                    #expect(try await store.count(of: .potato) == 10)
                default:
                    #expect(gaps.map(\.reason) == [.startedAtLatest])
                    #expect(gaps.first?.firstOffset == 0 && gaps.first?.endOffset == 10)
                    #expect(try await store.count(of: .potato) == 1)
                }
            }
        }
    }

    /// A committed offset past the log's end (the topic was deleted and recreated): what was lost is
    /// unknown, so the gap has no end; the new log is read from its start.
    @Test func aCommittedOffsetPastTheEndIsATruncatedLog() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic(Self.topic, partitions: 1)
                let group = uniqueName("g-")
                try await Self.commit(500, group: group, cluster: cluster)
                try await produce(Self.records(1...10), cluster: cluster, partitions: 1)
                try await run(cluster, store, group: group) { $0.committedOffsets[Self.tp] == 10 }
                let gaps = try await store.openGaps()
                #expect(gaps.map(\.reason) == [.logTruncated])
                #expect(gaps.first?.firstOffset == 500 && gaps.first?.endOffset == nil)
                #expect(try await store.count(of: .potato) == 10)
            }
        }
    }

    /// A restart finds nothing; an operator's forward reset while StreamSync was down is a gap of the
    /// offsets it jumped over.
    @Test func anOffsetResetByAnOperatorIsAGapAndARestartIsNot() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic(Self.topic, partitions: 1)
                let group = uniqueName("g-")
                try await produce(Self.records(1...10), cluster: cluster, partitions: 1)
                try await run(cluster, store, group: group) { $0.committedOffsets[Self.tp] == 10 }
                try await produce(Self.records(11...20), cluster: cluster, partitions: 1)
                try await run(cluster, store, group: group) { $0.committedOffsets[Self.tp] == 20 }
                #expect(try await store.openGaps().isEmpty, "a restart is no gap")

                try await produce(Self.records(21...30), cluster: cluster, partitions: 1)
                try await Self.commit(25, group: group, cluster: cluster, asMember: true)  // offsets 20..<25 skipped
                try await run(cluster, store, group: group) { $0.committedOffsets[Self.tp] == 30 }
                let gaps = try await store.openGaps()
                #expect(gaps.map(\.reason) == [.offsetReset])
                #expect(gaps.first?.firstOffset == 20 && gaps.first?.endOffset == 25)
                #expect(try await store.count(of: .potato) == 25)
            }
        }
    }
}
