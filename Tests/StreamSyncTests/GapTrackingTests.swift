import Foundation
import Kafka
import StreamSyncCore
import SyncModel
import Synchronization
import Testing

/// Gap detection and healing logic against in-memory seams (docs/design.md §8).
@Suite struct GapTrackingTests {
    static let tp = InMemoryPipelineTests.tp

    // MARK: Where an out-of-range partition goes, and what it skips

    @Test func outOfRangeRules() {
        let marks = KafkaWatermarks(low: 100, high: 250)
        typealias R = OutOfRangeRule
        // Below the log start: retention; the gap reaches where reading resumes.
        #expect(R.resolve(failed: 40, marks: marks, reset: .earliest) == .init(target: 100, first: 40, end: 100, reason: .retention))
        #expect(R.resolve(failed: 40, marks: marks, reset: .latest) == .init(target: 250, first: 40, end: 250, reason: .retention))
        // Past the end: a recreated topic, the loss unknown.
        #expect(R.resolve(failed: 900, marks: marks, reset: .earliest) == .init(target: 100, first: 900, end: nil, reason: .logTruncated))
        // No committed offset: from 0 to where reading starts.
        #expect(R.resolve(failed: nil, marks: marks, reset: .latest) == .init(target: 250, first: 0, end: 250, reason: .startedAtLatest))
        #expect(R.resolve(failed: nil, marks: marks, reset: .earliest) == .init(target: 100, first: 0, end: 100, reason: .retention))
        #expect(R.resolve(failed: nil, marks: KafkaWatermarks(low: 0, high: 9), reset: .earliest) == .init(target: 0))
        // Inside the log after all (a leader moved): resume there, nothing lost.
        #expect(R.resolve(failed: 180, marks: marks, reset: .earliest) == .init(target: 180))
        // --auto-offset-reset error: stay stopped.
        #expect(R.resolve(failed: 40, marks: marks, reset: .error) == .init(target: nil))
    }

    // MARK: The pipeline

    struct Rig {
        let log = SeamLog()
        let source: ScriptedEventSource
        let ledger: InMemoryGapLedger
        let pipeline: StreamPipeline
        let task: Task<Void, any Error>

        init(events: [KafkaConsumerEvent], group: String? = "g", positions: [StreamPartition: Int64] = [:], ledgerFailures: Int = 0) {
            source = ScriptedEventSource(log: log, events: [])
            ledger = InMemoryGapLedger(log: log, positions: group.map { [$0: positions] } ?? [:], failures: ledgerFailures)
            let database = InMemoryDatabase()
            let pipeline = StreamPipeline(
                settings: InMemoryPipelineTests.settings(batch: 3), events: source, deadLetters: RecordingDeadLetterSink(log: log, failures: 0),
                stores: [InMemoryApplier(database: database, connection: 0, log: log)],
                subscription: .subscribe([InMemoryPipelineTests.topic]), metrics: StreamMetrics(), logger: quietLogger,
                gapDetection: GapDetection(ledger: ledger, group: group, reset: .earliest))
            self.pipeline = pipeline
            task = Task { try await pipeline.run() }
            source.push(events)
        }

        func finish(committing offset: Int64) async throws {
            let done = await eventually(timeout: .seconds(120)) {
                source.pending == 0 && pipeline.committedOffsets[GapTrackingTests.tp] == offset
            }
            #expect(done, "log: \(log.all)")
            pipeline.stop()
            try await task.value
        }
    }

    /// A dead-lettered event of a valid key is a key gap, in the ledger before its batch is committed.
    @Test func aDeadLetterIsAKeyGapRecordedBeforeTheCommit() async throws {
        let rig = Rig(events: [
            InMemoryPipelineTests.message(0), InMemoryPipelineTests.message(1, poison: true), InMemoryPipelineTests.message(2),
        ])
        try await rig.finish(committing: 3)
        let gaps = rig.log.gaps
        #expect(gaps.count == 1)
        #expect(gaps.first?.reason == .deadLetter && gaps.first?.recordID == 2 && gaps.first?.firstOffset == 1)
        #expect(gaps.first?.endOffset == 2 && gaps.first?.plant == .potato)
        let all = rig.log.all
        let recordedAt = all.firstIndex { if case .gapsRecorded = $0 { return true } else { return false } }
        let committedAt = all.firstIndex { if case .committed = $0 { return true } else { return false } }
        #expect(recordedAt != nil && committedAt != nil && recordedAt! < committedAt!, "\(all)")
        // The positions are recorded before each commit too.
        let positionsAt = all.firstIndex { if case .positionsRecorded = $0 { return true } else { return false } }
        #expect(positionsAt != nil && positionsAt! < committedAt!)
    }

    /// A dead letter whose key cannot be told is a gap of its offset, healed by the whole plant.
    @Test func aDeadLetterWithoutAKeyIsAnOffsetGap() async throws {
        let poison = KafkaConsumerEvent.message(
            KafkaMessage(topic: InMemoryPipelineTests.topic, partition: 0, offset: 0, key: nil, value: Array("{not json".utf8)))
        let rig = Rig(events: [poison])
        try await rig.finish(committing: 1)
        #expect(rig.log.gaps.map(\.recordID) == [nil])
        #expect(rig.log.gaps.map(\.reason) == [.deadLetter])
    }

    /// The ledger down: nothing is committed until the gap is durable.
    @Test func noCommitPassesAGapTheLedgerHasNotTaken() async throws {
        let rig = Rig(events: [InMemoryPipelineTests.message(0, poison: true)], ledgerFailures: 2)
        try await rig.finish(committing: 1)
        let all = rig.log.all
        let recordedAt = all.firstIndex { if case .gapsRecorded = $0 { return true } else { return false } }
        let committedAt = all.firstIndex { if case .committed = $0 { return true } else { return false } }
        #expect(recordedAt != nil && committedAt != nil && recordedAt! < committedAt!, "\(all)")
    }

    /// An out-of-range partition: the skipped range is recorded, then the partition seeks.
    @Test func anOutOfRangePartitionIsRecordedThenSought() async throws {
        let rig = Rig(events: [])
        rig.source.setBroker(watermarks: [Self.tp: KafkaWatermarks(low: 40, high: 90)])
        rig.source.push([.offsetOutOfRange(Self.tp, offset: 12, detail: "test"), InMemoryPipelineTests.message(40)])
        try await rig.finish(committing: 41)
        #expect(rig.source.seeks == [[Self.tp: 40]])
        #expect(rig.log.gaps.map { [$0.firstOffset, $0.endOffset] } == [[12, 40]])
        let all = rig.log.all
        let recordedAt = all.firstIndex { if case .gapsRecorded = $0 { return true } else { return false } }
        let soughtAt = all.firstIndex { if case .sought = $0 { return true } else { return false } }
        #expect(recordedAt! < soughtAt!)
    }

    /// The catch-up target is set before the gap is recorded: a healer that finds the gap in the ledger
    /// also finds the stream not yet caught up with what survived in the log, until that is committed.
    @Test func anOutOfRangeGapIsNotCaughtUpFromTheMomentItIsRecorded() async throws {
        let rig = Rig(events: [])
        let pipeline = rig.pipeline
        let seen = Mutex<[Bool]>([])
        rig.ledger.onRecord.withLock { hook in
            hook = { gaps in
                let caughtUp = gaps.map { pipeline.hasCaughtUp(after: $0) }
                seen.withLock { $0 += caughtUp }
            }
        }
        rig.source.setBroker(watermarks: [Self.tp: KafkaWatermarks(low: 40, high: 42)])
        rig.source.push([
            .offsetOutOfRange(Self.tp, offset: 12, detail: "test"), InMemoryPipelineTests.message(40), InMemoryPipelineTests.message(41),
        ])
        try await rig.finish(committing: 42)
        #expect(seen.withLock { $0 } == [false])
        #expect(rig.log.gaps.count == 1 && rig.pipeline.hasCaughtUp(after: rig.log.gaps[0]))
    }

    /// On assignment: a committed offset beyond the recorded position is an operator's reset; one at or
    /// below it (a replay) is not.
    @Test(arguments: [(Int64(7), true), (5, false), (3, false)])
    func aCommittedOffsetBeyondThePositionIsAReset(committed: Int64, isGap: Bool) async throws {
        let rig = Rig(events: [], positions: [StreamPartition(topic: Self.tp.topic, partition: 0): 5])
        rig.source.setBroker(committed: [Self.tp: committed], watermarks: [:])
        rig.source.push([.partitionsAssigned([Self.tp]), InMemoryPipelineTests.message(committed)])
        try await rig.finish(committing: committed + 1)
        #expect(rig.log.gaps.map { [$0.firstOffset, $0.endOffset] } == (isGap ? [[5, 7]] : []))
        #expect(rig.log.gaps.allSatisfy { $0.reason == .offsetReset })
    }

    // MARK: Healing

    final class ScriptedRepair: GapRepairing {
        let calls = Mutex<[(Plant, [Int64]?)]>([])
        let failures = Mutex(0)
        init(failures: Int = 0) { self.failures.withLock { $0 = failures } }

        func repair(_ plant: Plant, keys: [Int64]?) async throws -> GapRepairReport {
            calls.withLock { $0.append((plant, keys)) }
            let fail = failures.withLock { f -> Bool in
                defer { f = max(0, f - 1) }
                return f > 0
            }
            if fail { throw InjectedStoreError(isTransient: true) }
            return GapRepairReport(differences: 1, rowsWritten: 1, bytes: 10, seconds: 0)
        }
    }

    static func gap(_ plant: Plant, key: Int64? = nil, reason: GapReason, ageSeconds: Int64 = 5) -> StreamGap {
        StreamGap(
            plant: plant, partition: StreamPartition(topic: plant.rawValue, partition: 0), firstOffset: 1, endOffset: 2, recordID: key,
            reason: reason, detectedAt: Timestamp(microsecondsSinceEpoch: Timestamp.now.microsecondsSinceEpoch - ageSeconds * 1_000_000))
    }

    @Test func keyGapsAreRepairedByTheirKeysAndOffsetGapsByThePlant() async throws {
        let ledger = InMemoryGapLedger(log: SeamLog())
        try await ledger.recordGaps([
            Self.gap(.potato, key: 4, reason: .deadLetter), Self.gap(.potato, key: 9, reason: .deadLetter),
            Self.gap(.tomato, key: 1, reason: .deadLetter), Self.gap(.tomato, reason: .retention),
        ])
        let repair = ScriptedRepair()
        let metrics = StreamMetrics()
        let healer = GapHealer(ledger: ledger, repairer: repair, metrics: metrics, logger: quietLogger)
        await healer.tick()
        let calls = repair.calls.withLock { $0 }
        #expect(calls.map(\.0) == [.potato, .tomato])
        #expect(calls.first?.1 == [4, 9] && calls.last?.1 == nil)
        #expect(try await ledger.openGaps().isEmpty)
        #expect(healer.status.healed == 4 && healer.status.open.isEmpty)
        #expect(metrics.exposition().contains("plantsync_stream_gaps_open{job=\"streamsync\",plant=\"potato\"} 0"))
    }

    @Test func aFailingRepairLeavesTheGapsOpenAndBacksOff() async throws {
        let ledger = InMemoryGapLedger(log: SeamLog())
        try await ledger.recordGaps([Self.gap(.pepper, reason: .retention)])
        let repair = ScriptedRepair(failures: 1)
        let healer = GapHealer(
            ledger: ledger, repairer: repair, metrics: StreamMetrics(), logger: quietLogger,
            backoff: Backoff(initial: .seconds(3600), cap: .seconds(3600)))
        await healer.tick()
        await healer.tick()  // backing off: no second attempt
        #expect(repair.calls.withLock { $0.count } == 1)
        #expect(try await ledger.openGaps().count == 1)
        #expect(healer.status.lastError?.contains("heal pepper") == true)
    }

    /// An offset gap's reconcile waits until the stream has applied what survived in the log (else it
    /// would fetch those keys too); a key gap does not wait; past the limit, a stuck stream heals anyway.
    @Test func anOffsetGapWaitsForTheStreamToCatchUp() async throws {
        let ledger = InMemoryGapLedger(log: SeamLog())
        try await ledger.recordGaps([Self.gap(.potato, reason: .retention, ageSeconds: 1), Self.gap(.tomato, key: 3, reason: .deadLetter)])
        let caughtUp = Mutex(false)
        let repair = ScriptedRepair()
        let healer = GapHealer(
            ledger: ledger, repairer: repair, metrics: StreamMetrics(), logger: quietLogger,
            streamCaughtUp: { _ in caughtUp.withLock { $0 } })
        await healer.tick()
        #expect(repair.calls.withLock { $0.map(\.0) } == [.tomato], "the key gap heals, the offset gap waits")
        caughtUp.withLock { $0 = true }
        await healer.tick()
        #expect(repair.calls.withLock { $0.map(\.0) } == [.tomato, .potato])
        #expect(try await ledger.openGaps().isEmpty)

        let stuck = InMemoryGapLedger(log: SeamLog())
        try await stuck.recordGaps([Self.gap(.pepper, reason: .retention, ageSeconds: 120)])
        let patient = ScriptedRepair()
        let limited = GapHealer(
            ledger: stuck, repairer: patient, metrics: StreamMetrics(), logger: quietLogger, streamCaughtUp: { _ in false },
            catchUpLimit: .seconds(60))
        await limited.tick()
        #expect(patient.calls.withLock { $0.count } == 1, "detected 120 s ago: past the limit")
    }

    /// Without a producer the healer only reports: the gaps wait for BatchSync.
    @Test func withoutAProducerGapsAreReportedNotHealed() async throws {
        let ledger = InMemoryGapLedger(log: SeamLog())
        try await ledger.recordGaps([Self.gap(.pepper, reason: .offsetReset, ageSeconds: 30)])
        let metrics = StreamMetrics()
        let healer = GapHealer(ledger: ledger, repairer: nil, metrics: metrics, logger: quietLogger)
        await healer.tick()
        #expect(healer.status.open.count == 1 && !healer.status.healing)
        let text = metrics.exposition()
        #expect(text.contains("plantsync_stream_gaps_open{job=\"streamsync\",plant=\"pepper\"} 1"))
        let status = StreamSyncHTTP.statusJSON(healer.status, ready: true)
        #expect(status.contains("\"open_gaps\":1") && status.contains("\"healing\":\"batchsync\""), "\(status)")
        #expect(status.contains("\"reason\":\"offset-reset\""))
    }
}
