import SyncModel
import TestSupport

/// The store implementations the shared contract suite runs against. Each case knows how to make a
/// fresh, isolated store and remove it afterwards.
enum StoreEngine: String, CaseIterable, CustomStringConvertible, Sendable {
    case postgres

    var description: String { rawValue }

    /// Runs `body` with a fresh, empty store of this engine, removed afterwards.
    func withStore<T>(_ body: (any ImageStore) async throws -> T) async throws -> T {
        switch self {
        case .postgres:
            return try await withPostgresStore { try await body($0) }
        }
    }
}
