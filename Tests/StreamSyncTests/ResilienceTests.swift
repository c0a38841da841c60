import Kafka
import KafkaMock
import PostgresStore
import StreamSyncCore
import SyncModel
import Synchronization
import Testing

/// Broker outages, rebalances and store failures.
@Suite struct ResilienceTests {
    @Test func brokerOutageRecoversAndDrainsWithoutLoss() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic("pepper", partitions: 2)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let first = (Int64(1)...60).map { record(.pepper, $0) }
                let second = (Int64(1)...60).map { record(.pepper, $0, revision: 1) } + (Int64(61)...90).map { record(.pepper, $0) }
                try await produce(first, cluster: cluster)
                let running = try startPipeline(
                    cluster: cluster, store: store, source: .assign(partitions("pepper", 2), from: .committed))
                #expect(await eventually { running.pipeline.progress.messages == first.count })

                try cluster.setBrokerDown()
                // Produce while the broker is away: the producer queues and delivers after recovery.
                let producer = try KafkaProducer(configuration: kafkaConfig(cluster), logger: quietLogger)
                try await producer.send(
                    second.enumerated().map { i, r in KafkaProducerRecord(topic: "pepper", partition: Int32(i % 2), value: limsValue(r)) })
                try await Task.sleep(for: .seconds(4))
                try cluster.setBrokerUp()
                try await producer.flush(timeout: .seconds(60))
                await producer.close()

                let done = await eventually(timeout: .seconds(90)) {
                    running.pipeline.committedOffsets.values.reduce(0, +) == Int64(first.count + second.count)
                }
                try await running.stop()
                #expect(done)
                #expect(try await storeMatches(store, (first + second).map { Change.upsert($0) }))
            }
        }
    }

    @Test func secondConsumerJoiningMidStreamLosesNothingAndNeverRegresses() async throws {
        try await withStore { store in
            try await withCluster { cluster in
                try cluster.createTopic("potato", partitions: 4)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let group = "rebalance-group"
                let settings = StreamSyncSettings(topics: ["potato"], batchMaxSize: 20, batchMaxWait: .milliseconds(50))
                // librdkafka 2.0.2 + mock coordinator: an offset commit in flight when a member joins can
                // stall the rebalance until the session times out (45 s by default); a short session keeps
                // the test quick. Correctness does not depend on it.
                let session = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
                // Ten revisions of 30 ids, produced revision by revision while consumers come and go.
                let revisions = (0..<10).map { rev in (Int64(1)...30).map { record(.potato, $0, revision: rev) } }
                let a = try startPipeline(
                    cluster: cluster, store: store, source: .subscribe(["potato"]), group: group, settings: settings,
                    properties: session)
                try await produce(revisions[0] + revisions[1] + revisions[2], cluster: cluster, partitions: 4)
                #expect(await eventually { a.pipeline.progress.messages >= 30 })

                let b = try startPipeline(
                    cluster: cluster, store: store, source: .subscribe(["potato"]), group: group, settings: settings,
                    properties: session)
                for rev in 3..<10 {
                    try await produce(revisions[rev], cluster: cluster, partitions: 4)
                    try await Task.sleep(for: .milliseconds(300))
                }
                let total = Int64(revisions.count * 30)
                let done = await eventually(timeout: .seconds(90)) {
                    let merged = a.pipeline.committedOffsets.merging(b.pipeline.committedOffsets) { max($0, $1) }
                    return merged.values.reduce(0, +) == total && b.pipeline.progress.messages > 0
                }
                #expect(b.pipeline.hasAssignment)
                try await b.stop()
                try await a.stop()
                #expect(done)
                // The last revision of every id is what the store holds: nothing lost, no older-over-newer.
                #expect(try await storeMatches(store, revisions.flatMap { $0 }.map { Change.upsert($0) }))
                #expect(a.pipeline.progress.messages + b.pipeline.progress.messages >= Int(total))
            }
        }
    }

    @Test func transientStoreErrorsAreRetriedThenApplied() async throws {
        try await withStore { real in
            try await withCluster { cluster in
                try cluster.createTopic("tomato", partitions: 1)
                try cluster.createTopic("plantsync.deadletter", partitions: 1)
                let records = (Int64(1)...20).map { record(.tomato, $0) }
                try await produce(records, cluster: cluster, partitions: 1)
                let flaky = FlakyStore(real, failures: 3, transient: true)
                let metrics = StreamMetrics()
                var settings = StreamSyncSettings(batchMaxSize: 100, batchMaxWait: .milliseconds(50))
                settings.retryInitialDelay = .milliseconds(10)
                let running = try startPipeline(
                    cluster: cluster, store: flaky, source: .assign(partitions("tomato", 1), from: .committed), settings: settings,
                    metrics: metrics)
                let done = await eventually { running.pipeline.committedOffsets.values.reduce(0, +) == 20 }
                try await running.stop()
                #expect(done)
                #expect(flaky.calls >= 4)
                #expect(try await storeMatches(real, records.map { Change.upsert($0) }))
                #expect(metrics.exposition().contains(#"plantsync_store_retries_total{job="streamsync"} 3"#))
            }
        }
    }

    @Test func permanentStoreErrorStopsWithoutCommitting() async throws {
        try await withStore { real in
            try await withCluster { cluster in
                try cluster.createTopic("tomato", partitions: 1)
                try await produce([record(.tomato, 1)], cluster: cluster, partitions: 1)
                let broken = FlakyStore(real, failures: .max, transient: false)
                let running = try startPipeline(cluster: cluster, store: broken, source: .assign(partitions("tomato", 1), from: .committed))
                do {
                    try await running.task.value
                    Issue.record("the pipeline kept running after a permanent store error")
                } catch let error as StreamSyncError {
                    guard case .permanentStoreFailure(let message) = error else {
                        Issue.record("unexpected error \(error)")
                        return
                    }
                    #expect(message.contains("injected"))
                }
                #expect(running.pipeline.committedOffsets.isEmpty)
            }
        }
    }
}

/// A store whose first `failures` applies fail (transient or permanent), then delegates.
final class FlakyStore: DelegatingConsumerStore, Sendable {
    struct Injected: StoreError {
        let isTransient: Bool
        var description: String { "injected \(isTransient ? "transient" : "permanent") failure" }
    }

    let base: any ConsumerStore
    let transient: Bool
    private let state: Mutex<(failures: Int, calls: Int)>

    init(_ base: any ConsumerStore, failures: Int, transient: Bool) {
        self.base = base
        self.transient = transient
        self.state = Mutex((failures, 0))
    }

    var calls: Int { state.withLock { $0.calls } }

    func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        let fail = state.withLock { s -> Bool in
            s.calls += 1
            guard s.failures > 0 else { return false }
            s.failures -= 1
            return true
        }
        if fail { throw Injected(isTransient: transient) }
        return try await base.apply(changes)
    }
}
