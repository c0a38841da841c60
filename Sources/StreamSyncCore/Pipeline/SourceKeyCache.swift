import SyncModel

/// What StreamSync needs to resolve changes by producer `_id` (`SourceChange`, docs/design.md §2): the
/// consumer store's index of `_id`s and its records.
public typealias SourceRecords = SourceKeyResolving & RecordReader

/// Recent producer `_id` → id pairs, from the upserts StreamSync decoded (in read order, so before
/// their batch is applied) and from the store's answers: a delete by `_id` of a record created moments
/// ago resolves without a store read, and without waiting for that create's batch. Bounded: past
/// `capacity` pairs it starts over (a miss only costs a store read).
struct SourceKeyCache {
    let capacity: Int
    private var ids: [Plant: [SourceID: Int64]] = [:]
    private var count = 0

    init(capacity: Int = 100_000) { self.capacity = capacity }

    mutating func remember(_ sourceID: SourceID, id: Int64, plant: Plant) {
        if count >= capacity {
            ids = [:]
            count = 0
        }
        if ids[plant, default: [:]].updateValue(id, forKey: sourceID) == nil { count += 1 }
    }

    /// Remembers the `_id` an upsert carries.
    mutating func remember(_ change: Change) {
        if let record = change.record, let sourceID = record.sourceID { remember(sourceID, id: record.id, plant: record.plant) }
    }

    func id(of sourceID: SourceID, plant: Plant) -> Int64? { ids[plant]?[sourceID] }
}

/// How a `SourceChange` resolved.
enum SourceResolution: Sendable, Equatable {
    /// The change of the record the `_id` names.
    case change(Change)
    /// Nothing to apply: a patch of a record the consumer holds deleted (the delete is newer).
    case nothing
    /// Not applicable: left to healing as a gap of this reason (a key gap when the id is known).
    case unresolved(GapReason, recordID: Int64?)
}

/// How a change by `_id` resolved, for `plantsync_changes_by_id_total{resolved}`.
enum SourceResolutionPath: String, Sendable, CaseIterable {
    /// The id from the cache of recent `_id`s.
    case cache
    /// The id from the consumer store, after the batches before it.
    case store
    /// A patch of a record the consumer holds deleted: nothing to do.
    case deleted
    /// Not applicable: a gap (or, without gap detection, a dead letter).
    case none
}
