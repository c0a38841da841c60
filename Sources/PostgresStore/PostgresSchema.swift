import LibPQ
import SyncModel

/// The SQL of the PostgreSQL store. One table per schema holds all plants; its columns are
/// `PostgresRowCodec.columns`:
///
/// ```sql
/// image_record(plant, id, camera_id, data, latitude, longitude, disease, percentage, created_at,
///              updated_at, is_active, is_deleted, version_ts, version_tb, data_hash, data_ts, data_tb,
///              row_digest GENERATED ALWAYS AS (the `.postgres` digest) STORED)
///   PRIMARY KEY (plant, id)
/// ```
/// - `version_ts` / `version_tb`: the record's `Version` (`Version.storedTiebreak`, so signed order =
///   version order). A row whose `version_tb` is `bigint` max is a **tombstone**: its record columns are
///   NULL, it hides the key from reads and keeps the delete's version until purged.
/// - `data`, `data_hash`, `data_ts` / `data_tb`: the bytes register (docs/design.md §1) — the bytes of
///   the greatest-version change that carried bytes, their `ImageRecord.dataHash` (so range checksums
///   never read image bytes), and that change's version. `Version.minimum` with
///   `ImageRecord.unknownDataHash`: bytes not yet known. Deletes leave the register as it is.
/// - `data` has storage EXTERNAL: out of line, uncompressed (JPEGs do not compress).
/// - Index `(plant, version_ts)` serves incremental (watermark) reads; a partial index on tombstones
///   serves the purge; `(plant, id) INCLUDE (version_tb, row_digest)` lets diffs read a plant's
///   `(id, digest)` elements from the index alone.
struct PostgresSchema: Sendable {
    let schema: String

    /// Stored tiebreak of a tombstone (`Version.delete(ts:).storedTiebreak`).
    static let tombstoneTiebreak = PostgresRowCodec.tombstoneTiebreak

    /// Rows per multi-row statement the widest statement (`replace`) allows: PostgreSQL takes at most
    /// 65,535 bound parameters.
    static let maxRowsPerStatement = 65_535 / replaceWidth

    init(schema: String) throws(PostgresStoreError) {
        let valid =
            !schema.isEmpty && schema.utf8.count <= 63
            && schema.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
            && !(schema.utf8.first! >= 48 && schema.utf8.first! <= 57)
        guard valid else {
            throw PostgresStoreError(
                operation: "configure", sqlState: nil,
                message: "schema name '\(schema)' is invalid: use 1–63 lowercase letters, digits or '_', not starting with a digit",
                isTransient: false)
        }
        self.schema = schema
    }

    var table: String { PGConnection.quoteIdentifier(schema) + ".image_record" }

    var stateTable: String { PGConnection.quoteIdentifier(schema) + ".sync_state" }

    var gapTable: String { PGConnection.quoteIdentifier(schema) + ".stream_gap" }

    var positionTable: String { PGConnection.quoteIdentifier(schema) + ".stream_position" }

    // MARK: The gap ledger

    /// One gap ($1…$9); a gap already recorded is left as it is.
    var recordGap: String {
        """
        INSERT INTO \(gapTable) (gap_id, plant, topic, kafka_partition, first_offset, end_offset, record_id, reason, detected_us)
        VALUES ($1, $2, $3, $4::integer, $5::bigint, $6::bigint, $7::bigint, $8, $9::bigint) ON CONFLICT (gap_id) DO NOTHING
        """
    }

    var openGaps: String {
        """
        SELECT gap_id, plant, topic, kafka_partition, first_offset, end_offset, record_id, reason, detected_us
        FROM \(gapTable) WHERE closed_us IS NULL ORDER BY detected_us, gap_id
        """
    }

    /// Closes the open gaps among $1 (text[]) at $2 by $3.
    var closeGaps: String {
        "UPDATE \(gapTable) SET closed_us = $2::bigint, closed_by = $3 WHERE gap_id = ANY($1::text[]) AND closed_us IS NULL"
    }

    var readPositions: String { "SELECT topic, kafka_partition, next_offset FROM \(positionTable) WHERE group_id = $1" }

    /// Every partition's position at once, never moved back (see `GapLedger.recordStreamPositions`): $1 group, $2 topics (text[]), $3 partitions, $4 offsets (bigint[]).
    var writePositions: String {
        """
        INSERT INTO \(positionTable) (group_id, topic, kafka_partition, next_offset)
        SELECT $1, t, p::integer, o FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS u(t, p, o)
        ON CONFLICT (group_id, topic, kafka_partition)
        DO UPDATE SET next_offset = GREATEST(\(positionTable).next_offset, EXCLUDED.next_offset), updated_at = now()
        """
    }

    var live: String { "version_tb <> \(Self.tombstoneTiebreak)" }

    // MARK: Schema and migration

    var create: [String] {
        [
            "SELECT pg_advisory_xact_lock(hashtext('plantsync.schema'))",
            "CREATE SCHEMA IF NOT EXISTS \(PGConnection.quoteIdentifier(schema))",
            """
            CREATE TABLE IF NOT EXISTS \(table) (
                \((PostgresRowCodec.definitions + [Self.rowDigestDefinition]).joined(separator: ",\n    ")),
                PRIMARY KEY (plant, id),
                CHECK (version_tb = \(Self.tombstoneTiebreak)
                       OR (camera_id IS NOT NULL AND latitude IS NOT NULL AND longitude IS NOT NULL
                           AND created_at IS NOT NULL AND is_active IS NOT NULL AND is_deleted IS NOT NULL))
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS \(stateTable) (
                name        text PRIMARY KEY,
                value       bigint NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now()
            )
            """,
            // The gap ledger (docs/design.md §8): what StreamSync will never read, until healed.
            """
            CREATE TABLE IF NOT EXISTS \(gapTable) (
                gap_id          text PRIMARY KEY,
                plant           text NOT NULL,
                topic           text NOT NULL,
                kafka_partition integer NOT NULL,
                first_offset    bigint NOT NULL,
                end_offset      bigint,
                record_id       bigint,
                reason          text NOT NULL,
                detected_us     bigint NOT NULL,
                closed_us       bigint,
                closed_by       text
            )
            """,
            "CREATE INDEX IF NOT EXISTS stream_gap_open_idx ON \(gapTable) (detected_us) WHERE closed_us IS NULL",
            """
            CREATE TABLE IF NOT EXISTS \(positionTable) (
                group_id        text NOT NULL,
                topic           text NOT NULL,
                kafka_partition integer NOT NULL,
                next_offset     bigint NOT NULL,
                updated_at      timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (group_id, topic, kafka_partition)
            )
            """,
            // JPEG bytes are already compressed: store them out of line without a futile pglz attempt.
            "ALTER TABLE \(table) ALTER COLUMN data SET STORAGE EXTERNAL",
            "ALTER TABLE \(table) ADD COLUMN IF NOT EXISTS \(PostgresRowCodec.sourceIDColumn.name) \(PostgresRowCodec.sourceIDColumn.type)",
            """
            CREATE INDEX IF NOT EXISTS image_record_source_idx ON \(table) (plant, source_id)
                WHERE source_id IS NOT NULL
            """,
            "CREATE INDEX IF NOT EXISTS image_record_version_idx ON \(table) (plant, version_ts)",
            """
            CREATE INDEX IF NOT EXISTS image_record_tombstone_idx ON \(table) (version_ts)
                WHERE version_tb = \(Self.tombstoneTiebreak)
            """,
        ]
    }

    /// The plant column's check: the characters and length of a plant name (`Plant.namePattern`; the
    /// parser checks the rest before any value is bound). Any plant, none listed (docs/design.md §1).
    static let plantCheck = "image_record_plant_name CHECK (plant ~ '\(Plant.namePattern)')"

    /// Whether the table still has an earlier release's check listing LIMS's three plants ($1 the
    /// table): `PostgreSQL` named it `image_record_plant_check`.
    var hasPlantListCheck: String {
        "SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = 'image_record_plant_check'"
    }

    /// Replaces that check by `plantCheck`, `NOT VALID`: every existing row passed the stricter list, so
    /// the table is not scanned under the lock (new rows are checked all the same).
    var replacePlantListCheck: String {
        "ALTER TABLE \(table) DROP CONSTRAINT image_record_plant_check, ADD CONSTRAINT \(Self.plantCheck) NOT VALID"
    }

    /// The plants the table holds (tombstones too), each once, in order: a skip scan of the primary key
    /// `(plant, id)`, one index probe per plant however many rows there are (a `DISTINCT` would read
    /// every index entry: PostgreSQL has no skip scan of its own before 18).
    var plants: String {
        """
        WITH RECURSIVE p(plant) AS (
            (SELECT plant FROM \(table) ORDER BY plant LIMIT 1)
            UNION ALL
            SELECT (SELECT t.plant FROM \(table) t WHERE t.plant > p.plant ORDER BY t.plant LIMIT 1) FROM p WHERE p.plant IS NOT NULL
        )
        SELECT plant FROM p WHERE plant IS NOT NULL
        """
    }

    /// How many of the bytes register's version columns the table has ($1 schema, then the names):
    /// fewer than all means a table of the first release, to migrate.
    var registerColumnCount: String {
        let names = PostgresRowCodec.registerVersionColumns.indices.map { "$\($0 + 2)" }.joined(separator: ", ")
        return """
            SELECT count(*) FROM information_schema.columns
            WHERE table_schema = $1 AND table_name = 'image_record' AND column_name IN (\(names))
            """
    }

    /// The migration of a first-release table, in place and in `prepareSchema`'s transaction: the
    /// register's version columns (existing rows get `Version.minimum`, "not yet known"); a row with
    /// bytes got them with its record, so its register takes the record's version; a row without bytes
    /// (a tombstone, or a record created by a change without bytes) keeps an empty register, with the
    /// unknown data hash ($1) so BatchSync sees it and fills it in.
    var migrate: [String] {
        let added = PostgresRowCodec.columns.filter { PostgresRowCodec.registerVersionColumns.contains($0.name) }
        return [
            "ALTER TABLE \(table) "
                + added.map { "ADD COLUMN IF NOT EXISTS \($0.name) \($0.type)\($0.constraint)" }.joined(separator: ", "),
            "UPDATE \(table) SET data_ts = version_ts, data_tb = version_tb WHERE data IS NOT NULL AND \(live)",
            "UPDATE \(table) SET data_hash = $1 WHERE data IS NULL",
        ]
    }

    // MARK: Apply

    /// The record part is newer (`src`: the incoming row's alias). Written tight: the condition is
    /// repeated per column and the statement text travels with every batch.
    static func recordNewer(_ src: String) -> String {
        "(cur.version_ts,cur.version_tb)<(\(src).version_ts,\(src).version_tb)"
    }

    /// The bytes part is newer than the stored register (never for a row that carries no bytes: its
    /// `Version.minimum` is not newer than anything).
    static func bytesNewer(_ src: String) -> String {
        "(cur.data_ts,cur.data_tb)<(\(src).data_ts,\(src).data_tb)"
    }

    /// `c = CASE WHEN <part newer> THEN src.c ELSE cur.c END` for every column but the key: the record
    /// columns and version under `record`, the bytes register under `bytes`. With `keepMask`, a record
    /// column that a `keep_<field>` column of `src` marks kept stays as stored.
    static func assignments(from src: String, record: String, bytes: String, keepMask: Bool) -> String {
        PostgresRowCodec.columns.compactMap { column -> String? in
            let condition: String
            switch column.role {
            case .key: return nil
            case .record(let kept) where keepMask && !kept.isEmpty:
                condition = "(\(record)) AND NOT \(src).\(keepColumn(kept))"
            case .record, .version: condition = record
            case .data, .dataBookkeeping: condition = bytes
            case .source: return "\(column.name)=COALESCE(\(src).\(column.name),cur.\(column.name))"
            }
            return "\(column.name)=CASE WHEN \(condition) THEN \(src).\(column.name) ELSE cur.\(column.name) END"
        }.joined(separator: ",")
    }

    /// The keep-mask columns of `VALUES` lists that carry one (boolean, after the table's columns).
    static let keepColumns = KeptFields.named.filter { KeptFields.recordFields.contains($0.field) }.map(\.field)
    static func keepColumn(_ field: KeptFields) -> String { "keep_" + field.names.joined() }

    /// Multi-row conditional upsert of whole writes (`PostgresRow`): each part lands only if newer, and
    /// a row is touched only if one is.
    func upsert(rows: Int) -> String {
        """
        INSERT INTO \(table) AS cur (\(PostgresRowCodec.columnList)) VALUES \(Self.placeholders(rows: rows, width: PostgresRowCodec.columns.count))
        ON CONFLICT (plant, id) DO UPDATE SET \(Self.upsertAssignments)
        WHERE \(Self.recordNewer("EXCLUDED")) OR \(Self.bytesNewer("EXCLUDED"))
        """
    }

    /// `statement` (an `INSERT` or `UPDATE` of the table aliased `cur`) returning how many rows it wrote
    /// per plant (`plant`, `count`): a batch's per-plant counts from the one transaction that applies it.
    static func countingPlants(_ statement: String) -> String {
        "WITH w AS (\(statement)\nRETURNING cur.plant) SELECT plant, count(*) FROM w GROUP BY plant"
    }

    static let upsertAssignments = assignments(
        from: "EXCLUDED", record: recordNewer("EXCLUDED"), bytes: bytesNewer("EXCLUDED"), keepMask: false)

    /// The session's staging table for `COPY`-based applies (temporary: no WAL, no indexes; emptied at
    /// every commit). Its columns are the table's.
    var stagingTable: String { "pg_temp.plantsync_stage_\(schema)" }

    /// Creates the session's staging table: the real table's columns, and its storage (`data` out of
    /// line, no futile compression attempt on JPEG bytes).
    var createStaging: String {
        "CREATE TEMPORARY TABLE IF NOT EXISTS plantsync_stage_\(schema) (LIKE \(table) INCLUDING STORAGE) ON COMMIT DELETE ROWS"
    }

    var copyIntoStaging: String { PostgresCopyRows.copyCommand(into: stagingTable) }

    /// The conditional upsert of every staged row (keys are distinct: `apply` stages one write per key),
    /// in key order like the statement path, so that concurrent applies lock rows in one order.
    var upsertStaged: String {
        """
        INSERT INTO \(table) AS cur (\(PostgresRowCodec.columnList))
        SELECT \(PostgresRowCodec.columnList) FROM \(stagingTable) ORDER BY plant, id
        ON CONFLICT (plant, id) DO UPDATE SET \(Self.upsertAssignments)
        WHERE \(Self.recordNewer("EXCLUDED")) OR \(Self.bytesNewer("EXCLUDED"))
        """
    }

    /// Width of a keep-mask `VALUES` row: the table's columns, then one boolean per keepable field.
    static let keepingWidth = PostgresRowCodec.columns.count + keepColumns.count

    /// The `VALUES` alias list and casts of a keep-mask row (`extra`: further trailing columns).
    static func valuesColumns(extra: [(String, String)]) -> (names: String, casts: [String]) {
        let all = PostgresRowCodec.columns.map { ($0.name, $0.type) } + keepColumns.map { (keepColumn($0), "boolean") } + extra
        return (all.map(\.0).joined(separator: ", "), all.map(\.1))
    }

    /// The writes of upserts that keep record fields: an update of live rows only (a record is never
    /// created or resurrected from a change that does not know all of it); kept columns stay as stored.
    /// The bytes part (when the row carries one) lands on any existing row, tombstones included.
    func updateKeepingFields(rows: Int) -> String {
        let (names, casts) = Self.valuesColumns(extra: [])
        let record = "cur.\(live) AND \(Self.recordNewer("v"))"
        return """
            UPDATE \(table) AS cur SET \(Self.assignments(from: "v", record: record, bytes: Self.bytesNewer("v"), keepMask: true))
            FROM (VALUES \(Self.placeholders(rows: rows, width: casts.count, casts: casts))) AS v(\(names))
            WHERE cur.plant = v.plant AND cur.id = v.id AND ((\(record)) OR \(Self.bytesNewer("v")))
            """
    }

    // MARK: Reads

    var pointRead: String {
        "SELECT \(PostgresRowCodec.readList) FROM \(table) WHERE plant = $1 AND id = $2 AND \(live)"
    }

    var count: String { "SELECT count(*) FROM \(table) WHERE plant = $1 AND \(live)" }

    /// The ids of producer `_id`s ($1 plant, $2 a text array), tombstones included (`image_record_source_idx`).
    var keysBySource: String {
        "SELECT source_id, id FROM \(table) WHERE plant = $1 AND source_id = ANY($2::text[]) AND source_id IS NOT NULL"
    }

    var bounds: String { "SELECT min(id), max(id) FROM \(table) WHERE plant = $1" }

    /// Per-range count and the sums of the 32-bit halves of `version_tb` and `data_hash` (`RowDigest`).
    var summaries: String {
        """
        SELECT r.i, count(t.id),
               coalesce(sum(((t.version_tb >> 32) & 4294967295) + ((t.data_hash >> 32) & 4294967295)), 0)::bigint,
               coalesce(sum((t.version_tb & 4294967295) + (t.data_hash & 4294967295)), 0)::bigint
        FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS r(lo, hi, i)
        LEFT JOIN \(table) t ON t.plant = $1 AND t.id >= r.lo AND t.id < r.hi AND t.\(live)
        GROUP BY r.i ORDER BY r.i
        """
    }

    /// LIMS's fields over this table's columns (each name after `prefix`: `s.` in queries, nothing in
    /// the generated column) for the shared digest SQL: the digests of a row here equal those of the
    /// same record in any foreign table (docs/design.md §3).
    static func digestFields(prefix: String) -> PostgresDigestSQL.Fields {
        PostgresDigestSQL.Fields(
            id: "\(prefix)id", cameraId: "\(prefix)camera_id", latitude: "\(prefix)latitude", longitude: "\(prefix)longitude",
            disease: "\(prefix)disease", diseaseHashed: "\(prefix)disease COLLATE \"C\"", percentage: "\(prefix)percentage",
            createdMicros: PostgresDigestSQL.epochMicros("\(prefix)created_at"),
            updatedMicros: PostgresDigestSQL.epochMicros("\(prefix)updated_at"), createdAt: "\(prefix)created_at",
            updatedAt: "\(prefix)updated_at", isActive: "\(prefix)is_active", isDeleted: "\(prefix)is_deleted", data: "\(prefix)data",
            dataUnknown: "\(prefix)data_ts = \(Version.minimum.ts)")
    }

    static let digestFields = digestFields(prefix: "s.")

    /// The stored `.postgres` digest: computed by the server with every write of the row (`COPY` and
    /// upserts alike: a generated column is never written by name), so reading a plant's digests reads
    /// no image bytes. Its text must equal `PostgresDigestSQL.digest` of the same fields (a test checks
    /// the stored digests against the expression).
    static let rowDigestColumn = "row_digest"
    static var rowDigestDefinition: String {
        "\(rowDigestColumn) bigint GENERATED ALWAYS AS (\(PostgresDigestSQL.digest(digestFields(prefix: "")))) STORED"
    }

    /// Whether the table has `row_digest` ($1 schema): `prepareSchema` adds it to a table of an earlier
    /// release; until then (a dry run does not migrate) the digest is computed from the columns.
    var hasRowDigest: String {
        """
        SELECT count(*) FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = 'image_record' AND column_name = '\(Self.rowDigestColumn)'
        """
    }

    /// Adds `row_digest` to an older table: PostgreSQL rewrites the table once, computing every row's digest.
    var addRowDigest: String { "ALTER TABLE \(table) ADD COLUMN \(Self.rowDigestDefinition)" }

    /// The index a plant's `(id, digest)` elements are read from without visiting the table (an
    /// index-only scan): the IBLT cells and `.postgres` range sums of a million rows read ~40 MB of
    /// index instead of every row. Created after `row_digest` exists (a first start of this release
    /// on an older table builds it once).
    var createDigestIndex: String {
        "CREATE INDEX IF NOT EXISTS image_record_digest_idx ON \(table) (plant, id) INCLUDE (version_tb, \(Self.rowDigestColumn))"
    }

    /// Per-range count and checksum sums in `domain` ($1 plant, $2/$3 lower/upper bounds).
    func summaries(domain: DigestDomain, stored: Bool, single: Bool) -> String {
        let f = Self.digestFields
        let columns: String
        switch domain {
        case .plantsync, .mongo: return summaries
        case .postgres: columns = "s.id AS k, \(Self.rowDigest(.postgres, stored: stored)) AS d"
        case .metadata:
            columns = "s.id AS k, s.version_tb AS tb, \(PostgresDigestSQL.lengthCode(f)) AS lc, \(f.dataUnknown!) AS unk"
        }
        return PostgresDigestSQL.summaries(domain: domain, lowerParameter: 2, single: single) { lower, upper in
            "SELECT \(columns) FROM \(table) s WHERE s.plant = $1 AND s.id >= \(lower) AND s.id < \(upper) AND s.\(live)"
        }
    }

    /// The per-row digest in `domain` as a `bigint` (`RowDigest`, the `.postgres` digest,
    /// `MetadataDigest`), for IBLT cells.
    static func rowDigest(_ domain: DigestDomain, stored: Bool) -> String {
        let f = digestFields
        switch domain {
        case .plantsync, .mongo: return PostgresDigestSQL.wrap64("s.version_tb::numeric + s.data_hash::numeric")
        case .postgres: return stored ? "s.\(rowDigestColumn)" : PostgresDigestSQL.digest(f)
        case .metadata:
            let code = "(CASE WHEN \(f.dataUnknown!) THEN \(MetadataDigest.unknownLengthCode) ELSE \(PostgresDigestSQL.lengthCode(f)) END)"
            return PostgresDigestSQL.wrap64("s.version_tb::numeric + \(MetadataDigest.multiplier)::numeric * \(code)::numeric")
        }
    }

    /// IBLT cells of a plant's live rows ($1 plant).
    func cells(domain: DigestDomain, shape: IBLT.Shape, stored: Bool) -> String {
        PostgresDigestSQL.cells(key: "s.id", digest: Self.rowDigest(domain, stored: stored), from: "\(table) s WHERE s.plant = $1 AND s.\(live)", shape: shape)
    }

    /// Columns: id, version_ts, version_tb, the digest part, data_ts, data_tb. The digest part is
    /// `data_hash` (`.plantsync`), the row's `.postgres` digest, or its `.metadata` length code (-1
    /// while its bytes are not yet known).
    func versionsPage(domain: DigestDomain, stored: Bool) -> String {
        "\(versionColumns(domain, stored: stored)) WHERE plant = $1 AND id >= $2 AND id < $3 ORDER BY id LIMIT $4"
    }

    /// The same columns for the keys in $2 (`bigint[]`).
    func versionsByIds(domain: DigestDomain, stored: Bool) -> String {
        "\(versionColumns(domain, stored: stored)) WHERE plant = $1 AND id = ANY($2::bigint[]) ORDER BY id"
    }

    private func versionColumns(_ domain: DigestDomain, stored: Bool) -> String {
        let f = Self.digestFields
        let part: String
        switch domain {
        case .plantsync, .mongo: part = "data_hash"
        case .postgres: part = Self.rowDigest(.postgres, stored: stored)
        case .metadata: part = "CASE WHEN \(f.dataUnknown!) THEN -1 ELSE \(PostgresDigestSQL.lengthCode(f)) END"
        }
        return "SELECT id, version_ts, version_tb, \(part), data_ts, data_tb FROM \(table) s"
    }

    var recordsByIds: String {
        "SELECT \(PostgresRowCodec.readList) FROM \(table) WHERE plant = $1 AND id = ANY($2::bigint[]) AND \(live) ORDER BY id"
    }

    var recordsPage: String {
        """
        SELECT \(PostgresRowCodec.readList) FROM \(table)
        WHERE plant = $1 AND id >= $2 AND id < $3 AND \(live) ORDER BY id LIMIT $4
        """
    }

    var changedSincePage: String {
        """
        SELECT \(PostgresRowCodec.readList) FROM \(table)
        WHERE plant = $1 AND version_ts >= $2 AND id >= $3 AND \(live) ORDER BY id LIMIT $4
        """
    }

    // MARK: Repair

    static let replaceWidth = keepingWidth + 2

    /// Compare-and-set rewrite of whole rows, only where the stored version equals the expected one:
    /// the record part is the change's (kept record fields stay as stored), the bytes register the
    /// change's bytes if it carries some, else as it was.
    func replace(rows: Int) -> String {
        let (names, casts) = Self.valuesColumns(extra: [("expected_ts", "bigint"), ("expected_tb", "bigint")])
        let carried = "v.data_ts <> \(Version.minimum.ts)"
        return """
            UPDATE \(table) AS cur SET \(Self.assignments(from: "v", record: "TRUE", bytes: carried, keepMask: true))
            FROM (VALUES \(Self.placeholders(rows: rows, width: casts.count, casts: casts))) AS v(\(names))
            WHERE cur.plant = v.plant AND cur.id = v.id AND cur.version_ts = v.expected_ts AND cur.version_tb = v.expected_tb
            """
    }

    // MARK: State and purge

    var readState: String { "SELECT value FROM \(stateTable) WHERE name = $1" }

    var writeState: String {
        "INSERT INTO \(stateTable) (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
    }

    /// Deletes at most $2 tombstones older than $1 (one short statement, its own transaction): the
    /// `ctid`s come from the partial tombstone index; the outer condition re-checks each row, so one that
    /// a concurrent write resurrected meanwhile stays.
    var purgeBatch: String {
        let tombstone = "version_tb = \(Self.tombstoneTiebreak) AND version_ts < $1"
        return "DELETE FROM \(table) WHERE ctid = ANY(ARRAY(SELECT ctid FROM \(table) WHERE \(tombstone) LIMIT $2)) AND \(tombstone)"
    }

    /// `($1,$2,…),(…)`; with `casts`, each placeholder gets `::type` (needed outside INSERT, where
    /// PostgreSQL cannot infer a VALUES list's types from target columns).
    static func placeholders(rows: Int, width: Int, casts: [String]? = nil) -> String {
        var text = ""
        text.reserveCapacity(rows * width * 5)
        var n = 1
        for row in 0..<rows {
            if row > 0 { text += "," }
            text += "("
            for column in 0..<width {
                if column > 0 { text += "," }
                text += "$\(n)"
                if let casts { text += "::" + casts[column] }
                n += 1
            }
            text += ")"
        }
        return text
    }
}
