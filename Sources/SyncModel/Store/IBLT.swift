/// Invertible Bloom lookup tables over a plant's live records (docs/design.md §3, "Set
/// reconciliation"): each record is an element `(key, digest)` in the pair's digest domain; it is added
/// to one cell in each of three partitions of a table (and, for the strata estimator, to the table of
/// one stratum). A cell holds the count and the sums mod 2^64 of the keys and digests of its elements,
/// which SQL computes with one `GROUP BY` from 32-bit halves, like the range checksums. Subtracting the
/// consumer's table from the producer's cancels every element both hold; peeling the cells left with a
/// single element yields exactly the differing elements, when the table has about 1.3 or more cells per
/// difference.
///
/// Every hash is integer arithmetic modulo the prime 2^31 − 1 on values below 2^62, so SQL `bigint`,
/// MongoDB longs and Swift compute the same cells.
public enum IBLT {
    /// The prime modulus of every hash.
    public static let prime: Int64 = 2_147_483_647
    /// Multipliers and offsets of the element hash, the three cell hashes and the stratum hash.
    public static let keyMultiplier: Int64 = 1_103_515_245
    /// Per partition: the multiplier and offset of the element hash, and the multipliers of the key and
    /// of the digest's high half — so two elements whose 31-bit hashes collide still land apart.
    public static let cellHashes: [(multiplier: Int64, offset: Int64, key: Int64, high: Int64)] = [
        (48_271, 11, 40_692, 16_807), (69_621, 1_234_567, 40_014, 62_089_911), (16_807, 987_654_321, 630_360_016, 742_938_285),
    ]
    public static let stratumHash: (multiplier: Int64, offset: Int64) = (39_373, 2_718_281)

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

        /// From a store's sums of 32-bit halves (the element hashes are below 2^31: summed whole).
        public init(count: Int64, keyHigh: Int64, keyLow: Int64, digestHigh: Int64, digestLow: Int64, hashSum: Int64) {
            self.init(
                count: count, keySum: RowDigest.checksum(highSum: keyHigh, lowSum: keyLow),
                digestSum: RowDigest.checksum(highSum: digestHigh, lowSum: digestLow), hashSum: UInt64(bitPattern: hashSum))
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

    static func positiveMod(_ value: Int64) -> Int64 {
        let r = value % prime
        return r < 0 ? r + prime : r
    }

    /// The element hash in `0 ..< prime`: of both the key and the digest, so one key with two digests
    /// is two elements in different cells. Quadratic (`y² + y` of a linear mix `y`), not linear: the
    /// sums of a cell holding several elements must not look like the hash of one.
    public static func elementHash(key: Int64, digest: Int64) -> Int64 {
        let y = (positiveMod(key) * keyMultiplier % prime + positiveMod(digest)) % prime
        return (y * y % prime + y) % prime
    }

    /// The stratum of an element hash: 0 with probability ½, 1 with ¼, … (`Σ [s < prime >> i]`).
    public static func stratum(_ x: Int64, strata: Int) -> Int {
        let s = (x * stratumHash.multiplier + stratumHash.offset) % prime
        var stratum = 0
        for i in 1..<max(1, strata) where s < prime >> Int64(i) { stratum += 1 }
        return stratum
    }

    /// The three cells of an element (`x` its element hash) in a table of `shape`.
    public static func cells(key: Int64, digest: Int64, x: Int64, shape: Shape) -> [Int] {
        let base = (shape.strata == 1 ? 0 : stratum(x, strata: shape.strata)) * shape.cellsPerStratum
        let k = positiveMod(key)
        let high = positiveMod(digest >> 32)
        return cellHashes.enumerated().map { j, h in
            let position = ((x * h.multiplier + h.offset) % prime + k * h.key % prime + high * h.high % prime) % prime
            return base + j * shape.width + Int(position % Int64(shape.width))
        }
    }

    /// A table built on the client (for stores that read their elements rather than group them).
    public static func table(of elements: some Sequence<(key: Int64, digest: Int64)>, shape: Shape) -> [Int: Cell] {
        var table: [Int: Cell] = [:]
        for (key, digest) in elements {
            let x = elementHash(key: key, digest: digest)
            for cell in cells(key: key, digest: digest, x: x, shape: shape) {
                table[cell, default: Cell()].add(key, digest, hash: x, sign: 1)
            }
        }
        return table
    }

    /// `producer − consumer`, cell by cell.
    public static func subtract(_ producer: [Int: Cell], _ consumer: [Int: Cell]) -> [Int: Cell] {
        var difference = producer
        for (index, cell) in consumer { difference[index] = (difference[index] ?? Cell()) - cell }
        return difference.filter { !$0.value.isZero }
    }

    /// Peels the cells of `stratum` (all cells for a plain table): returns the differing elements, or
    /// `nil` if cells remain that hold more than one (the table was too small).
    public static func peel(_ difference: [Int: Cell], shape: Shape, stratum: Int = 0) -> [Element]? {
        let range = (stratum * shape.cellsPerStratum)..<((stratum + 1) * shape.cellsPerStratum)
        var cells = difference.filter { range.contains($0.key) }
        var found: [Element] = []
        var queue = Array(cells.keys)
        while let index = queue.popLast() {
            guard let cell = cells[index], cell.count == 1 || cell.count == -1 else { continue }
            let producer = cell.count == 1
            // A consumer-only element was subtracted: its sums are the negated key and digest.
            let key = Int64(bitPattern: producer ? cell.keySum : 0 &- cell.keySum)
            let digest = Int64(bitPattern: producer ? cell.digestSum : 0 &- cell.digestSum)
            // Pure: the sums are those of one element (its hash matches; a mixture passes with
            // probability 2^-31) that belongs in this cell.
            let x = elementHash(key: key, digest: digest)
            guard UInt64(bitPattern: x) == (producer ? cell.hashSum : 0 &- cell.hashSum) else { continue }
            let homes = Self.cells(key: key, digest: digest, x: x, shape: shape)
            guard key > 0, homes.contains(index) else { continue }
            found.append(Element(key: key, digest: digest, producer: producer))
            for home in homes {
                var updated = cells[home] ?? Cell()
                updated.add(key, digest, hash: x, sign: producer ? -1 : 1)
                cells[home] = updated.isZero ? nil : updated
                if !updated.isZero { queue.append(home) }
            }
            if found.count > 4 * shape.cellCount { return nil }  // cannot be: a cycle of impure cells
        }
        return cells.isEmpty ? found : nil
    }

    /// The strata estimate of the number of differing elements (Eppstein et al., "What's the
    /// difference?", SIGCOMM 2011): peel strata from the sparsest down; at the first that fails, scale
    /// what was found by 2^(stratum+1). Returns every element when every stratum peels.
    public static func estimate(_ difference: [Int: Cell], shape: Shape) -> (count: Int, elements: [Element]?) {
        var found: [Element] = []
        for stratum in stride(from: shape.strata - 1, through: 0, by: -1) {
            guard let elements = peel(difference, shape: shape, stratum: stratum) else {
                return (max(found.count, 1) << (stratum + 1), nil)
            }
            found += elements
        }
        return (found.count, found)
    }
}
