import Foundation
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// Every store holds any plant (docs/design.md §1): nothing enumerates plants, and `plants()` lists
/// what the store holds.
@Suite struct AnyPlantTests {
    @Test(arguments: StoreEngine.allCases)
    func aPlantNobodyListedIsStoredReadCountedAndListed(engine: StoreEngine) async throws {
        try await engine.withStores(2) { stores async throws in
            let store = stores[0]
            let cucumber = try Plant(validating: "cucumber", field: "test")
            let long = try Plant(validating: "k" + String(repeating: "_", count: Plant.maxLength - 1), field: "test")
            #expect(try await store.plants().filter { ![.potato, .tomato, .pepper].contains($0) } == [])
            var rng = SplitMix64(seed: 21)
            let records = (1...40).map { randomRecord(plant: $0 % 4 == 0 ? long : cucumber, id: Int64($0), rng: &rng) }
            // The first write of a plant, on a second connection at the same time: both land, version rule intact.
            async let a = store.apply(records.map { .upsert($0) })
            async let b = stores[1].apply(records.map { .upsert($0) })
            let outcomes = try await [a, b]
            #expect(outcomes.map(\.applied).reduce(0, +) == 40)
            for record in records { #expect(try await store.record(record.key) == record) }
            #expect(try await store.count(of: cucumber) == 30)
            #expect(try await store.count(of: long) == 10)
            #expect(try await store.versions(of: cucumber, in: .all, pageSize: 7).collect().count == 30)
            // A tombstone is still a held plant (a later run reconciles it).
            let later = Timestamp(microsecondsSinceEpoch: 2_000_000_000_000_000)
            _ = try await store.apply(records.filter { $0.plant == long }.map { .delete($0.key, at: later) })
            #expect(try await store.count(of: long) == 0)
            let held = try await store.plants()
            #expect(held.contains(cucumber) && held.contains(long))
            #expect(held == held.sorted())
            // Purge walks every held plant.
            #expect(try await store.purgeTombstones(olderThan: Timestamp(microsecondsSinceEpoch: .max)) == 10)
            // A valid plant nobody wrote: nothing, not an error.
            let kale = try Plant(validating: "kale", field: "test")
            #expect(try await store.count(of: kale) == 0)
            #expect(try await store.record(RecordKey(plant: kale, id: 1)) == nil)
            #expect(try await store.idBounds(of: kale) == nil)
        }
    }
}
