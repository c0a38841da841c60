/// Invertible Bloom lookup tables over a plant's live records (docs/design.md §3, "Set
/// reconciliation"): each record is an element `(key, digest)` in the pair's digest domain; it is added
/// to one cell in each of three partitions of a table (and, for the strata estimator, to the table of
/// one stratum). A cell holds the count and the sums mod 2^64 of the keys and digests of its elements,
/// which SQL computes with one `GROUP BY` (sums in `numeric`, reduced mod 2^64 here). Subtracting the
/// consumer's table from the producer's cancels every element both hold; peeling the cells left with a
/// single element yields exactly the differing elements, when the table has about 1.3 or more cells per
/// difference.
///
/// Every hash is PostgreSQL's `hashint8extended` (`Lookup3`), one call per hash, so SQL computes a
/// cell in a handful of function calls per row (and in parallel workers), and Swift computes the same.
public enum IBLT {
    /// Seeds of the three cell hashes (of the element hash).
    public static let cellSeeds: [Int64] = [1, 2, 3]
    /// The low 31 bits of the element hash: what a cell sums to tell one element from several.
    public static let checkMask: Int64 = 0x7FFF_FFFF

    /// The shape of a table: `strata` tables (1 for a plain IBLT) of three partitions of `width` cells.
    public struct Shape: Sendable, Hashable, CustomStringConvertible {
        public let strata: Int
        public let width: Int

        public init(strata: Int, width: Int) {
            precondition(strata >= 1 && strata <= 31 && width >= 1, "IBLT shape \(strata)×3×\(width)")
            self.strata = strata
            self.width = width
        }

        /// A plain table with at least `cells` cells.
        public static func table(cells: Int) -> Shape { Shape(strata: 1, width: max(1, (cells + 2) / 3)) }

        /// The strata estimator: 16 strata of 3 × 5 cells (240 cells, at most that many rows a side:
        /// ~23 kB, whatever the table's size — what a converged run costs).
        public static let estimator = Shape(strata: 16, width: 5)

        public var cellsPerStratum: Int { 3 * width }
        public var cellCount: Int { strata * cellsPerStratum }
        public var description: String { strata == 1 ? "\(cellCount) cells" : "\(strata) strata × \(cellsPerStratum) cells" }
    }

    /// The cells of a table for `elements` differing elements: three each plus 30 — well above the
    /// ~1.23 a large table needs to peel, and enough for an estimate low by up to 2×.
    public static func cells(forElements elements: Int) -> Int { 3 * elements + 30 }

    /// One cell: the number of elements and the sums of their keys, digests (mod 2^64) and element
    /// hashes. The hash sum tells a cell holding one element from one whose sums merely look like one.
    public struct Cell: Sendable, Hashable {
        public var count: Int64
        public var keySum: UInt64
        public var digestSum: UInt64
        public var hashSum: UInt64

        public init(count: Int64 = 0, keySum: UInt64 = 0, digestSum: UInt64 = 0, hashSum: UInt64 = 0) {
            self.count = count
            self.keySum = keySum
            self.digestSum = digestSum
            self.hashSum = hashSum
        }

        /// The value mod 2^64 of a decimal integer of any size (a `numeric` sum from SQL: `-`, then
        /// digits): `nil` for anything else. Wrapping arithmetic on the digits is exact mod 2^64.
        public static func wrapping(decimal text: some StringProtocol) -> UInt64? {
            var utf8 = Substring(text).utf8[...]
            let negative = utf8.first == UInt8(ascii: "-")
            if negative { utf8 = utf8.dropFirst() }
            guard !utf8.isEmpty else { return nil }
            var value: UInt64 = 0
            for byte in utf8 {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
            }
            return negative ? 0 &- value : value
        }

        public var isZero: Bool { count == 0 && keySum == 0 && digestSum == 0 && hashSum == 0 }

        mutating func add(_ key: Int64, _ digest: Int64, hash: Int64, sign: Int64) {
            count += sign
            let k = UInt64(bitPattern: key)
            let d = UInt64(bitPattern: digest)
            let h = UInt64(bitPattern: hash)
            keySum = sign > 0 ? keySum &+ k : keySum &- k
            digestSum = sign > 0 ? digestSum &+ d : digestSum &- d
            hashSum = sign > 0 ? hashSum &+ h : hashSum &- h
        }

        /// Adds another table's cell (the same cell index).
        public mutating func merge(_ other: Cell) {
            count += other.count
            keySum &+= other.keySum
            digestSum &+= other.digestSum
            hashSum &+= other.hashSum
        }

        static func - (a: Cell, b: Cell) -> Cell {
            Cell(
                count: a.count - b.count, keySum: a.keySum &- b.keySum, digestSum: a.digestSum &- b.digestSum,
                hashSum: a.hashSum &- b.hashSum)
        }
    }

    /// An element found on one side only: `producer` true for one the producer holds.
    public struct Element: Sendable, Hashable {
        public let key: Int64
        public let digest: Int64
        public let producer: Bool
    }

    /// A table of `shape`: every cell, dense (an empty cell is all zero), so a table of a million cells
    /// is 32 MB whatever a store sent, and subtraction and peeling work in place.
    public struct Table: Sendable, Equatable {
        public let shape: Shape
        public private(set) var cells: [Cell]

        public init(shape: Shape) {
            self.shape = shape
            cells = Array(repeating: Cell(), count: shape.cellCount)
        }

        public subscript(index: Int) -> Cell {
            get { cells[index] }
            set { cells[index] = newValue }
        }

        /// The cells holding anything: what a store sends (never an empty cell).
        public var occupied: Int { cells.count(where: { !$0.isZero }) }

        /// Adds another table of the same shape, cell by cell.
        public mutating func merge(_ other: Table) {
            precondition(other.shape == shape, "IBLT tables of shapes \(shape) and \(other.shape)")
            for index in cells.indices { cells[index].merge(other.cells[index]) }
        }

        /// Adds elements, each to its three cells.
        public mutating func add(_ elements: some Sequence<(key: Int64, digest: Int64)>) {
            for (key, digest) in elements {
                let x = elementHash(key: key, digest: digest)
                for cell in IBLT.cells(x: x, shape: shape) { cells[cell].add(key, digest, hash: check(x), sign: 1) }
            }
        }
    }

    /// The element hash, 64 bits of both the key and the digest (`hashint8extended(key, digest)`), so
    /// one key with two digests is two unrelated elements.
    public static func elementHash(key: Int64, digest: Int64) -> Int64 { Lookup3.int8Extended(key, seed: digest) }

    /// The part of the element hash a cell sums (`x & checkMask`): the sums of a cell holding several
    /// elements pass for one element's with probability 2^-31.
    public static func check(_ x: Int64) -> Int64 { x & checkMask }

    /// The stratum of an element hash: 0 with probability ½, 1 with ¼, … (`Σ [v < 2^(63−i)]` for the
    /// hash's low 63 bits `v`; bits 48–62 decide it, apart from the check's bits 0–30).
    public static func stratum(_ x: Int64, strata: Int) -> Int {
        let v = x & Int64.max
        var stratum = 0
        for i in 1..<max(1, strata) where v < Int64(1) << Int64(63 - i) { stratum += 1 }
        return stratum
    }

    /// The stratum thresholds, ascending (`2^(63−(strata−1))` … `2^62`): SQL's
    /// `(strata − 1) − width_bucket(v, thresholds)` is `stratum`.
    public static func stratumThresholds(strata: Int) -> [Int64] {
        stride(from: strata - 1, through: 1, by: -1).map { Int64(1) << Int64(63 - $0) }
    }

    /// The three cells of an element (`x` its element hash) in a table of `shape`: partition `j` at
    /// `hashint8extended(cellSeeds[j], x)`'s low 63 bits mod the width — `x` as the seed, whose 64 bits
    /// all count (a hashed value is folded to 32 bits first, and at 200,000 differences some pairs of
    /// elements would share all three cells).
    public static func cells(x: Int64, shape: Shape) -> [Int] {
        let base = (shape.strata == 1 ? 0 : stratum(x, strata: shape.strata)) * shape.cellsPerStratum
        return cellSeeds.enumerated().map { j, seed in
            base + j * shape.width + Int((Lookup3.int8Extended(seed, seed: x) & Int64.max) % Int64(shape.width))
        }
    }

    /// A table built on the client (for stores that read their elements rather than group them).
    public static func table(of elements: some Sequence<(key: Int64, digest: Int64)>, shape: Shape) -> Table {
        var table = Table(shape: shape)
        table.add(elements)
        return table
    }

    /// `producer − consumer`, cell by cell, in the producer's table (consumed: no copy of a large table).
    public static func subtract(_ producer: consuming Table, _ consumer: borrowing Table) -> Table {
        precondition(producer.shape == consumer.shape, "IBLT tables of shapes \(producer.shape) and \(consumer.shape)")
        for index in consumer.cells.indices { producer[index] = producer[index] - consumer[index] }
        return producer
    }

    /// Peels the cells of `stratum` (all cells for a plain table): returns the differing elements, or
    /// `nil` if cells remain that hold more than one (the table was too small).
    public static func peel(_ difference: consuming Table, stratum: Int = 0) -> [Element]? {
        let shape = difference.shape
        let range = (stratum * shape.cellsPerStratum)..<((stratum + 1) * shape.cellsPerStratum)
        var cells = consume difference  // peeled in place: a caller's last use is not copied
        var found: [Element] = []
        var queue = range.filter { !cells[$0].isZero }
        while let index = queue.popLast() {
            let cell = cells[index]
            guard cell.count == 1 || cell.count == -1 else { continue }
            let producer = cell.count == 1
            // A consumer-only element was subtracted: its sums are the negated key and digest.
            let key = Int64(bitPattern: producer ? cell.keySum : 0 &- cell.keySum)
            let digest = Int64(bitPattern: producer ? cell.digestSum : 0 &- cell.digestSum)
            // Pure: the sums are those of one element (its check bits match; a mixture passes with
            // probability 2^-31) that belongs in this cell.
            let x = elementHash(key: key, digest: digest)
            guard UInt64(bitPattern: check(x)) == (producer ? cell.hashSum : 0 &- cell.hashSum) else { continue }
            let homes = Self.cells(x: x, shape: shape)
            guard key > 0, homes.contains(index) else { continue }
            found.append(Element(key: key, digest: digest, producer: producer))
            for home in homes {
                cells[home].add(key, digest, hash: check(x), sign: producer ? -1 : 1)
                if !cells[home].isZero { queue.append(home) }
            }
            if found.count > 4 * shape.cellCount { return nil }  // cannot be: a cycle of impure cells
        }
        return range.allSatisfy { cells[$0].isZero } ? found : nil
    }

    /// The strata estimate of the number of differing elements (Eppstein et al., "What's the
    /// difference?", SIGCOMM 2011): peel strata from the sparsest down; at the first that fails, scale
    /// what was found by 2^(stratum+1). Returns every element when every stratum peels.
    public static func estimate(_ difference: Table) -> (count: Int, elements: [Element]?) {
        var found: [Element] = []
        for stratum in stride(from: difference.shape.strata - 1, through: 0, by: -1) {
            guard let elements = peel(difference, stratum: stratum) else {
                return (max(found.count, 1) << (stratum + 1), nil)
            }
            found += elements
        }
        return (found.count, found)
    }
}
