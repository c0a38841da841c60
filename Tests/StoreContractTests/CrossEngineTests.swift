import Foundation
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// PostgreSQL and MongoDB holding equal data give equal range summaries, versions and records: what
/// lets BatchSync's `merkle` strategy diff a MongoDB producer against a PostgreSQL consumer (and back).
@Suite struct CrossEngineTests {
    @Test(arguments: [31, 32, 33] as [UInt64])
    func equalDataGivesEqualSummariesOnPostgreSQLAndMongoDB(seed: UInt64) async throws {
        var rng = SplitMix64(seed: seed)
        var changes: [Change] = []
        for _ in 0..<600 {
            let plant = Plant.lims.randomElement(using: &rng)!
            let id = Int64.random(in: 1...150, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0:
                changes.append(
                    .delete(RecordKey(plant: plant, id: id), at: Timestamp(microsecondsSinceEpoch: Int64.random(in: 0...20, using: &rng))))
            case 1:
                changes.append(.upsert(randomRecord(plant: plant, id: id, rng: &rng, tsRange: 0...15), keepsStoredData: true))
            default:
                changes.append(
                    .upsert(randomRecord(plant: plant, id: id, rng: &rng, tsRange: 0...15, dataBytes: Int.random(in: 0...64, using: &rng))))
            }
        }
        let ranges = KeyRange(lower: 1, upper: 151).split(into: 16) + [.all]
        try await StoreEngine.postgres.withStore { postgres async throws in
            try await StoreEngine.mongo.withStore { mongo async throws in
                // The same batches in the same order on both sides: with keep-data upserts the bytes a
                // key ends with depend on what was stored before (by definition), so only the same
                // history can be expected to give the same state.
                for start in stride(from: 0, to: changes.count, by: 50) {
                    let batch = Array(changes[start..<min(start + 50, changes.count)])
                    let p = try await postgres.apply(batch)
                    let m = try await mongo.apply(batch)
                    #expect(p == m)
                }
                for plant in Plant.lims {
                    let p = try await postgres.summaries(of: plant, in: ranges)
                    let m = try await mongo.summaries(of: plant, in: ranges)
                    #expect(p == m, "\(plant): summaries differ between PostgreSQL and MongoDB")
                    #expect(p.last!.count == (try await mongo.count(of: plant)))
                    let (pr, pv) = try await snapshot(postgres, plant)
                    let (mr, mv) = try await snapshot(mongo, plant)
                    #expect(pv == mv, "\(plant): versions differ")
                    #expect(pr == mr, "\(plant): records differ")
                    #expect(try await postgres.idBounds(of: plant) == (try await mongo.idBounds(of: plant)))
                    // the summaries are the documented sums of the digests both engines report
                    #expect(p.last!.checksum == RowDigest.checksum(of: mv.filter { !$0.isTombstone }.map(\.digest)))
                }
                // one differing field on one side: exactly one of the 16 ranges differs
                var rng2 = SplitMix64(seed: seed &* 7)
                let victim = randomRecord(plant: .potato, id: 77, rng: &rng2, tsRange: 1_000...1_000)
                var twin = victim
                twin.isActive.toggle()
                _ = try await postgres.apply([.upsert(victim)])
                _ = try await mongo.apply([.upsert(twin)])
                let p = try await postgres.summaries(of: .potato, in: ranges.dropLast())
                let m = try await mongo.summaries(of: .potato, in: ranges.dropLast())
                #expect(zip(p, m).filter { $0 != $1 }.count == 1)
            }
        }
    }
}
