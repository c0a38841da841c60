/// What StreamSync needs of a store: apply a batch under the version rule (docs/design.md §1).
///
/// `ConsumerStore` refines it; the stream pipeline depends on this alone, so its logic is tested against
/// an in-memory implementation while the store contract suite proves the real stores.
public protocol ChangeApplier: Sendable {
    /// Applies a batch atomically under the version rule.
    func apply(_ changes: [Change]) async throws -> ApplyOutcome
}
