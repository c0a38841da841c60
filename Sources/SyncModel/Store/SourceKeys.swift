/// The consumer store's index of producer `_id`s (`SourceID`, docs/design.md §2): how StreamSync
/// resolves a change that names its record by `_id` only (`SourceChange`).
///
/// Every write of a record that carries a `sourceID` stores it beside the record (PostgreSQL column
/// `source_id`, MongoDB field `_ps.sid`, both indexed), and a delete keeps it on the tombstone, so a
/// replayed delete by `_id` still finds its key until the tombstone is purged. A write that carries
/// none leaves the stored one. The consumer's record reads do not return it: this is its one reader.
public protocol SourceKeyResolving: Sendable {
    /// The ids of the plant's records (tombstones included) whose producer `_id` is one of `sourceIDs`;
    /// an `_id` the store does not hold is absent from the result.
    func keys(of plant: Plant, sourceIDs: [SourceID]) async throws -> [SourceID: Int64]
}
