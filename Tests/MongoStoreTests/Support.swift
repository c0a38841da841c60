import Foundation
import LibMongoC
import MongoStore
import SyncModel
import TestSupport

struct SetupError: Error, CustomStringConvertible {
    let description: String
}

/// The server under test: a real MongoDB if the user set `PLANTSYNC_MONGO_URI`, else the test double
/// that scripts/test starts.
func testURI() throws -> String {
    guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_MONGO_URI"], !uri.isEmpty else {
        throw SetupError(description: "PLANTSYNC_MONGO_URI is not set: run the tests through scripts/test")
    }
    return uri
}

func freshDatabaseName() -> String {
    "t_" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
}

/// Runs `body` with a prepared store in a fresh database (default LIMS collection names), dropped afterwards.
func withStore<T>(_ body: (MongoStore, TestMongoClient) async throws -> T) async throws -> T {
    try await withMongoDouble { try await withStoreNow(body) }
}

private func withStoreNow<T>(_ body: (MongoStore, TestMongoClient) async throws -> T) async throws -> T {
    let uri = try testURI()
    let database = freshDatabaseName()
    let store = try MongoStore(.init(uri: uri, database: database, appName: database))
    try await store.prepareSchema()
    let client = try await TestMongoClient.connect(uri: uri)
    return try await withCleanup { try await body(store, client) } cleanup: { try? await client.dropDatabase(database) }
}

/// `uri` with the given credentials in place of any it has.
func withCredentials(_ uri: String, user: String, password: String) -> String {
    guard let scheme = uri.range(of: "://") else { return uri }
    var rest = uri[scheme.upperBound...]
    let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
    if let at = rest[..<hostEnd].lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
    return String(uri[..<scheme.upperBound]) + "\(user):\(password)@" + rest
}

func sampleRecord(plant: Plant = .pepper, id: Int64, createdAt: Int64 = 1_696_779_589_123_123) -> ImageRecord {
    ImageRecord(
        plant: plant, id: id, cameraId: 3, data: [0xFF, 0xD8, 0xFF, UInt8(truncatingIfNeeded: id)],
        latitude: 52.52, longitude: 13.405, disease: "Healthy", percentage: 0.93,
        createdAt: Timestamp(microsecondsSinceEpoch: createdAt))
}
