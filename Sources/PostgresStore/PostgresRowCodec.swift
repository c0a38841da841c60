import LibPQ
import SyncModel

/// The PostgreSQL row codec: the one owner of `image_record`'s ordered column list. The DDL, every
/// statement's column list, bound parameters, `COPY` rows and record decoding are derived from
/// `columns`, so their orders cannot drift apart.
///
/// The order is the table's: a table created by the first release and migrated in place gets
/// `data_ts`/`data_tb` appended (`ALTER TABLE … ADD COLUMN`), which gives the same layout as a fresh one.
enum PostgresRowCodec {
    /// Stored tiebreak of a tombstone (`Version.delete(ts:).storedTiebreak`).
    static let tombstoneTiebreak = Version.delete(ts: 0).storedTiebreak

    static let columns: [PostgresColumn] = [
        .init(name: "plant", type: "text", constraint: " NOT NULL CONSTRAINT \(PostgresSchema.plantCheck)", role: .key) {
            .text($0.key.plant.rawValue)
        },
        .init(name: "id", type: "bigint", constraint: " NOT NULL CHECK (id > 0)", role: .key) { .int64($0.key.id) },
        .init(name: "camera_id", type: "bigint", constraint: "", role: .record(kept: [])) { row in
            row.record.map { .int64($0.cameraId) } ?? .null
        },
        .init(name: "data", type: "bytea", constraint: "", role: .data) { row in row.data.map(PGParameter.bytes) ?? .null },
        .init(name: "latitude", type: "double precision", constraint: "", role: .record(kept: .gpsCoordinates)) { row in
            row.record.map { .float8($0.latitude) } ?? .null
        },
        .init(name: "longitude", type: "double precision", constraint: "", role: .record(kept: .gpsCoordinates)) { row in
            row.record.map { .float8($0.longitude) } ?? .null
        },
        .init(name: "disease", type: "text", constraint: "", role: .record(kept: .disease)) { row in
            row.record?.disease.map(PGParameter.text) ?? .null
        },
        .init(name: "percentage", type: "double precision", constraint: "", role: .record(kept: [])) { row in
            row.record?.percentage.map(PGParameter.float8) ?? .null
        },
        .init(name: "created_at", type: "timestamp", constraint: "", role: .record(kept: [])) { row in
            row.record.map { .timestamp(microsecondsSinceEpoch: $0.createdAt.microsecondsSinceEpoch) } ?? .null
        },
        .init(name: "updated_at", type: "timestamp", constraint: "", role: .record(kept: [])) { row in
            row.record?.updatedAt.map { .timestamp(microsecondsSinceEpoch: $0.microsecondsSinceEpoch) } ?? .null
        },
        .init(name: "is_active", type: "boolean", constraint: "", role: .record(kept: [])) { row in
            row.record.map { .bool($0.isActive) } ?? .null
        },
        .init(name: "is_deleted", type: "boolean", constraint: "", role: .record(kept: [])) { row in
            row.record.map { .bool($0.isDeleted) } ?? .null
        },
        .init(name: "version_ts", type: "bigint", constraint: " NOT NULL", role: .version) { .int64($0.version.ts) },
        .init(name: "version_tb", type: "bigint", constraint: " NOT NULL", role: .version) { .int64($0.version.storedTiebreak) },
        .init(name: "data_hash", type: "bigint", constraint: " NOT NULL DEFAULT 0", role: .dataBookkeeping) { .int64($0.dataHash) },
        .init(name: "data_ts", type: "bigint", constraint: " NOT NULL DEFAULT \(Version.minimum.ts)", role: .dataBookkeeping) {
            .int64($0.bytesVersion.ts)
        },
        .init(name: "data_tb", type: "bigint", constraint: " NOT NULL DEFAULT \(Version.minimum.storedTiebreak)", role: .dataBookkeeping) {
            .int64($0.bytesVersion.storedTiebreak)
        },
        // `prepareSchema` adds it to an earlier release's table (`ADD COLUMN`); statements name their columns.
        .init(name: "source_id", type: "text", constraint: "", role: .source) { row in row.sourceID.map { .text($0.rawValue) } ?? .null },
    ]

    /// The column `prepareSchema` adds to an earlier release's table.
    static let sourceIDColumn = columns.first { $0.role == .source }!

    /// The bytes register's version columns: what `prepareSchema`'s migration adds to a first-release table.
    static let registerVersionColumns = ["data_ts", "data_tb"]

    /// `plant, id, …` in table order: every column a write names.
    static let columnList = columns.map(\.name).joined(separator: ", ")

    /// The columns of `CREATE TABLE`, in table order.
    static var definitions: [String] { columns.map { "\($0.name) \($0.type)\($0.constraint)" } }

    /// The parameters of one row, in table order.
    static func parameters(_ row: PostgresRow, into out: inout [PGParameter]) {
        for column in columns { out.append(column.value(row)) }
    }

    /// One row of `COPY … (FORMAT binary)`: the field count, then every column in table order.
    static func appendCopyRow(_ row: PostgresRow, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + 200 + (row.data?.count ?? 0) + (row.record?.disease?.utf8.count ?? 0))
        PGBinary.append(Int16(columns.count), to: &out)
        for column in columns { column.value(row).appendCopyField(to: &out) }
    }

    // MARK: Reading records

    /// The columns record queries select, in table order.
    static let readColumns = columns.filter(\.isReadByRecordQueries)
    static let readList = readColumns.map(\.name).joined(separator: ", ")
    private static let readIndex = Dictionary(uniqueKeysWithValues: readColumns.enumerated().map { ($1.name, $0) })

    /// Position of `name` in `readList`.
    private static func read(_ name: String) -> Int {
        guard let index = readIndex[name] else { preconditionFailure("column '\(name)' is not read by record queries") }
        return index
    }

    private static let plantColumn = read("plant"), idColumn = read("id"), cameraColumn = read("camera_id")
    private static let dataColumn = read("data"), latitudeColumn = read("latitude"), longitudeColumn = read("longitude")
    private static let diseaseColumn = read("disease"), percentageColumn = read("percentage")
    private static let createdColumn = read("created_at"), updatedColumn = read("updated_at")
    private static let activeColumn = read("is_active"), deletedColumn = read("is_deleted")

    /// Decodes a live row selected with `readList`. A NULL in a required column or an unknown plant is
    /// an error naming the column and the value.
    static func decodeRecord(_ result: PGResult, row: Int) throws(PGError) -> ImageRecord {
        func required<T>(_ value: T?, _ column: Int) throws(PGError) -> T {
            guard let value else {
                throw PGError(sqlState: nil, message: "column '\(result.columnName(column))' is NULL in a live row", isTransient: false)
            }
            return value
        }
        let plantName = try required(try result.string(row, plantColumn), plantColumn)
        guard let plant = Plant(rawValue: plantName) else {
            throw PGError(sqlState: nil, message: "column 'plant' holds unknown plant '\(plantName)'", isTransient: false)
        }
        return ImageRecord(
            plant: plant,
            id: try required(try result.int64(row, idColumn), idColumn),
            cameraId: try required(try result.int64(row, cameraColumn), cameraColumn),
            data: result.bytes(row, dataColumn),
            latitude: try required(try result.double(row, latitudeColumn), latitudeColumn),
            longitude: try required(try result.double(row, longitudeColumn), longitudeColumn),
            disease: try result.string(row, diseaseColumn),
            percentage: try result.double(row, percentageColumn),
            createdAt: Timestamp(microsecondsSinceEpoch: try required(try result.timestampMicros(row, createdColumn), createdColumn)),
            updatedAt: try result.timestampMicros(row, updatedColumn).map(Timestamp.init(microsecondsSinceEpoch:)),
            isActive: try required(try result.bool(row, activeColumn), activeColumn),
            isDeleted: try required(try result.bool(row, deletedColumn), deletedColumn))
    }
}
