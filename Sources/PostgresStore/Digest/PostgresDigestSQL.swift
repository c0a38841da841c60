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
        /// The disease as the `.postgres` digest hashes it: an expression whose hash is that of its
        /// UTF-8 bytes (`text COLLATE "C"` in a UTF-8 database, `convert_to(…, 'UTF8')` in any).
        var diseaseHashed: String
        var percentage: String
        var createdMicros: String
        var updatedMicros: String
        /// The timestamps as `timestamp` (without time zone) in UTC: what the `.postgres` digest hashes.
        var createdAt: String
        var updatedAt: String
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

    /// The `.postgres` digest of a row, a `bigint`: PostgreSQL's 64-bit record hash
    /// (`hash_record_extended`, each field by its type's extended hash: lookup3 over the image bytes,
    /// about 2 GB/s) of the canonical fields — `bigint` keys, `double precision`, the disease's UTF-8
    /// bytes, UTC `timestamp`s, `boolean`s, the bytes, and whether the bytes are not yet known (a NULL
    /// then takes their place). Digested in the server; the bytes never leave it. The server computes
    /// it at the speed of reading the bytes; PlantSync's own table stores it (`row_digest`, computed
    /// with each write), so its side reads no bytes at all (docs/design.md §3).
    static func digest(_ f: Fields) -> String {
        let data = f.dataUnknown.map { "CASE WHEN \($0) THEN NULL ELSE \(f.data) END" } ?? f.data
        let fields = [
            f.id, f.cameraId, f.latitude, f.longitude, f.diseaseHashed, f.percentage, f.createdAt, f.updatedAt, f.isActive,
            f.isDeleted, data, f.dataUnknown ?? "false",
        ]
        return "hash_record_extended(ROW(\(fields.joined(separator: ", "))), 0)"
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
    ///
    /// With `single` (one range), a plain aggregate over the range instead: no per-range `LATERAL`, so
    /// the server can read it with parallel workers — a whole-table checksum at the speed of a scan
    /// (the digest computed once per row: a set-returning function keeps it from being copied into
    /// both half sums).
    static func summaries(domain: DigestDomain, lowerParameter: Int, single: Bool = false, rows: (String, String) -> String) -> String {
        let upper = lowerParameter + 1
        let sums: String
        let fenced: String  // the single-range select list: the digest behind a set-returning function
        switch domain {
        case .metadata:
            let (high, low) = halfSums("t.tb")
            sums = "\(high), \(low), coalesce(sum(t.lc), 0)::bigint, count(t.k) FILTER (WHERE t.unk)"
            fenced = "r.k, r.tb, r.lc, r.unk"
        default:
            let (high, low) = halfSums("t.d")
            sums = "\(high), \(low)"
            fenced = "r.k, unnest(ARRAY[r.d]) AS d"
        }
        if single {
            let range = rows("($\(lowerParameter)::bigint[])[1]", "($\(upper)::bigint[])[1]")
            return "SELECT 1::bigint, count(t.k), \(sums) FROM (SELECT \(fenced) FROM (\(range)) r) t"
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

    /// The IBLT cells (`IBLT`) of the elements `(key, digest)` (`bigint` expressions over `from`),
    /// grouped in the server. Columns: cell, count, then the sums of the keys, the digests and the
    /// element hashes' check bits, as the text of their `numeric` values (decoded mod 2^64). Every hash is one
    /// `hashint8extended` call, as `IBLT` computes it. Each value is computed once: a set-returning
    /// function in a select list keeps its subquery from being merged into the one above (which would
    /// copy the digest — the bytes' hash — into every reference), and unlike `OFFSET 0` it lets the
    /// plan run in parallel workers.
    static func cells(key: String, digest: String, from: String, shape: IBLT.Shape) -> String {
        let mask = Int64.max
        let stratum: String
        if shape.strata == 1 {
            stratum = ""
        } else {
            let thresholds = IBLT.stratumThresholds(strata: shape.strata).map(String.init).joined(separator: ",")
            stratum = "(\(shape.strata - 1) - width_bucket(x & \(mask), '{\(thresholds)}'::bigint[])) * \(shape.cellsPerStratum) + "
        }
        let positions = IBLT.cellSeeds.enumerated().map { j, seed in
            "\(stratum)\(j * shape.width) + (hashint8extended(\(seed), x) & \(mask)) % \(shape.width)"
        }.joined(separator: ", ")
        return """
            SELECT c, count(*)::bigint, sum(k)::text, sum(d)::text, sum(h)::text
            FROM (
                SELECT k, d, x & \(IBLT.checkMask) AS h, unnest(ARRAY[\(positions)]) AS c
                FROM (SELECT k, d, unnest(ARRAY[hashint8extended(k, d)]) AS x FROM (
                    SELECT \(key) AS k, unnest(ARRAY[\(digest)]) AS d FROM \(from)) r) e
            ) t
            GROUP BY c
            """
    }

    /// Runs a `cells` query and decodes its rows into a table of `shape`, a row at a time (a table of
    /// a million cells never sits in memory as a result set). A cell outside the shape is an error.
    static func cells(
        _ connection: PGConnection, _ sql: String, _ parameters: [PGParameter], shape: IBLT.Shape
    ) throws(PGError) -> IBLT.Table {
        var table = IBLT.Table(shape: shape)
        func sum(_ result: PGResult, _ column: Int) throws(PGError) -> UInt64 {
            let text = try result.string(0, column) ?? "0"
            guard let value = IBLT.Cell.wrapping(decimal: text) else {
                throw PGError(sqlState: nil, message: "IBLT cell sum '\(text)' is not an integer", isTransient: false)
            }
            return value
        }
        try connection.forEachRow(sql, parameters) { (row: PGResult) throws(PGError) in
            let index = Int(try row.int64(0, 0) ?? -1)
            guard (0..<shape.cellCount).contains(index) else {
                throw PGError(sqlState: nil, message: "IBLT cell \(index) is outside the table's \(shape)", isTransient: false)
            }
            table[index] = IBLT.Cell(
                count: try row.int64(0, 1) ?? 0, keySum: try sum(row, 2), digestSum: try sum(row, 3), hashSum: try sum(row, 4))
        }
        return table
    }
}
