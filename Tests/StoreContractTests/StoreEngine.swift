import Foundation
import LibPQ
import PostgresStore
import SyncModel

/// The store implementations the shared contract suite runs against. Each case knows how to make a
/// fresh, isolated store and remove it afterwards.
enum StoreEngine: String, CaseIterable, CustomStringConvertible, Sendable {
    case postgres

    var description: String { rawValue }

    /// Runs `body` with a fresh, empty store of this engine, removed afterwards.
    func withStore<T>(_ body: (any ImageStore) async throws -> T) async throws -> T {
        switch self {
        case .postgres:
            guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"], !uri.isEmpty else {
                throw SetupError("PLANTSYNC_PG_URI is not set: run the tests through scripts/test")
            }
            let schema = "t_" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
            let store = try PostgresStore(.init(conninfo: uri, schema: schema, applicationName: schema))
            try await store.prepareSchema()
            defer { _ = try? PGConnection(conninfo: uri).execute("DROP SCHEMA IF EXISTS \(schema) CASCADE") }
            return try await body(store)
        }
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
