import Foundation
import LibMongoC
import LibPQ
import MongoStore
import PostgresStore
import SyncModel

/// The store implementations the shared contract suite runs against. Each case knows how to make a
/// fresh, isolated store and remove it afterwards.
enum StoreEngine: String, CaseIterable, CustomStringConvertible, Sendable {
    case postgres
    /// A real MongoDB server when `PLANTSYNC_MONGO_URI` names one, else scripts/test's wire-protocol
    /// test double (scripts/mongo-double).
    case mongo

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
        case .mongo:
            guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_MONGO_URI"], !uri.isEmpty else {
                throw SetupError("PLANTSYNC_MONGO_URI is not set: run the tests through scripts/test")
            }
            let database = "t_" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
            let store = try MongoStore(.init(uri: uri, database: database, appName: database))
            try await store.prepareSchema()
            defer { _ = try? MongoClient(uri: uri, appName: "plantsync-tests").dropDatabase(database) }
            return try await body(store)
        }
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
