/// A change that names its record by the producer's `_id` only (`SourceID`), not by `(plant, id)`:
/// a MongoDB change stream's `delete` (only `documentKey._id`) or `update` without `fullDocument`
/// (only `updateDescription`), and Debezium MongoDB's `op: d` without a pre-image (only the key's `_id`).
///
/// StreamSync turns it into a `Change` by looking the `_id` up (records it wrote or read before, in the
/// consumer store, tombstones included: `SourceKeyResolving`). An `_id` the consumer never saw cannot be
/// applied: it is recorded for healing, never dropped silently (docs/design.md §2, §8).
public struct SourceChange: Sendable, Hashable, CustomStringConvertible {
    public enum Operation: Sendable, Hashable {
        /// Delete the record, at `at` (the event's time: `wallTime`, `clusterTime`, `ts_ms` or the Kafka
        /// timestamp, in that order).
        case delete(at: Timestamp)
        /// Set some of the record's fields.
        case patch(RecordPatch)
    }

    public var plant: Plant
    public var sourceID: SourceID
    public var operation: Operation

    public init(plant: Plant, sourceID: SourceID, operation: Operation) {
        self.plant = plant
        self.sourceID = sourceID
        self.operation = operation
    }

    public var description: String {
        switch operation {
        case .delete(let at): return "delete \(plant) _id \(sourceID) at \(at)"
        case .patch: return "patch \(plant) _id \(sourceID)"
        }
    }
}
