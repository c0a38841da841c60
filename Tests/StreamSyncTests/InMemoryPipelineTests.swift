import Kafka
import StreamSyncCore
import SyncModel
import Testing

/// The pipeline's logic — batching, commit order, retry, drain, revocation, dead letters — against the
/// in-memory seams of InMemorySeams.swift: no broker, no database.
@Suite struct InMemoryPipelineTests {
    static let topic = "potato"
    static let tp = TopicPartition(topic: topic, partition: 0)

    /// Message `offset` on partition 0 of `potato`: a LIMS record of id `offset + 1`, or a poison value.
    static func message(_ offset: Int64, poison: Bool = false, partition: Int32 = 0) -> KafkaConsumerEvent {
        let value = poison ? Array("{not json".utf8) : limsValue(record(.potato, offset + 1))
        return .message(
            KafkaMessage(
                topic: topic, partition: partition, offset: offset, key: Array(String(offset + 1).utf8), value: value,
                timestampMillis: 1_700_000_000_000))
    }

    struct Rig {
        let log = SeamLog()
        let source: ScriptedEventSource
        let sink: RecordingDeadLetterSink
        let database: InMemoryDatabase
        let pipeline: StreamPipeline
        let task: Task<Void, any Error>

        init(
            events: [KafkaConsumerEvent], settings: StreamSyncSettings, connections: Int = 1,
            database: InMemoryDatabase = InMemoryDatabase(), sinkFailures: Int = 0, commitFailures: Int = 0,
            gates: [Int: Gate] = [:]
        ) {
            source = ScriptedEventSource(log: log, events: events, commitFailures: commitFailures)
            sink = RecordingDeadLetterSink(log: log, failures: sinkFailures)
            self.database = database
            let log = self.log
            let stores = (0..<connections).map { c in
                InMemoryApplier(database: database, connection: c, log: log, gate: gates[c])
            }
            let pipeline = StreamPipeline(
                settings: settings, events: source, deadLetters: sink, stores: stores,
                subscription: .assign([InMemoryPipelineTests.tp], from: .beginning), metrics: StreamMetrics(),
                logger: quietLogger)
            self.pipeline = pipeline
            task = Task { try await pipeline.run() }
        }

        /// Waits until everything queued was read and `offset` committed, then drains and stops.
        func finish(committing offset: Int64) async throws {
            let done = await eventually(timeout: .seconds(120)) {
                source.pending == 0 && pipeline.committedOffsets[InMemoryPipelineTests.tp] == offset
            }
            #expect(done, "offset \(offset) committed; log: \(log.all)")
            pipeline.stop()
            try await task.value
        }
    }

    static func settings(batch: Int, waitMs: Int = 5) -> StreamSyncSettings {
        StreamSyncSettings(
            topics: [topic], batchMaxSize: batch, batchMaxWait: .milliseconds(waitMs), retryInitialDelay: .milliseconds(1),
            retryMaxDelay: .milliseconds(100))
    }

    @Test func batchesCloseAtTheSizeLimitAndEachIsCommittedAfterItIsApplied() async throws {
        let rig = Rig(events: (0..<10).map { Self.message($0) }, settings: Self.settings(batch: 4, waitMs: 600_000))
        // With one connection the second batch is in flight while the third is open: the first is committed.
        let read = await eventually(timeout: .seconds(120)) {
            rig.source.pending == 0 && rig.pipeline.committedOffsets[Self.tp] == 4
        }
        #expect(read, "log: \(rig.log.all)")
        rig.pipeline.stop()
        try await rig.task.value
        #expect(rig.pipeline.committedOffsets[Self.tp] == 10)
        let applied = rig.log.all.compactMap { event -> Int? in
            if case .applied(_, let keys) = event { return keys.count } else { return nil }
        }
        // 4 + 4 by size; the last 2 by the drain at stop (the 600 s wait never expires).
        #expect(applied == [4, 4, 2])
        #expect(rig.database.rows.count == 10)
        // Every commit follows the apply that made its offsets durable: the n-th commit covers at most
        // the messages applied before it.
        var appliedSoFar = 0
        for event in rig.log.all {
            switch event {
            case .applied(_, let keys): appliedSoFar += keys.count
            case .committed(let offsets): #expect(offsets[Self.tp]! <= Int64(appliedSoFar))
            default: break
            }
        }
        #expect(rig.pipeline.progress.batches == 3)
        #expect(rig.source.isClosed)
    }

    /// A batch holding several plants goes to the store in one call (one transaction), and the
    /// per-plant counts come from that call's outcome.
    @Test func aBatchOfSeveralPlantsIsOneStoreCall() async throws {
        func message(_ plant: Plant, _ offset: Int64) -> KafkaConsumerEvent {
            .message(
                KafkaMessage(
                    topic: plant.rawValue, partition: 0, offset: offset, key: nil, value: limsValue(record(plant, offset + 1)),
                    timestampMillis: 1_700_000_000_000))
        }
        let events = [message(.tomato, 0), message(.pepper, 0), message(.tomato, 1)] + (0..<3).map { Self.message($0) }
        let rig = Rig(events: events, settings: Self.settings(batch: 6, waitMs: 600_000))
        try await rig.finish(committing: 3)
        #expect(rig.database.applyCalls == [6])
        #expect(rig.pipeline.progress.applied == 6)
        #expect(Set(rig.database.rows.keys.map(\.plant)) == [.potato, .tomato, .pepper])
    }

    @Test func aBatchClosesAfterItsWaitWithoutReachingItsSize() async throws {
        let rig = Rig(events: (0..<3).map { Self.message($0) }, settings: Self.settings(batch: 1000, waitMs: 5))
        let closedByWait = await eventually(timeout: .seconds(120)) { rig.pipeline.committedOffsets[Self.tp] == 3 }
        #expect(closedByWait, "the batch of 3 < 1000 is applied and committed while the pipeline runs")
        try await rig.finish(committing: 3)
        #expect(rig.database.rows.count == 3)
    }

    @Test func poisonMessagesAreDeadLetteredBeforeTheirOffsetsAreCommitted() async throws {
        let events = [Self.message(0), Self.message(1, poison: true), Self.message(2), Self.message(3, poison: true)]
        let rig = Rig(events: events, settings: Self.settings(batch: 10), sinkFailures: 2)
        try await rig.finish(committing: 4)
        #expect(rig.database.rows.count == 2)
        #expect(rig.sink.records.count == 2)
        let offsets = rig.sink.records.map { $0.headers.last { $0.name == DeadLetter.offsetHeader }?.text }
        #expect(offsets == ["1", "3"])
        #expect(rig.sink.records.allSatisfy { $0.topic == "plantsync.deadletter" && $0.value == Array("{not json".utf8) })
        // The two failed deliveries were retried; no commit happened before the dead letters were delivered.
        let firstDelivery = rig.log.all.firstIndex { if case .deadLettered = $0 { true } else { false } }
        let firstCommit = rig.log.all.firstIndex { if case .committed = $0 { true } else { false } }
        #expect(firstDelivery != nil && firstCommit != nil && firstDelivery! < firstCommit!)
        #expect(rig.pipeline.progress.deadLettered == 2)
    }

    @Test func transientStoreErrorsAreRetriedAndNothingIsCommittedMeanwhile() async throws {
        let database = InMemoryDatabase(transientFailures: 3)
        let rig = Rig(events: (0..<5).map { Self.message($0) }, settings: Self.settings(batch: 5), database: database)
        try await rig.finish(committing: 5)
        #expect(database.attempts == 4, "three failures, then the apply that succeeded")
        #expect(database.rows.count == 5)
        #expect(rig.log.commits.allSatisfy { $0[Self.tp] == 5 })
    }

    @Test func aPermanentStoreErrorStopsThePipelineWithoutCommitting() async throws {
        let database = InMemoryDatabase(permanentFailure: true)
        let rig = Rig(events: (0..<5).map { Self.message($0) }, settings: Self.settings(batch: 5), database: database)
        await #expect(throws: StreamSyncError.self) { try await rig.task.value }
        #expect(database.attempts == 1, "a permanent error is not retried")
        #expect(rig.log.commits.isEmpty)
        #expect(rig.source.isClosed)
    }

    @Test func offsetsAreCommittedInReadOrderWhileBatchesOverlapOnSeveralConnections() async throws {
        // Batch 0 (connection 0) is held in the database; batches 1 and 2 (connections 1, 2) complete.
        let gate = Gate()
        let rig = Rig(
            events: (0..<6).map { Self.message($0) }, settings: Self.settings(batch: 2), connections: 3, gates: [0: gate])
        let othersDone = await eventually(timeout: .seconds(120)) {
            rig.log.all.filter { if case .applied = $0 { true } else { false } }.count == 2 && gate.arrived == 1
        }
        #expect(othersDone, "log: \(rig.log.all)")
        #expect(rig.log.commits.isEmpty, "nothing is committed while the first batch is not durable")
        gate.open()
        try await rig.finish(committing: 6)
        let committed = rig.log.commits.map { $0[Self.tp]! }
        #expect(committed == committed.sorted(), "commits only move forward")
        #expect(committed.first! >= 2)
    }

    @Test func aRevocationIsAcknowledgedOnlyAfterWhatWasReadIsAppliedAndCommitted() async throws {
        let revocation = KafkaRevocation(partitions: [Self.tp], lost: false)
        let events = (0..<3).map { Self.message($0) } + [.partitionsRevoked(revocation)]
        let rig = Rig(events: events, settings: Self.settings(batch: 100, waitMs: 10_000))
        // The batch's 10 s wait never expires: only the revocation makes the pipeline apply and commit.
        let acknowledged = await eventually(timeout: .seconds(120)) { revocation.isAcknowledged }
        #expect(acknowledged)
        // By the time the partition is let go, its messages are applied and committed.
        #expect(rig.log.commits.last?[Self.tp] == 3, "log: \(rig.log.all)")
        try await rig.finish(committing: 3)
        let applyIndex = rig.log.all.firstIndex { if case .applied = $0 { true } else { false } }
        let commitIndex = rig.log.all.firstIndex { if case .committed = $0 { true } else { false } }
        #expect(applyIndex! < commitIndex!)
    }

    @Test func aFailedCommitIsRetriedWithTheNextOne() async throws {
        let rig = Rig(events: (0..<4).map { Self.message($0) }, settings: Self.settings(batch: 2), commitFailures: 1)
        try await rig.finish(committing: 4)
        #expect(rig.database.rows.count == 4)
        #expect(rig.log.commits.last?[Self.tp] == 4)
    }

    @Test func stoppingDrainsTheOpenBatch() async throws {
        let rig = Rig(events: (0..<7).map { Self.message($0) }, settings: Self.settings(batch: 1000, waitMs: 600_000))
        let read = await eventually(timeout: .seconds(120)) { rig.source.pending == 0 }
        #expect(read)
        #expect(rig.log.commits.isEmpty, "the batch is still open")
        rig.pipeline.stop()
        try await rig.task.value
        #expect(rig.database.rows.count == 7)
        #expect(rig.log.commits.last?[Self.tp] == 7)
    }

    @Test func replaysAndDuplicatesAreStaleNoOps() async throws {
        let events = (0..<4).map { Self.message($0) } + (0..<4).map { Self.message($0) }
        let rig = Rig(
            events: events.enumerated().map { i, e in
                guard case .message(var m) = e else { return e }
                m.offset = Int64(i)
                return .message(m)
            }, settings: Self.settings(batch: 3))
        try await rig.finish(committing: 8)
        #expect(rig.database.rows.count == 4)
        #expect(rig.pipeline.progress.applied == 4)
        #expect(rig.pipeline.progress.skippedStale == 4)
    }
}
