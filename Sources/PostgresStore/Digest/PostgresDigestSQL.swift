import LibPQ
import SyncModel

/// The SQL of the `.postgres` and `.metadata` digest domains (docs/design.md §3, "Digest domains"),
/// shared by PlantSync's own table and any foreign table: both build their expressions from
/// `Fields`, SQL expressions of LIMS's fields over their own columns, so equal records give equal
/// digests whatever the column names and types (`integer` or `bigint`, `real` or `double precision`,
/// `timestamp` or `timestamptz`, an array or two columns for the coordinates).
enum PostgresDigestSQL {
    /// SQL expressions of one row's LIMS fields, each already of the canonical type: `bigint` for `id`,
    /// `cameraId` and the microsecond timestamps, `double precision`, `text`, `boolean`, `bytea`.
    struct Fields {
        var id: String
        var cameraId: String
        var latitude: String
        var longitude: String
        var disease: String
        var percentage: String
        var createdMicros: String
        var updatedMicros: String
        var isActive: String
        var isDeleted: String
        var data: String
        /// A condition true where the row's bytes are not yet known (PlantSync's bytes register,
        /// docs/design.md §1); `nil` for a foreign table, whose bytes came with its record.
        var dataUnknown: String?
    }

    /// Microseconds since the epoch, UTC, of a `timestamp` or `timestamptz` expression (exact:
    /// `extract` returns `numeric` since PostgreSQL 14).
    static func epochMicros(_ expression: String) -> String {
        "(extract(epoch FROM \(expression)) * 1000000)::bigint"
    }

    /// The `.postgres` digest of a row, a `bigint`: the first 64 bits of `md5` over the canonical binary
    /// encoding of every field (fixed-width big-endian numbers, length-prefixed text, a presence byte
    /// before each nullable field), ending with `md5` of the image bytes — digested in the server; the
    /// bytes never leave it.
    static func digest(_ f: Fields) -> String {
        let present = "'\\x01'::bytea"
        let absent = "'\\x00'::bytea"
        var bytes = "coalesce(\(present) || decode(md5(\(f.data)), 'hex'), \(absent))"
        if let unknown = f.dataUnknown { bytes = "CASE WHEN \(unknown) THEN '\\x02'::bytea ELSE \(bytes) END" }
        let canonical = [
            "int8send(\(f.id))", "int8send(\(f.cameraId))", "float8send(\(f.latitude))", "float8send(\(f.longitude))",
            "coalesce(\(present) || int4send(octet_length(\(f.disease))) || convert_to(\(f.disease), 'UTF8'), \(absent))",
            "coalesce(\(present) || float8send(\(f.percentage)), \(absent))",
            "int8send(\(f.createdMicros))", "coalesce(\(present) || int8send(\(f.updatedMicros)), \(absent))",
            "CASE WHEN \(f.isActive) THEN \(present) ELSE \(absent) END",
            "CASE WHEN \(f.isDeleted) THEN \(present) ELSE \(absent) END",
            bytes,
        ].joined(separator: " || ")
        return "('x' || left(md5(\(canonical)), 16))::bit(64)::bigint"
    }

    /// The `.metadata` length code of a row (`MetadataDigest.lengthCode`): 0 for null bytes, length + 1
    /// otherwise, 0 also for bytes not yet known (those are counted apart). `octet_length` of an
    /// out-of-line value reads its TOAST header, not the bytes.
    static func lengthCode(_ f: Fields) -> String {
        let known = "coalesce(octet_length(\(f.data)) + 1, 0)"
        guard let unknown = f.dataUnknown else { return "\(known)::bigint" }
        return "(CASE WHEN \(unknown) THEN 0 ELSE \(known) END)::bigint"
    }

    /// The unsigned 32-bit halves of a `bigint` expression, summed (`RowDigest`): `sum` of values below
    /// 2^32 cannot overflow a `bigint` for fewer than 2^31 rows.
    static func halfSums(_ expression: String) -> (high: String, low: String) {
        ("coalesce(sum((\(expression) >> 32) & 4294967295), 0)::bigint", "coalesce(sum(\(expression) & 4294967295), 0)::bigint")
    }

    /// Per-range count and checksum sums of the rows a `LATERAL` subquery yields for each range of
    /// `unnest($l::bigint[], $u::bigint[])` (`rows(lo, hi)` gives the subquery's text for bounds `r.lo`,
    /// `r.hi`; it must select columns `k` (any non-null), `d` (`.postgres` digest) or `tb`, `lc`, `unk`
    /// (`.metadata`)). Result columns: i, count, then the domain's sums.
    static func summaries(domain: DigestDomain, lowerParameter: Int, rows: (String, String) -> String) -> String {
        let upper = lowerParameter + 1
        let sums: String
        switch domain {
        case .metadata:
            let (high, low) = halfSums("t.tb")
            sums = "\(high), \(low), coalesce(sum(t.lc), 0)::bigint, count(t.k) FILTER (WHERE t.unk)"
        default:
            let (high, low) = halfSums("t.d")
            sums = "\(high), \(low)"
        }
        return """
            SELECT r.i, count(t.k), \(sums)
            FROM unnest($\(lowerParameter)::bigint[], $\(upper)::bigint[]) WITH ORDINALITY AS r(lo, hi, i)
            LEFT JOIN LATERAL (\(rows("r.lo", "r.hi")) OFFSET 0) t ON true
            GROUP BY r.i ORDER BY r.i
            """
    }

    // MARK: Set reconciliation

    /// A `numeric` expression reduced mod 2^64 to the signed `bigint` of the same bits.
    static func wrap64(_ numeric: String) -> String {
        let two64 = "18446744073709551616::numeric"
        return
            "(CASE WHEN ((\(numeric)) % \(two64) + \(two64)) % \(two64) >= 9223372036854775808::numeric THEN ((\(numeric)) % \(two64) + \(two64)) % \(two64) - \(two64) ELSE ((\(numeric)) % \(two64) + \(two64)) % \(two64) END)::bigint"
    }

    /// (`OFFSET 0` keeps each derived table from being pulled up into its parent: without it the
    /// planner would inline the digest — `md5` of the image bytes — at every reference.)
    /// The IBLT cells (`IBLT`) of the elements a subquery yields (columns `k`, `d`: key and digest,
    /// `bigint`), grouped in the server. Columns: cell, count, key half sums, digest half sums, the sum of the element hashes. The
    /// hashes are `IBLT`'s, in `bigint` arithmetic that cannot overflow (operands below 2^31).
    static func cells(rows: String, shape: IBLT.Shape) -> String {
        let p = IBLT.prime
        let y = "((((r.k % \(p)) + \(p)) % \(p)) * \(IBLT.keyMultiplier) % \(p) + ((r.d % \(p)) + \(p)) % \(p)) % \(p)"
        let s = "((e.x * \(IBLT.stratumHash.multiplier) + \(IBLT.stratumHash.offset)) % \(p))"
        let stratum = shape.strata == 1 ? "0" : (1..<shape.strata).map { "(\(s) < \(p >> Int64($0)))::int" }.joined(separator: " + ")
        let hashes = IBLT.cellHashes.enumerated().map {
            "(\($0), \($1.multiplier)::bigint, \($1.offset)::bigint, \($1.key)::bigint, \($1.high)::bigint)"
        }.joined(separator: ", ")
        let position = "((e.x * h.m + h.a) % \(p) + e.km * h.km % \(p) + e.hi * h.hi % \(p)) % \(p)"
        let (kh, kl) = halfSums("t.k")
        let (dh, dl) = halfSums("t.d")
        return """
            SELECT t.c, count(*)::bigint, \(kh), \(kl), \(dh), \(dl), sum(t.x)::bigint
            FROM (
                SELECT e.k, e.d, e.x, (\(stratum)) * \(shape.cellsPerStratum) + h.j * \(shape.width) + \(position) % \(shape.width) AS c
                FROM (
                    SELECT y.k, y.d, (y.y * y.y % \(p) + y.y) % \(p) AS x, ((y.k % \(p)) + \(p)) % \(p) AS km,
                           (((y.d >> 32) % \(p)) + \(p)) % \(p) AS hi
                    FROM (SELECT r.k, r.d, \(y) AS y FROM (\(rows) OFFSET 0) r OFFSET 0) y OFFSET 0
                ) e
                CROSS JOIN (VALUES \(hashes)) AS h(j, m, a, km, hi)
            ) t
            GROUP BY t.c
            """
    }

    /// Decodes the rows of `cells`.
    static func decodeCells(_ result: PGResult) throws(PGError) -> [Int: IBLT.Cell] {
        var cells: [Int: IBLT.Cell] = [:]
        for row in 0..<result.rowCount {
            cells[Int(try result.int64(row, 0) ?? 0)] = IBLT.Cell(
                count: try result.int64(row, 1) ?? 0, keyHigh: try result.int64(row, 2) ?? 0, keyLow: try result.int64(row, 3) ?? 0,
                digestHigh: try result.int64(row, 4) ?? 0, digestLow: try result.int64(row, 5) ?? 0,
                hashSum: try result.int64(row, 6) ?? 0)
        }
        return cells
    }
}
