import LibPQ
import SyncModel

/// The SQL of one plant's records in a foreign table (`ForeignLayout`): every field read as an SQL
/// expression of LIMS's canonical type, so the application's own column names and types (any integer
/// or `numeric` key, `real`/`double precision`, `timestamp`/`timestamptz`, a `double precision[]`
/// or two columns for the coordinates) are read alike. Identifiers are quoted; values are bound.
struct ForeignPostgresTable: Sendable {
    let plant: Plant
    /// `schema.table` or `table`, quoted.
    let name: String
    /// The plant filter on a shared table (`s."plant" = $1`) or `TRUE`.
    let filter: String
    /// Parameters the filter binds, first in every statement.
    let leading: [PGParameter]
    /// The created/updated column type is `timestamp with time zone` (else without).
    let zoned: Bool
    let fields: PostgresDigestSQL.Fields
    /// Columns: the ten record fields in `ForeignPostgresTable.recordColumns` order.
    let fieldList: String

    /// `schema.table` or `table`, each part quoted.
    static func quotedName(_ container: String) -> String {
        container.split(separator: ".", maxSplits: 1).map { PGConnection.quoteIdentifier(String($0)) }.joined(separator: ".")
    }

    /// The fields selected by every record query, in order (`data` follows when selected).
    static let recordColumns = [
        "id", "camera_id", "latitude", "longitude", "disease", "percentage", "created_at", "updated_at", "is_active", "is_deleted",
    ]

    init(layout: ForeignLayout, plant: Plant, zoned: Bool) {
        self.plant = plant
        self.zoned = zoned
        let container = layout.container(for: plant)
        self.name = Self.quotedName(container)
        if let plantColumn = layout.plantColumn, !layout.isPerPlant {
            filter = "s.\(PGConnection.quoteIdentifier(plantColumn)) = $1"
            leading = [.text(plant.rawValue)]
        } else {
            filter = "TRUE"
            leading = []
        }
        func column(_ field: ForeignLayout.Field) -> String { "s." + PGConnection.quoteIdentifier(layout.name(field)) }
        let latitude: String
        let longitude: String
        if layout.splitsCoordinates {
            latitude = "\(column(.latitude))::float8"
            longitude = "\(column(.longitude))::float8"
        } else {
            latitude = "(\(column(.gpsCoordinates)))[1]::float8"
            longitude = "(\(column(.gpsCoordinates)))[2]::float8"
        }
        fields = PostgresDigestSQL.Fields(
            id: "\(column(.id))::int8", cameraId: "\(column(.cameraId))::int8", latitude: latitude, longitude: longitude,
            disease: "\(column(.disease))::text", diseaseHashed: "convert_to(\(column(.disease))::text, 'UTF8')",
            percentage: "\(column(.percentage))::float8",
            createdMicros: PostgresDigestSQL.epochMicros(column(.createdAt)),
            updatedMicros: PostgresDigestSQL.epochMicros(column(.updatedAt)),
            createdAt: Self.utcTimestamp(column(.createdAt), zoned: zoned), updatedAt: Self.utcTimestamp(column(.updatedAt), zoned: zoned),
            isActive: "\(column(.isActive))::boolean", isDeleted: "\(column(.isDeleted))::boolean", data: "\(column(.data))::bytea",
            dataUnknown: nil)
        fieldList = [
            fields.id, fields.cameraId, fields.latitude, fields.longitude, fields.disease, fields.percentage,
            fields.createdMicros, fields.updatedMicros, fields.isActive, fields.isDeleted,
        ].joined(separator: ", ")
        idColumn = column(.id)
        versionColumn = "coalesce(\(column(.updatedAt)), \(column(.createdAt)))"
    }

    /// A `timestamp` or `timestamptz` column as a `timestamp` in UTC (a `timestamp` column already is
    /// one: LIMS writes UTC).
    static func utcTimestamp(_ column: String, zoned: Bool) -> String {
        zoned ? "(\(column) AT TIME ZONE 'UTC')" : "\(column)::timestamp"
    }

    /// The key column as stored (compared with `bigint` parameters: PostgreSQL's integer operator
    /// families compare across widths, so the primary key's index serves every range).
    let idColumn: String
    /// `coalesce(updated_at, created_at)`: what the version's `ts` is, and what `watermark` filters on.
    let versionColumn: String

    /// `$n` for the `k`-th parameter after the leading ones (1-based).
    func p(_ k: Int) -> String { "$\(leading.count + k)" }

    var from: String { "\(name) s WHERE \(filter)" }

    var pointRead: String { "SELECT \(fieldList), \(fields.data) FROM \(from) AND \(idColumn) = \(p(1))::bigint" }
    var count: String { "SELECT count(*) FROM \(from)" }
    var bounds: String { "SELECT min(\(idColumn))::int8, max(\(idColumn))::int8 FROM \(from)" }

    func recordsPage(withData: Bool, extra: String? = nil) -> String {
        let columns = [fieldList] + (withData ? [fields.data] : []) + (extra.map { [$0] } ?? [])
        return """
            SELECT \(columns.joined(separator: ", ")) FROM \(from) AND \(idColumn) >= \(p(1))::bigint AND \(idColumn) < \(p(2))::bigint
            ORDER BY \(idColumn) LIMIT \(p(3))
            """
    }

    /// The record fields without bytes and the domain's digest part, for the keys in `p(1)`.
    func versionsByIds(_ domain: DigestDomain) -> String {
        "SELECT \(fieldList), \(digestColumn(domain)) FROM \(from) AND \(idColumn) = ANY(\(p(1))::bigint[]) ORDER BY \(idColumn)"
    }

    var recordsByIds: String {
        "SELECT \(fieldList), \(fields.data) FROM \(from) AND \(idColumn) = ANY(\(p(1))::bigint[]) ORDER BY \(idColumn)"
    }

    /// Records whose `coalesce(updated_at, created_at)` is at least the microseconds of `p(1)`,
    /// compared in the columns' own type, so an expression index on exactly
    /// `coalesce(updated_at, created_at)` serves it (docs/design.md §3; without one, a scan in the
    /// server, no more bytes on the wire).
    var changedSincePage: String {
        let since = "('epoch'::\(zoned ? "timestamptz" : "timestamp") + \(p(1))::bigint * interval '1 microsecond')"
        return """
            SELECT \(fieldList), \(fields.data) FROM \(from) AND \(versionColumn) >= \(since) AND \(idColumn) >= \(p(2))::bigint
            ORDER BY \(idColumn) LIMIT \(p(3))
            """
    }

    /// `.postgres` range sums, computed in the server (`single`: one range, read in parallel).
    func summaries(single: Bool) -> String {
        PostgresDigestSQL.summaries(domain: .postgres, lowerParameter: leading.count + 1, single: single) { lower, upper in
            "SELECT \(idColumn) AS k, \(PostgresDigestSQL.digest(fields)) AS d FROM \(from) AND \(idColumn) >= \(lower) AND \(idColumn) < \(upper)"
        }
    }

    /// IBLT cells of the `.postgres` digests, grouped in the server.
    func cells(shape: IBLT.Shape) -> String {
        PostgresDigestSQL.cells(key: fields.id, digest: PostgresDigestSQL.digest(fields), from: from, shape: shape)
    }

    /// The extra column of a versions page: the `.postgres` digest, or the `.metadata` length code.
    func digestColumn(_ domain: DigestDomain) -> String {
        domain == .postgres ? PostgresDigestSQL.digest(fields) : PostgresDigestSQL.lengthCode(fields)
    }

    /// Decodes the ten record fields (and `data` at column 10 when `withData`). A NULL in a required
    /// field is an error naming the table, field and id.
    func decode(_ result: PGResult, row: Int, withData: Bool) throws(PGError) -> ImageRecord {
        let id = try result.int64(row, 0)
        func required<T>(_ value: T?, _ column: Int) throws(PGError) -> T {
            guard let value else {
                throw PGError(
                    sqlState: nil,
                    message: "\(name): field '\(Self.recordColumns[column])' is NULL for id \(id.map(String.init) ?? "NULL")",
                    isTransient: false)
            }
            return value
        }
        return ImageRecord(
            plant: plant, id: try required(id, 0), cameraId: try required(try result.int64(row, 1), 1),
            data: withData ? result.bytes(row, 10) : nil,
            latitude: try required(try result.double(row, 2), 2), longitude: try required(try result.double(row, 3), 3),
            disease: try result.string(row, 4), percentage: try result.double(row, 5),
            createdAt: Timestamp(microsecondsSinceEpoch: try required(try result.int64(row, 6), 6)),
            updatedAt: try result.int64(row, 7).map(Timestamp.init(microsecondsSinceEpoch:)),
            isActive: try required(try result.bool(row, 8), 8), isDeleted: try required(try result.bool(row, 9), 9))
    }
}
