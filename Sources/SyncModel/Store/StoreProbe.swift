/// A cheap round trip to a store's database (`SELECT 1`, MongoDB's `ping`): what readiness asks, on a
/// connection of its own, so it never waits behind a batch (docs/design.md §4).
public protocol StoreProbe: Sendable {
    /// Succeeds if the database answers within `timeout`.
    func ping(timeout: Duration) async throws
}
