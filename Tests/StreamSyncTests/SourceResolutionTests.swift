import Foundation
import Kafka
import StreamSyncCore
import SyncModel
import TestSupport
import Testing

/// Changes that name their record by the producer's `_id` only (docs/design.md §2, "Changes by `_id`"):
/// a MongoDB change stream's deletes and updates without `fullDocument`, resolved by the pipeline
/// against a cache of recent `_id`s, else the store once the batches before them are applied.
/// Payloads: https://www.mongodb.com/docs/manual/reference/change-events/ (canonical Extended JSON).
@Suite struct SourceResolutionTests {
    static let tp = InMemoryPipelineTests.tp

    typealias Events = MongoChangeStreamEvents

    static func event(_ offset: Int64, _ body: String) -> KafkaConsumerEvent {
        .message(
            KafkaMessage(
                topic: InMemoryPipelineTests.topic, partition: 0, offset: offset, key: Array(Events.key.utf8), value: Array(body.utf8),
                timestampMillis: 1_700_000_000_000))
    }

    static func insert(_ offset: Int64, _ r: ImageRecord) -> KafkaConsumerEvent { event(offset, Events.insert(r)) }

    static let wallMillis: Int64 = 1_700_000_000_123

    static func delete(_ offset: Int64, _ id: Int64) -> KafkaConsumerEvent {
        event(offset, Events.delete(.potato, id: id, wallMillis: wallMillis))
    }

    /// An update without `fullDocument`: only `updateDescription`.
    static func patch(_ offset: Int64, _ id: Int64, updated: String, removed: [String] = []) -> KafkaConsumerEvent {
        event(offset, Events.patch(.potato, id: id, updated: updated, removed: removed, wallMillis: wallMillis))
    }

    /// The delete time the decoder gives a change stream delete: the end of its `wallTime` millisecond.
    static let deletedAt = Events.deleteTime(wallMillis: wallMillis)

    static func date(_ ts: Timestamp) -> String { Events.date(ts) }

    static func withSourceID(_ r: ImageRecord) -> ImageRecord {
        var r = r
        r.sourceID = Events.sourceID(r.id)
        return r
    }

    struct Rig {
        let log = SeamLog()
        let source: ScriptedEventSource
        let sink: RecordingDeadLetterSink
        let database: InMemoryDatabase
        let pipeline: StreamPipeline
        let task: Task<Void, any Error>

        init(events: [KafkaConsumerEvent], preloaded: [Change] = [], gapDetection: Bool = true, batch: Int = 100) {
            source = ScriptedEventSource(log: log, events: [])
            sink = RecordingDeadLetterSink(log: log, failures: 0)
            database = InMemoryDatabase()
            database.preload(preloaded)
            let log = self.log
            let pipeline = StreamPipeline(
                settings: InMemoryPipelineTests.settings(batch: batch, waitMs: 600_000), events: source, deadLetters: sink,
                stores: [InMemoryApplier(database: database, connection: 0, log: log)],
                subscription: .subscribe([InMemoryPipelineTests.topic]), metrics: StreamMetrics(), logger: quietLogger,
                gapDetection: gapDetection ? GapDetection(ledger: InMemoryGapLedger(log: log), group: "g", reset: .earliest) : nil,
                sources: InMemorySourceRecords(database: database, log: log))
            self.pipeline = pipeline
            task = Task { try await pipeline.run() }
            source.push(events)
        }

        /// Waits until every event is read, then stops (which drains the open batch) and checks the commit.
        func finish(committing offset: Int64) async throws {
            let read = await eventually(timeout: .seconds(120)) { source.pending == 0 }
            #expect(read, "log: \(log.all)")
            pipeline.stop()
            try await task.value
            #expect(pipeline.committedOffsets[SourceResolutionTests.tp] == offset, "log: \(log.all)")
        }

        var lookups: [String] { log.all.compactMap { if case .lookedUp(let what) = $0 { return what } else { return nil } } }
    }

    /// A delete by `_id` of a record created in the same batch resolves from the cache: no store read,
    /// and it is applied in that batch.
    @Test func aDeleteByIDOfARecordJustCreatedResolvesWithoutTheStore() async throws {
        let created = Self.withSourceID(record(.potato, 1))
        let rig = Rig(events: [Self.insert(0, created), Self.delete(1, 1)])
        try await rig.finish(committing: 2)
        #expect(rig.lookups.isEmpty, "\(rig.log.all)")
        #expect(rig.database.rows[created.key] == .delete(created.key, at: Self.deletedAt))
        #expect(rig.log.gaps.isEmpty && rig.sink.records.isEmpty)
    }

    /// A delete by `_id` the cache does not know waits for the batches before it, then asks the store.
    @Test func aDeleteByIDOfAnOlderRecordIsResolvedByTheStoreAfterTheBatchesBeforeIt() async throws {
        let old = Self.withSourceID(record(.potato, 7))
        let rig = Rig(events: [InMemoryPipelineTests.message(0), Self.delete(1, 7)], preloaded: [.upsert(old)])
        try await rig.finish(committing: 2)
        #expect(rig.database.rows[old.key] == .delete(old.key, at: Self.deletedAt))
        let all = rig.log.all
        let firstApply = all.firstIndex { if case .applied = $0 { return true } else { return false } }
        let lookup = all.firstIndex { if case .lookedUp = $0 { return true } else { return false } }
        #expect(firstApply != nil && lookup != nil && firstApply! < lookup!, "the event before it is applied first: \(all)")
        #expect(rig.log.gaps.isEmpty && rig.sink.records.isEmpty)
    }

    /// An `_id` the consumer never saw is a gap of its plant (healing reconciles it), not a dead letter;
    /// without gap detection it is dead-lettered with kind `unknown-source-id`. Its offset is committed.
    @Test(arguments: [true, false])
    func anUnknownIDIsAGapOrADeadLetter(gapDetection: Bool) async throws {
        let rig = Rig(events: [Self.delete(0, 99), InMemoryPipelineTests.message(1)], gapDetection: gapDetection)
        try await rig.finish(committing: 2)
        if gapDetection {
            let gaps = rig.log.gaps
            #expect(gaps.count == 1 && rig.sink.records.isEmpty)
            #expect(gaps.first?.reason == .unknownSourceID && gaps.first?.recordID == nil && gaps.first?.plant == .potato)
            #expect(gaps.first?.firstOffset == 0 && gaps.first?.endOffset == 1)
        } else {
            #expect(rig.sink.records.count == 1)
            let kind = rig.sink.records.first?.headers.last { $0.name == DeadLetter.kindHeader }?.text
            #expect(kind == "unknown-source-id")
        }
        #expect(rig.database.rows.count == 1)  // the LIMS event after it
    }

    /// An update without `fullDocument` sets its fields on the stored record, keeps the stored bytes, and
    /// takes its version from the new `updated_at`; a removed field becomes null.
    @Test func aPatchUpdatesTheStoredRecordUnderTheVersionRule() async throws {
        var stored = Self.withSourceID(record(.potato, 3, revision: 1))
        stored.disease = "Early Blight"
        let updatedAt = Timestamp(microsecondsSinceEpoch: stored.updatedAt!.microsecondsSinceEpoch + 60_000_000)
        let stale = Timestamp(microsecondsSinceEpoch: stored.createdAt.microsecondsSinceEpoch + 1_000)
        let rig = Rig(
            events: [
                Self.patch(0, 3, updated: #""disease": "Healthy", "is_active": false, "updated_at": \#(Self.date(updatedAt))"#, removed: ["percentage"]),
                // An older patch (a replay): loses under the version rule.
                Self.patch(1, 3, updated: #""disease": "Old", "updated_at": \#(Self.date(stale))"#),
            ],
            preloaded: [.upsert(stored)])
        try await rig.finish(committing: 2)
        var expected = stored
        expected.disease = "Healthy"
        expected.isActive = false
        expected.percentage = nil
        expected.updatedAt = updatedAt
        #expect(rig.database.rows[stored.key] == .upsert(expected, keepsStoredData: true))
        #expect(rig.log.gaps.isEmpty && rig.sink.records.isEmpty)
    }

    /// A patch of a record changed earlier in the same batch is applied after it (the batch is flushed
    /// first), so it patches that change, not the older stored record.
    @Test func aPatchOfARecordInTheBatchPatchesTheEarlierChange() async throws {
        let created = Self.withSourceID(record(.potato, 4))
        let updatedAt = Timestamp(microsecondsSinceEpoch: created.createdAt.microsecondsSinceEpoch + 5_000_000)
        let rig = Rig(events: [Self.insert(0, created), Self.patch(1, 4, updated: #""camera_id": 42, "updated_at": \#(Self.date(updatedAt))"#)])
        try await rig.finish(committing: 2)
        var expected = created
        expected.cameraId = 42
        expected.updatedAt = updatedAt
        #expect(rig.database.rows[created.key]?.record == .some(Change.upsert(expected, keepsStoredData: true).record!))
        #expect(rig.database.rows[created.key]?.version == expected.version)
        let applies = rig.log.all.filter { if case .applied = $0 { return true } else { return false } }
        #expect(applies.count == 2, "the insert's batch, then the patch's: \(rig.log.all)")
    }

    /// A patch without `updated_at` cannot be ordered: a key gap (healing reads that key). A patch of a
    /// record the consumer holds deleted changes nothing and leaves no gap.
    @Test func aPatchWithoutAVersionIsAKeyGapAndAPatchOfADeletedRecordIsNothing() async throws {
        let live = Self.withSourceID(record(.potato, 5))
        let deleted = Self.withSourceID(record(.potato, 6))
        let later = Self.date(Timestamp(microsecondsSinceEpoch: deleted.createdAt.microsecondsSinceEpoch + 1_000_000))
        let rig = Rig(
            events: [Self.patch(0, 5, updated: #""disease": "Healthy""#), Self.patch(1, 6, updated: #""disease": "Healthy", "updated_at": \#(later)"#)],
            preloaded: [.upsert(live), .upsert(deleted)])
        rig.database.preload([.delete(deleted.key, at: Timestamp(microsecondsSinceEpoch: deleted.createdAt.microsecondsSinceEpoch + 9_000_000))])
        try await rig.finish(committing: 2)
        let gaps = rig.log.gaps
        #expect(gaps.count == 1)
        #expect(gaps.first?.reason == .unorderedPatch && gaps.first?.recordID == 5 && gaps.first?.firstOffset == 0)
        #expect(rig.database.rows[live.key] == .upsert(live))
        #expect(rig.database.rows[deleted.key]?.operation == .delete)
        #expect(rig.sink.records.isEmpty)
    }
}
