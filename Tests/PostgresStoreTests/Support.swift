import PostgresStore
import SyncModel
import TestSupport

/// Runs `body` with a store in a fresh schema of its own (also its application_name), dropped afterwards.
func withStore<T>(_ body: (PostgresStore) async throws -> T) async throws -> T {
    try await withPostgresStore(body)
}

func testConninfo() throws -> String { try postgresURI() }

func sampleRecord(id: Int64, createdAt: Int64 = 1_000_000) -> ImageRecord {
    ImageRecord(
        plant: .pepper, id: id, cameraId: 1, data: [1, 2, 3], latitude: 1, longitude: 2,
        createdAt: Timestamp(microsecondsSinceEpoch: createdAt))
}
