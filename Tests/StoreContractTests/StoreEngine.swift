import Foundation
import LibMongoC
import MongoStore
import SyncModel
import TestSupport

/// The store implementations the shared contract suite runs against. Each case knows how to make a
/// fresh, isolated store and remove it afterwards.
enum StoreEngine: String, CaseIterable, CustomStringConvertible, Sendable {
    case postgres
    /// PostgreSQL with every upsert that carries image bytes staged through `COPY`.
    case postgresCopy
    /// A real MongoDB server when `PLANTSYNC_MONGO_URI` names one, else scripts/test's wire-protocol
    /// test double (scripts/mongo-double).
    case mongo

    var description: String { rawValue }

    /// Runs `body` with a fresh, empty store of this engine, removed afterwards.
    func withStore<T>(_ body: (any ImageStore) async throws -> T) async throws -> T {
        switch self {
        case .postgres:
            return try await withPostgresStore { try await body($0) }
        case .postgresCopy:
            return try await withPostgresStore(copyThreshold: 1) { try await body($0) }
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
