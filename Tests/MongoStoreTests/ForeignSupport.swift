import Foundation
import LibMongoC
import MongoStore
import SyncModel
import TestSupport

/// Deterministic records with millisecond timestamps (what a BSON date keeps), of varied shapes.
func limsRecords(plant: Plant = .pepper, ids: some Sequence<Int64>, seed: UInt64 = 7) -> [ImageRecord] {
    var state = seed
    func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 11
    }
    return ids.map { id in
        let created = 1_696_779_589_000_000 + Int64(next() % 1_000_000) * 1000
        let size = Int(next() % 40)
        let data: [UInt8]? = id % 11 == 0 ? nil : (0..<size).map { _ in UInt8(truncatingIfNeeded: next()) }
        return ImageRecord(
            plant: plant, id: id, cameraId: Int64(next() % 9), data: data,
            latitude: 52.0 + Double(next() % 100_000) / 99_991.0, longitude: 13.0 + Double(next() % 100_000) / 77_777.0,
            disease: id % 3 == 0 ? nil : ["Healthy", "Late Blight", "Early Blight"][Int(next() % 3)],
            percentage: id % 4 == 0 ? nil : Double(next() % 1000) / 997.0,
            createdAt: Timestamp(microsecondsSinceEpoch: created),
            updatedAt: id % 2 == 0 ? Timestamp(microsecondsSinceEpoch: created + Int64(next() % 5000) * 1000) : nil,
            isActive: id % 5 != 0, isDeleted: id % 7 == 0)
    }
}

/// The counts of the commands each database received, from the double's `plantsyncCommandLog`; `nil`
/// against a real server (which has no such command).
func commandLog(_ client: TestMongoClient, database: String) async -> [String: Int64]? {
    guard let reply = try? await client.command(["plantsyncCommandLog": .int32(1)], database: "admin") else { return nil }
    var counts: [String: Int64] = [:]
    for element in reply[path: "databases.\(database)"]?.documentValue?.elements ?? [] {
        counts[element.key] = element.value.int64Value ?? 0
    }
    return counts
}

/// A producer database holding LIMS-written documents, a foreign store over it and PlantSync's own
/// store in another database; both dropped afterwards.
struct ForeignFixture {
    let client: TestMongoClient
    let producerDatabase: String
    let producerURI: String
    let own: MongoStore

    func foreign(_ digest: ForeignMongoStore.DigestMode = .auto) throws -> ForeignMongoStore {
        try ForeignMongoStore(.init(connectionString: producerURI, appName: "plantsync-tests", digest: digest))
    }

    func producerCollection(_ plant: Plant) -> TestMongoCollection {
        client.collection(plant.limsCollection, database: producerDatabase)
    }

    /// Inserts LIMS documents with LibMongoC directly (never through a store).
    func insert(_ records: [ImageRecord], int32Id: Bool = true) async throws {
        for plant in Plant.lims {
            let docs = records.filter { $0.plant == plant }
            guard !docs.isEmpty else { continue }
            let result = try await producerCollection(plant).bulkWrite(
                docs.enumerated().map { .insertOne(limsDocument($1, int32Id: int32Id, omitNullUpdatedAt: $0 % 2 == 0)) })
            precondition(result.writeErrors.isEmpty, "\(result.writeErrors)")
        }
    }
}

func withForeignFixture<T>(_ body: (ForeignFixture) async throws -> T) async throws -> T {
    try await withMongoDouble { try await withForeignFixtureNow(body) }
}

private func withForeignFixtureNow<T>(_ body: (ForeignFixture) async throws -> T) async throws -> T {
    let base = try testURI()
    let producerDatabase = freshDatabaseName()
    let ownDatabase = freshDatabaseName()
    let client = try await TestMongoClient.connect(uri: base)
    return try await withCleanup {
        // LIMS's producer: its collections exist (created by LIMS), PlantSync never creates them.
        for plant in Plant.lims {
            try await client.command(["create": .string(plant.limsCollection)], database: producerDatabase)
        }
        let own = try MongoStore(.init(uri: base, database: ownDatabase, appName: ownDatabase))
        try await own.prepareSchema()
        return try await body(
            ForeignFixture(
                client: client, producerDatabase: producerDatabase, producerURI: uri(base, withDatabase: producerDatabase), own: own))
    } cleanup: {
        try? await client.dropDatabase(producerDatabase)
        try? await client.dropDatabase(ownDatabase)
    }
}

/// Whether the server has `$toHashedIndexKey` (MongoDB 7.0+; the double says 7.0).
func serverHashes(_ client: TestMongoClient) async -> Bool {
    guard let reply = try? await client.command(["buildInfo": .int32(1)], database: "admin") else { return false }
    return (reply["versionArray"]?.arrayValue?.first?.int64Value ?? 0) >= 7
}

/// Skipping a `$toHashedIndexKey` test is right only on a real server older than 7.0: the double says 7.0.
func requireRealServer(_ fixture: ForeignFixture) async throws {
    if await commandLog(fixture.client, database: fixture.producerDatabase) != nil {
        throw SetupError(description: "the test double reports no MongoDB 7.0 (buildInfo): $toHashedIndexKey tests would be skipped")
    }
}
