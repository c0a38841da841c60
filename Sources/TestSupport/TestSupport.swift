@_exported import BlockingExecutor  // offPool, withCleanup: every test target uses them
import Foundation
import LibPQ
import PostgresStore
import SyncBenchCore
import SyncModel

/// Shared helpers of the test targets: a seeded generator, random records, throwaway stores.

/// SplitMix64, small, fast and deterministic so a failing seed reproduces: the harness's generator.
public typealias SplitMix64 = SeededGenerator

public struct SetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The throwaway PostgreSQL `scripts/test` starts; tests fail (not skip) without it.
public func postgresURI() throws -> String {
    guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"], !uri.isEmpty else {
        throw SetupError("PLANTSYNC_PG_URI is not set: run the tests through scripts/test")
    }
    return uri
}

/// The MongoDB server under test: a real one if the user set `PLANTSYNC_MONGO_URI`, else the test double
/// that scripts/test starts; tests fail (not skip) without it.
public func mongoURI() throws -> String {
    guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_MONGO_URI"], !uri.isEmpty else {
        throw SetupError("PLANTSYNC_MONGO_URI is not set: run the tests through scripts/test")
    }
    return uri
}

/// A fresh unique name — `prefix` and 20 lowercase hex digits — valid as a PostgreSQL schema, a MongoDB
/// database, a Kafka group or topic.
public func uniqueName(_ prefix: String = "t_") -> String {
    prefix + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
}

/// A fresh unique schema name (also used as the connection's application_name).
public func uniqueSchema() -> String { uniqueName() }

/// Runs a test's blocking setup or teardown (libpq, libmongoc, the mock cluster) on an executor of its
/// own, never on Swift's cooperative pool: the suite runs every test in one process on as many
/// cooperative threads as there are cores (two here), and one blocked call there stalls every other test.
public func offPool<T: Sendable>(_ label: String = "plantsync.tests", _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingExecutor(label: label).run(body)
}

/// Drops a test schema and everything in it.
public func dropSchema(_ schema: String) async throws {
    let uri = try postgresURI()
    try await offPool {
        _ = try PGConnection(conninfo: uri).execute("DROP SCHEMA IF EXISTS \(PGConnection.quoteIdentifier(schema)) CASCADE")
    }
}

/// Runs `body` with a PostgreSQL store in a schema of its own, dropped afterwards.
/// `copyThreshold` chooses the apply path: `1` stages every upsert with image bytes through `COPY`.
public func withPostgresStore<T>(
    copyThreshold: Int = PostgresStore.Configuration.defaultCopyThreshold, _ body: (PostgresStore) async throws -> T
) async throws -> T {
    let uri = try postgresURI()
    let schema = uniqueSchema()
    let store = try PostgresStore(.init(conninfo: uri, schema: schema, applicationName: schema, copyThreshold: copyThreshold))
    try await store.prepareSchema()
    return try await withCleanup { try await body(store) } cleanup: { try? await dropSchema(schema) }
}

/// A random record; a small `tsRange` makes equal timestamps (and tiebreak decisions) common.
public func randomRecord(
    plant: Plant, id: Int64, rng: inout SplitMix64, tsRange: ClosedRange<Int64> = 0...1_000_000, dataBytes: Int = 32
) -> ImageRecord {
    let created = Int64.random(in: tsRange, using: &rng)
    return ImageRecord(
        plant: plant, id: id, cameraId: Int64.random(in: 1...4, using: &rng),
        data: (0..<dataBytes).map { _ in UInt8.random(in: 0...255, using: &rng) },
        latitude: Double.random(in: -90...90, using: &rng), longitude: Double.random(in: -180...180, using: &rng),
        disease: Bool.random(using: &rng)
            ? nil : ["Healthy", "Late Blight", "it's \"odd\"", "tab\tnew\nline\r back\\slash \\N"].randomElement(using: &rng),
        percentage: Bool.random(using: &rng) ? nil : Double.random(in: 0...1, using: &rng),
        createdAt: Timestamp(microsecondsSinceEpoch: created),
        updatedAt: Bool.random(using: &rng) ? nil : Timestamp(microsecondsSinceEpoch: created + Int64.random(in: 0...3, using: &rng)),
        isActive: Bool.random(using: &rng), isDeleted: Bool.random(using: &rng))
}

/// Everything a store holds for a plant: live records and the versions of every key (tombstones too).
public func snapshot(_ store: any DiffSource, _ plant: Plant) async throws -> (records: [ImageRecord], versions: [KeyVersion]) {
    let records = try await store.records(of: plant, in: .all, pageSize: 7).collect()
    let versions = try await store.versions(of: plant, in: .all, pageSize: 5).collect()
    return (records, versions)
}

/// Live records of every plant of `plants` (LIMS's three by default), in key order.
public func liveRecords(_ store: any DiffSource, plants: [Plant] = Plant.lims) async throws -> [ImageRecord] {
    var all: [ImageRecord] = []
    for plant in plants { all += try await store.records(of: plant, in: .all, pageSize: 1000).collect() }
    return all
}
