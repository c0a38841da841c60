import Foundation
import LibMongoC
import MongoStore
import PostgresStore
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
    func withStore<T>(_ body: (any ConsumerStore) async throws -> T) async throws -> T {
        try await withStores(1) { try await body($0[0]) }
    }

    /// Runs `body` with `count` store instances on one fresh, empty database (each its own
    /// connection: what StreamSync's apply connections are), removed afterwards.
    func withStores<T>(_ count: Int, _ body: ([any ConsumerStore]) async throws -> T) async throws -> T {
        switch self {
        case .postgres, .postgresCopy:
            let threshold = self == .postgresCopy ? 1 : PostgresStore.Configuration.defaultCopyThreshold
            return try await withPostgresStore(copyThreshold: threshold) { store in
                let others: [any ConsumerStore] = try (1..<max(1, count)).map { _ in try PostgresStore(store.configuration) }
                return try await body([store] + others)
            }
        case .mongo:
            guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_MONGO_URI"], !uri.isEmpty else {
                throw SetupError("PLANTSYNC_MONGO_URI is not set: run the tests through scripts/test")
            }
            let database = "t_" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
            let stores = try (0..<max(1, count)).map { _ in try MongoStore(.init(uri: uri, database: database, appName: database)) }
            return try await withMongoDouble {
                try await stores[0].prepareSchema()
                return try await withCleanup { try await body(stores) } cleanup: {
                    _ = try? await offPool { try MongoClient(uri: uri, appName: "plantsync-tests").dropDatabase(database) }
                }
            }
        }
    }
}
