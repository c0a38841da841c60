import Kafka
import KafkaMock
import PostgresStore
import StreamSyncCore
import SyncBenchCore
import SyncModel
import Synchronization
import TestSupport
import Testing

/// End-to-end: LIMS events through the mock cluster into PostgreSQL.
@Suite struct PipelineTests {
    /// 3 plants × 40 ids, each created then updated once or twice, some soft-deleted.
    static func history() -> [ImageRecord] {
        var records: [ImageRecord] = []
        for plant in Plant.lims {
            for id in Int64(1)...40 {
                records.append(record(plant, id))
                records.append(record(plant, id, revision: 1))
                if id % 3 == 0 {
                    var r = record(plant, id, revision: 2)
                    r.isDeleted = id % 6 == 0
                    records.append(r)
                }
            }
        }
        return records
    }

    static func topics() -> [TopicPartition] {
        Plant.lims.flatMap { partitions($0.rawValue, 2) }
    }

    static func createTopics(_ cluster: KafkaMockCluster) throws {
        for plant in Plant.lims { try cluster.createTopic(plant.rawValue, partitions: 2) }
        try cluster.createTopic("plantsync.deadletter", partitions: 1)
    }

    @Test func limsEventsAcrossThreeTopicsEndInTheExpectedState() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try Self.createTopics(cluster)
                let history = Self.history()
                try await produce(history, cluster: cluster)
                let metrics = StreamMetrics()
                let running = try startPipeline(
                    cluster: cluster, store: store, source: .assign(Self.topics(), from: .committed), metrics: metrics)
                let done = await eventually { running.pipeline.progress.messages == history.count }
                try await running.stop()
                #expect(done)
                #expect(try await storeMatches(store, history.map { Change.upsert($0) }))
                // Every partition's committed offset is its end: nothing left to replay.
                let committed = running.pipeline.committedOffsets
                #expect(committed.values.reduce(0, +) == Int64(history.count))
                let text = metrics.exposition()
                #expect(text.contains(#"plantsync_changes_applied_total{job="streamsync",plant="potato"}"#))
                #expect(text.contains(#"plantsync_rows_read_total{job="streamsync",peer="kafka"} \#(history.count)"#))
                #expect(text.contains("plantsync_batches_total"))
                #expect(text.contains("plantsync_freshness_seconds_bucket"))
            }
        }
    }

    /// With more than one apply connection, batches overlap in the database: the version rule must
    /// still leave the greatest version per key, and every offset must end up committed.
    @Test(arguments: [1, 3])
    func duplicatesAndReorderingConvergeToTheSameState(applyConnections: Int) async throws {
        try await withStore { store in
            let additional = try (1..<applyConnections).map { _ in try PostgresStore(store.configuration) }
            try await withCluster { cluster in
                try Self.createTopics(cluster)
                let history = Self.history()
                var shuffled = history + history
                var rng = SplitMix64(seed: 42)
                shuffled.shuffle(using: &rng)
                try await produce(shuffled, cluster: cluster)
                let running = try startPipeline(
                    cluster: cluster, store: store, additionalStores: additional, source: .assign(Self.topics(), from: .committed),
                    settings: StreamSyncSettings(batchMaxSize: 7, batchMaxWait: .milliseconds(50)))
                let done = await eventually { running.pipeline.progress.messages == shuffled.count }
                try await running.stop()
                #expect(done)
                #expect(running.pipeline.committedOffsets.values.reduce(0, +) == Int64(shuffled.count))
                #expect(try await storeMatches(store, history.map { Change.upsert($0) }))
                let progress = running.pipeline.progress
                #expect(progress.applied + progress.skippedStale == shuffled.count)
                #expect(progress.skippedStale >= history.count)
            }
        }
    }

    @Test func crashBetweenApplyAndCommitLosesAndDoublesNothing() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try Self.createTopics(cluster)
                let history = Self.history()
                try await produce(history, cluster: cluster)
                let group = "crash-group"
                let batches = Counter()
                // The third batch is applied, then the process "dies" before committing it.
                let crashing = try startPipeline(
                    cluster: cluster, store: store, source: .assign(Self.topics(), from: .committed), group: group,
                    afterApply: {
                        if batches.next() == 3 { throw SimulatedCrash() }
                    })
                await #expect(throws: SimulatedCrash.self) { try await crashing.task.value }
                let committedBeforeCrash = crashing.pipeline.committedOffsets.values.reduce(0, +)
                #expect(committedBeforeCrash < Int64(history.count))

                let restarted = try startPipeline(
                    cluster: cluster, store: store, source: .assign(Self.topics(), from: .committed), group: group)
                let before = crashing.pipeline.committedOffsets
                let done = await eventually {
                    before.merging(restarted.pipeline.committedOffsets) { max($0, $1) }.values.reduce(0, +)
                        == Int64(history.count)
                }
                try await restarted.stop()
                #expect(done)
                // Offsets resumed at the last commit: the restart read exactly what was not committed.
                #expect(Int64(restarted.pipeline.progress.messages) == Int64(history.count) - committedBeforeCrash)
                #expect(try await storeMatches(store, history.map { Change.upsert($0) }))
            }
        }
    }
}

struct SimulatedCrash: Error {}

/// A thread-safe counter for hooks.
final class Counter: Sendable {
    private let value = Synchronization.Mutex(0)
    func next() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}
