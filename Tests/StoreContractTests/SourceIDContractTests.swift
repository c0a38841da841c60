import Foundation
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// The producer `_id`s the consumer stores keep (docs/design.md §2, "Changes by `_id`"), on every engine:
/// written with the records that carry one, kept by writes that carry none and by deletes, found by
/// `keys(of:sourceIDs:)` per plant.
@Suite struct SourceIDContractTests {
    static func oid(_ n: Int) -> SourceID { SourceID(rawValue: String(format: "65a1f0c2e4b0%012x", n))! }

    @Test(arguments: StoreEngine.allCases)
    func writesKeepTheProducerIDsAndDeletesKeepThemOnTheTombstone(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 41)
            let cucumber = try Plant(validating: "cucumber", field: "test")
            var records = (1...6).map { randomRecord(plant: .potato, id: $0, rng: &rng, tsRange: 1_000...2_000) }
            for index in 0..<5 { records[index].sourceID = Self.oid(index + 1) }  // record 6: no _id known
            var other = randomRecord(plant: cucumber, id: 1, rng: &rng)
            other.sourceID = Self.oid(1)  // the same _id in another plant's collection
            _ = try await store.apply(records.map { Change.upsert($0) } + [.upsert(other)])

            let asked = (1...7).map(Self.oid)
            #expect(try await store.keys(of: .potato, sourceIDs: asked) == [Self.oid(1): 1, Self.oid(2): 2, Self.oid(3): 3, Self.oid(4): 4, Self.oid(5): 5])
            #expect(try await store.keys(of: cucumber, sourceIDs: asked) == [Self.oid(1): 1])
            #expect(try await store.keys(of: .tomato, sourceIDs: asked).isEmpty)
            #expect(try await store.keys(of: .potato, sourceIDs: []).isEmpty)

            // A newer update that carries no _id (a LIMS event) keeps the stored one, whatever its path
            // (whole record, bytes kept, record fields kept); one that carries an _id sets it.
            var update = records[0]
            update.sourceID = nil
            update.updatedAt = Timestamp(microsecondsSinceEpoch: 5_000)
            update.disease = "Late Blight"
            var keeping = records[1]
            keeping.sourceID = nil
            keeping.updatedAt = Timestamp(microsecondsSinceEpoch: 5_000)
            var fieldKeeping = records[2]
            fieldKeeping.sourceID = nil
            fieldKeeping.updatedAt = Timestamp(microsecondsSinceEpoch: 5_000)
            var named = records[5]
            named.updatedAt = Timestamp(microsecondsSinceEpoch: 5_000)
            named.sourceID = Self.oid(6)
            let outcome = try await store.apply([
                .upsert(update), .upsert(keeping, keepsStoredData: true), .upsert(fieldKeeping, keeping: [.disease, .data]), .upsert(named),
            ])
            #expect(outcome.totals.applied == 4)
            #expect(try await store.record(update.key) == update)
            #expect(try await store.keys(of: .potato, sourceIDs: (1...6).map(Self.oid)) == [Self.oid(1): 1, Self.oid(2): 2, Self.oid(3): 3, Self.oid(4): 4, Self.oid(5): 5, Self.oid(6): 6])

            // A delete leaves a tombstone that still answers for its _id (a replayed delete finds it).
            _ = try await store.apply([.delete(records[3].key, at: Timestamp(microsecondsSinceEpoch: 9_000))])
            #expect(try await store.record(records[3].key) == nil)
            #expect(try await store.keys(of: .potato, sourceIDs: [Self.oid(4)]) == [Self.oid(4): 4])

            // BatchSync's compare-and-set repair writes the _id it read from the producer.
            var repaired = records[4]
            repaired.sourceID = Self.oid(50)
            repaired.updatedAt = Timestamp(microsecondsSinceEpoch: 7_000)
            _ = try await store.replace([.upsert(repaired)], expecting: [repaired.key: records[4].version])
            #expect(try await store.keys(of: .potato, sourceIDs: [Self.oid(5), Self.oid(50)]) == [Self.oid(50): 5])
        }
    }

    @Test func sourceIDsHaveOneTextWhateverTheirJSONForm() throws {
        let hex = "596e275826f08b2730779e1f"
        let forms: [JSONValue] = [
            .object(["$oid": .string(hex)]), .object(["$oid": .string(hex.uppercased())]), .string(hex), .string(hex.uppercased()),
        ]
        for form in forms { #expect(SourceID(json: form)?.rawValue == hex) }
        #expect(SourceID(objectID: [0x59, 0x6e, 0x27, 0x58, 0x26, 0xf0, 0x8b, 0x27, 0x30, 0x77, 0x9e, 0x1f]).rawValue == hex)
        #expect(SourceID(json: .integer(42))?.rawValue == "42")
        #expect(SourceID(json: .object(["$numberLong": .string("42")]))?.rawValue == "42")
        #expect(SourceID(json: .string("image-7"))?.rawValue == "image-7")
        #expect(SourceID(json: .null) == nil)
        #expect(SourceID(json: .string("")) == nil)
        #expect(SourceID(json: .object(["$oid": .string("not hex")])) == nil)
        #expect(SourceID(json: .array([])) == nil)
        #expect(SourceID(rawValue: String(repeating: "x", count: SourceID.maxLength + 1)) == nil)
    }
}
