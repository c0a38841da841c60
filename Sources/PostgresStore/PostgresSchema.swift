import LibPQ
import SyncModel

/// The SQL of the PostgreSQL store. One table per schema holds all plants:
///
/// ```sql
/// image_record(plant, id, camera_id, data, latitude, longitude, disease, percentage,
///              created_at, updated_at, is_active, is_deleted, version_ts, version_tb, data_hash)
///   PRIMARY KEY (plant, id)
/// ```
/// - `version_ts` / `version_tb`: the record's `Version` (`Version.storedTiebreak`, so signed order =
///   version order). A row whose `version_tb` is `bigint` max is a **tombstone**: its record columns are
///   NULL, it hides the key from reads and keeps the delete's version until purged.
/// - `data_hash`: `ImageRecord.dataHash`, so range checksums never read image bytes.
/// - `data` has storage EXTERNAL: out of line, uncompressed (JPEGs do not compress).
/// - Index `(plant, version_ts)` serves incremental (watermark) reads; a partial index on tombstones
///   serves the purge.
struct PostgresSchema: Sendable {
    let schema: String

    /// Stored tiebreak of a tombstone (`Version.delete(ts:).storedTiebreak`).
    static let tombstoneTiebreak = Version.delete(ts: 0).storedTiebreak

    init(schema: String) throws(PostgresStoreError) {
        let valid = !schema.isEmpty && schema.utf8.count <= 63
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

    var live: String { "version_tb <> \(Self.tombstoneTiebreak)" }

    var create: [String] {
        [
            "SELECT pg_advisory_xact_lock(hashtext('plantsync.schema'))",
            "CREATE SCHEMA IF NOT EXISTS \(PGConnection.quoteIdentifier(schema))",
            """
            CREATE TABLE IF NOT EXISTS \(table) (
                plant       text    NOT NULL CHECK (plant IN ('potato', 'tomato', 'pepper')),
                id          bigint  NOT NULL CHECK (id > 0),
                camera_id   bigint,
                data        bytea,
                latitude    double precision,
                longitude   double precision,
                disease     text,
                percentage  double precision,
                created_at  timestamp,
                updated_at  timestamp,
                is_active   boolean,
                is_deleted  boolean,
                version_ts  bigint  NOT NULL,
                version_tb  bigint  NOT NULL,
                data_hash   bigint  NOT NULL DEFAULT 0,
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
            // JPEG bytes are already compressed: store them out of line without a futile pglz attempt.
            "ALTER TABLE \(table) ALTER COLUMN data SET STORAGE EXTERNAL",
            "CREATE INDEX IF NOT EXISTS image_record_version_idx ON \(table) (plant, version_ts)",
            """
            CREATE INDEX IF NOT EXISTS image_record_tombstone_idx ON \(table) (version_ts)
                WHERE version_tb = \(Self.tombstoneTiebreak)
            """,
        ]
    }

    static let recordColumns =
        "plant, id, camera_id, data, latitude, longitude, disease, percentage, created_at, updated_at, is_active, is_deleted"

    /// Multi-row conditional upsert. `withData == false` keeps the stored bytes (a new row gets NULL).
    func upsert(rows: Int, withData: Bool) -> String {
        let columns = withData ? Self.stagedColumns : Self.stagedColumns.filter { $0 != "data" && $0 != "data_hash" }
        return """
            INSERT INTO \(table) AS cur (\(columns.joined(separator: ", "))) VALUES \(Self.placeholders(rows: rows, width: columns.count))
            ON CONFLICT (plant, id) DO UPDATE SET \(Self.excludedAssignments(columns))
            WHERE (cur.version_ts, cur.version_tb) < (EXCLUDED.version_ts, EXCLUDED.version_tb)
            """
    }

    /// The session's staging table for `COPY`-based applies (temporary: no WAL, no indexes; emptied at
    /// every commit). Its columns are `stagedColumns`.
    var stagingTable: String { "pg_temp.plantsync_stage_\(schema)" }

    /// Every column of `image_record`, in table order (what `upsert` with data and the staging path write).
    static let stagedColumns = [
        "plant", "id", "camera_id", "data", "latitude", "longitude", "disease", "percentage", "created_at", "updated_at",
        "is_active", "is_deleted", "version_ts", "version_tb", "data_hash",
    ]

    /// `c = EXCLUDED.c` for every column but the key.
    static func excludedAssignments(_ columns: [String]) -> String {
        columns.filter { $0 != "plant" && $0 != "id" }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
    }

    /// Creates the session's staging table: the real table's columns, and its storage (`data` out of
    /// line, no futile compression attempt on JPEG bytes).
    var createStaging: String {
        "CREATE TEMPORARY TABLE IF NOT EXISTS plantsync_stage_\(schema) (LIKE \(table) INCLUDING STORAGE) ON COMMIT DELETE ROWS"
    }

    var copyIntoStaging: String { "COPY \(stagingTable) (\(Self.stagedColumns.joined(separator: ", "))) FROM STDIN (FORMAT binary)" }

    /// The conditional upsert of every staged row (keys are distinct: `apply` stages winners only).
    var upsertStaged: String {
        let columns = Self.stagedColumns.joined(separator: ", ")
        return """
            INSERT INTO \(table) AS cur (\(columns)) SELECT \(columns) FROM \(stagingTable)
            ON CONFLICT (plant, id) DO UPDATE SET \(Self.excludedAssignments(Self.stagedColumns))
            WHERE (cur.version_ts, cur.version_tb) < (EXCLUDED.version_ts, EXCLUDED.version_tb)
            """
    }

    /// Multi-row conditional tombstone write.
    func tombstone(rows: Int) -> String {
        """
        INSERT INTO \(table) AS cur (plant, id, version_ts, version_tb) VALUES \(Self.placeholders(rows: rows, width: 4))
        ON CONFLICT (plant, id) DO UPDATE SET camera_id = NULL, data = NULL, latitude = NULL, longitude = NULL,
            disease = NULL, percentage = NULL, created_at = NULL, updated_at = NULL, is_active = NULL,
            is_deleted = NULL, data_hash = 0, version_ts = EXCLUDED.version_ts, version_tb = EXCLUDED.version_tb
        WHERE (cur.version_ts, cur.version_tb) < (EXCLUDED.version_ts, EXCLUDED.version_tb)
        """
    }

    var pointRead: String {
        "SELECT \(Self.recordColumns) FROM \(table) WHERE plant = $1 AND id = $2 AND \(live)"
    }

    var count: String { "SELECT count(*) FROM \(table) WHERE plant = $1 AND \(live)" }

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

    var versionsPage: String {
        "SELECT id, version_ts, version_tb, data_hash FROM \(table) WHERE plant = $1 AND id >= $2 AND id < $3 ORDER BY id LIMIT $4"
    }

    var recordsByIds: String {
        "SELECT \(Self.recordColumns) FROM \(table) WHERE plant = $1 AND id = ANY($2::bigint[]) AND \(live) ORDER BY id"
    }

    var recordsPage: String {
        """
        SELECT \(Self.recordColumns) FROM \(table)
        WHERE plant = $1 AND id >= $2 AND id < $3 AND \(live) ORDER BY id LIMIT $4
        """
    }

    var changedSincePage: String {
        """
        SELECT \(Self.recordColumns) FROM \(table)
        WHERE plant = $1 AND version_ts >= $2 AND id >= $3 AND \(live) ORDER BY id LIMIT $4
        """
    }

    /// Compare-and-set rewrite of whole rows: only where the stored version equals the expected one.
    func replace(rows: Int) -> String {
        """
        UPDATE \(table) AS cur SET camera_id = v.camera_id, data = v.data, latitude = v.latitude,
            longitude = v.longitude, disease = v.disease, percentage = v.percentage, created_at = v.created_at,
            updated_at = v.updated_at, is_active = v.is_active, is_deleted = v.is_deleted,
            version_ts = v.version_ts, version_tb = v.version_tb, data_hash = v.data_hash
        FROM (VALUES \(Self.placeholders(rows: rows, width: 17, casts: Self.replaceCasts))) AS v(plant, id, camera_id, data,
            latitude, longitude, disease, percentage, created_at, updated_at, is_active, is_deleted,
            version_ts, version_tb, data_hash, expected_ts, expected_tb)
        WHERE cur.plant = v.plant AND cur.id = v.id AND cur.version_ts = v.expected_ts AND cur.version_tb = v.expected_tb
        """
    }

    static let replaceCasts = [
        "text", "bigint", "bigint", "bytea", "float8", "float8", "text", "float8", "timestamp", "timestamp", "bool", "bool",
        "bigint", "bigint", "bigint", "bigint", "bigint",
    ]

    var readState: String { "SELECT value FROM \(stateTable) WHERE name = $1" }

    var writeState: String {
        "INSERT INTO \(stateTable) (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
    }

    var purge: String {
        "DELETE FROM \(table) WHERE version_tb = \(Self.tombstoneTiebreak) AND version_ts < $1"
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
