import Foundation
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

/// A random record; `tsRange` small → many equal timestamps.
func randomRecord(plant: Plant, id: Int64, rng: inout SplitMix64, tsRange: ClosedRange<Int64> = 0...1_000_000, dataBytes: Int = 32) -> ImageRecord {
    let created = Int64.random(in: tsRange, using: &rng)
    return ImageRecord(
        plant: plant, id: id, cameraId: Int64.random(in: 1...4, using: &rng),
        data: (0..<dataBytes).map { _ in UInt8.random(in: 0...255, using: &rng) },
        latitude: Double.random(in: -90...90, using: &rng), longitude: Double.random(in: -180...180, using: &rng),
        disease: Bool.random(using: &rng) ? nil : ["Healthy", "Late Blight", "it's \"odd\""].randomElement(using: &rng),
        percentage: Bool.random(using: &rng) ? nil : Double.random(in: 0...1, using: &rng),
        createdAt: Timestamp(microsecondsSinceEpoch: created),
        updatedAt: Bool.random(using: &rng) ? nil : Timestamp(microsecondsSinceEpoch: created + Int64.random(in: 0...3, using: &rng)),
        isActive: Bool.random(using: &rng), isDeleted: Bool.random(using: &rng))
}

/// Everything a store holds for a plant: live records and the versions of every key (tombstones too).
func snapshot(_ store: any ImageStore, _ plant: Plant) async throws -> (records: [ImageRecord], versions: [KeyVersion]) {
    let records = try await store.records(of: plant, in: .all, pageSize: 7).collect()
    let versions = try await store.versions(of: plant, in: .all, pageSize: 5).collect()
    return (records, versions)
}

/// Peak resident set size of this process so far, in bytes (Linux `VmHWM`).
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (Int(line.split(separator: " ")[1]) ?? 0) * 1024
    }
    return 0
}
