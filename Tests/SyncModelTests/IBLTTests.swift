import SyncBenchCore
import TestSupport
import Testing

@testable import SyncModel

@Suite struct IBLTTests {
    func elements(_ count: Int, seed: UInt64, from: Int64 = 1) -> [(key: Int64, digest: Int64)] {
        var rng = SplitMix64(seed: seed)
        return (0..<Int64(count)).map { (key: from + $0, digest: Int64(bitPattern: rng.next())) }
    }

    /// Subtracting two tables and peeling yields exactly the elements on one side only, with the side.
    @Test(arguments: [1, 10, 300, 2000])
    func peelingFindsExactlyTheDifferences(differences: Int) {
        let shared = elements(5000, seed: 1)
        let producerOnly = elements(differences / 2, seed: 2, from: 10_000)
        let consumerOnly = elements(differences - differences / 2, seed: 3, from: 20_000)
        let shape = IBLT.Shape.table(cells: 2 * differences + 30)
        let difference = IBLT.subtract(
            IBLT.table(of: shared + producerOnly, shape: shape), IBLT.table(of: shared + consumerOnly, shape: shape))
        let found = IBLT.peel(difference)
        #expect(found != nil)
        #expect(Set(found?.filter(\.producer).map(\.key) ?? []) == Set(producerOnly.map(\.key)))
        #expect(Set(found?.filter { !$0.producer }.map(\.key) ?? []) == Set(consumerOnly.map(\.key)))
        #expect(Set(found?.map(\.digest) ?? []) == Set((producerOnly + consumerOnly).map(\.digest)))
    }

    /// One key with another digest on each side is two elements, both found.
    @Test func aChangedRecordIsTwoElements() {
        let shared = elements(1000, seed: 4)
        var changed = shared
        changed[500].digest &+= 1
        let shape = IBLT.Shape.table(cells: 30)
        let found = IBLT.peel(IBLT.subtract(IBLT.table(of: shared, shape: shape), IBLT.table(of: changed, shape: shape)))
        #expect(found?.map(\.key) == [shared[500].key, shared[500].key])
        #expect(Set(found?.map(\.producer) ?? []) == [true, false])
    }

    /// 200,000 differences peel at two cells each: no two elements share all three cells (the cell
    /// positions use all 64 bits of the element hash; hashing a folded 32-bit value, some pairs would).
    @Test func manyDifferencesPeelDespiteElementHashCollisions() {
        let many = elements(200_000, seed: 9)
        let shape = IBLT.Shape.table(cells: 2 * many.count + 30)
        let found = IBLT.peel(IBLT.subtract(IBLT.table(of: many, shape: shape), IBLT.Table(shape: shape)))
        #expect(found?.count == many.count)
    }

    /// A table too small for the differences does not peel: `nil`, never a wrong answer.
    @Test func aTooSmallTableFailsToPeel() {
        let shape = IBLT.Shape.table(cells: 30)
        let difference = IBLT.subtract(IBLT.table(of: elements(500, seed: 5), shape: shape), IBLT.Table(shape: shape))
        #expect(IBLT.peel(difference) == nil)
    }

    /// The strata estimate is exact for few differences and within a small factor for many.
    @Test(arguments: [0, 3, 8, 40, 1000, 20_000])
    func strataEstimateTracksTheDifferenceCount(differences: Int) {
        let shared = elements(3000, seed: 6)
        let extra = elements(differences, seed: 7, from: 100_000)
        let shape = IBLT.Shape.estimator
        let estimate = IBLT.estimate(
            IBLT.subtract(IBLT.table(of: shared + extra, shape: shape), IBLT.table(of: shared, shape: shape)))
        if differences <= 8 {
            #expect(estimate.count == differences)
            #expect(estimate.elements.map { Set($0.map(\.key)) } == Set(extra.map(\.key)))
        } else {
            #expect(estimate.count * 4 >= differences && estimate.count <= differences * 4, "estimate \(estimate.count) for \(differences)")
        }
    }

    /// Every hash stays within its table, for keys and digests at the extremes of `Int64`.
    @Test func cellsStayWithinTheShape() {
        for shape in [IBLT.Shape.estimator, .table(cells: 7), .table(cells: 100_000)] {
            for (key, digest) in [(Int64(1), Int64.min), (Int64.max, Int64.max), (Int64.max - 1, -1), (42, 0)] {
                let cells = IBLT.cells(x: IBLT.elementHash(key: key, digest: digest), shape: shape)
                #expect(cells.count == 3)
                #expect(cells.allSatisfy { (0..<shape.cellCount).contains($0) })
                #expect(Set(cells).count == 3)
            }
        }
    }

    /// `Lookup3.int8Extended` is PostgreSQL's `hashint8extended`, bit for bit (values printed by
    /// PostgreSQL 15: `SELECT hashint8extended(v, s)`).
    @Test func theIntegerHashIsPostgreSQLs() {
        let pinned: [(value: Int64, seed: Int64, hash: Int64)] = [
            (5, 123, 4_647_066_108_655_873_373), (0, 0, 4_154_612_158_245_552_303), (-7, 99, 7_191_871_769_166_167_349),
            (1 << 40, -1_234_567_890_123, -7_597_121_710_032_134_867), (.max, .min, -6_636_717_582_767_153_610),
            (42, 0, 8_010_225_493_015_854_792),
        ]
        for (value, seed, hash) in pinned { #expect(Lookup3.int8Extended(value, seed: seed) == hash, "hashint8extended(\(value), \(seed))") }
    }

    /// Sums arrive as decimal text of any size and are taken mod 2^64; anything else is refused.
    @Test func decimalSumsWrapModulo2To64() {
        #expect(IBLT.Cell.wrapping(decimal: "0") == 0)
        #expect(IBLT.Cell.wrapping(decimal: "18446744073709551617") == 1)
        #expect(IBLT.Cell.wrapping(decimal: "-1") == UInt64.max)
        #expect(IBLT.Cell.wrapping(decimal: "-18446744073709551616") == 0)
        #expect(IBLT.Cell.wrapping(decimal: "123456789012345678901234567890") == 14083847773837265618)  // mod 2^64
        for bad in ["", "-", "12a", "1.5", " 1"] { #expect(IBLT.Cell.wrapping(decimal: bad) == nil, "'\(bad)'") }
    }
}
