import Foundation
import LibPQ
import PostgresStore
import SyncModel

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

func testConninfo() throws -> String {
    guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"], !uri.isEmpty else {
        throw PostgresStoreError(
            operation: "test setup", sqlState: nil, message: "PLANTSYNC_PG_URI is not set: run the tests through scripts/test",
            isTransient: false)
    }
    return uri
}

/// Runs `body` with a store in a fresh schema of its own (also its application_name), dropped afterwards.
func withStore<T>(_ body: (PostgresStore) async throws -> T) async throws -> T {
    let schema = "t_" + String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
    let store = try PostgresStore(.init(conninfo: try testConninfo(), schema: schema, applicationName: schema))
    try await store.prepareSchema()
    defer { _ = try? PGConnection(conninfo: store.configuration.conninfo).execute("DROP SCHEMA IF EXISTS \(schema) CASCADE") }
    return try await body(store)
}

func sampleRecord(id: Int64, createdAt: Int64 = 1_000_000) -> ImageRecord {
    ImageRecord(
        plant: .pepper, id: id, cameraId: 1, data: [1, 2, 3], latitude: 1, longitude: 2,
        createdAt: Timestamp(microsecondsSinceEpoch: createdAt))
}
