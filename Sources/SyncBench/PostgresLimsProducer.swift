import BlockingExecutor
import Foundation
import LibPQ
import SyncBenchCore
import SyncModel

/// The producer as LIMS keeps it in PostgreSQL: one ordinary table per plant, `imagecolplant<plant>`,
/// with LIMS's field names and nothing of PlantSync's. Writes are the plain SQL an Image API would
/// send — INSERT on create, UPDATE setting `updated_at` (and `is_deleted` for a soft delete), DELETE for
/// a hard delete — every value a bound parameter (docs/design.md §3). The index on
/// `coalesce(updated_at, created_at)` is what BatchSync's watermark strategy reads by.
final class PostgresLimsProducer: LimsProducer, @unchecked Sendable {
    // @unchecked Sendable is safe: `connection` is only touched inside blocks run on `queue`.
    let conninfo: String
    let schema: String
    /// The plants it has a table of.
    let plants: [Plant]
    let description: ProducerDescription
    private let queue = BlockingExecutor(label: "syncbench.lims-producer.postgres")
    private var connection: PGConnection?

    /// Rows per INSERT statement when creating many (10 parameters each, well under libpq's 65,535).
    static let rowsPerInsert = 500

    init(conninfo: String, schema: String = "public", plants: [Plant] = Plant.lims) {
        self.conninfo = conninfo
        self.schema = schema
        self.plants = plants
        description = ProducerDescription(
            layout: .lims, engine: "postgresql", location: "\(schema).imagecolplant{plant}", timestampPrecision: .microseconds)
    }

    /// `schema.imagecolplant<plant>`, quoted.
    func table(_ plant: Plant) -> String {
        PGConnection.quoteIdentifier(schema) + "." + PGConnection.quoteIdentifier(plant.limsCollection)
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        try await queue.run { [self] in
            if connection == nil || connection?.isHealthy == false { connection = try PGConnection(conninfo: conninfo) }
            return try body(connection!)
        }
    }

    func prepare() async throws {
        let tables = plants.map(table)
        let schema = PGConnection.quoteIdentifier(schema)
        try await run { connection in
            try connection.execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
            for table in tables {
                try connection.execute("DROP TABLE IF EXISTS \(table)")
                try connection.execute(
                    """
                    CREATE TABLE \(table) (
                        id bigint PRIMARY KEY,
                        camera_id bigint NOT NULL,
                        data bytea,
                        gps_coordinates double precision[] NOT NULL,
                        disease text,
                        percentage double precision,
                        created_at timestamp NOT NULL,
                        updated_at timestamp,
                        is_active boolean NOT NULL,
                        is_deleted boolean NOT NULL
                    )
                    """)
                try connection.execute("CREATE INDEX ON \(table) ((coalesce(updated_at, created_at)))")
            }
        }
    }

    /// The ten values of a row, in column order.
    static func parameters(_ record: ImageRecord) -> [PGParameter] {
        [
            .int(record.id), .int(record.cameraId), record.data.map { .bytes($0) } ?? .null,
            gps(record), text(record.disease), record.percentage.map { .double($0) } ?? .null,
            .timestamp(microsecondsSinceEpoch: record.createdAt.microsecondsSinceEpoch),
            record.updatedAt.map { .timestamp(microsecondsSinceEpoch: $0.microsecondsSinceEpoch) } ?? .null,
            .bool(record.isActive), .bool(record.isDeleted),
        ]
    }

    /// `[latitude, longitude]` as a binary `double precision[]`: the stored coordinates are exactly the record's.
    static func gps(_ record: ImageRecord) -> PGParameter { .float8Array([record.latitude, record.longitude]) }

    static func text(_ value: String?) -> PGParameter { value.map { .text($0) } ?? .null }

    func create(_ records: [ImageRecord]) async throws {
        let groups = Dictionary(grouping: records, by: \.plant)
        var statements: [(String, [PGParameter])] = []
        for (plant, rows) in groups.sorted(by: { $0.key < $1.key }) {
            var start = 0
            while start < rows.count {
                let chunk = rows[start..<min(rows.count, start + Self.rowsPerInsert)]
                var values: [String] = []
                var parameters: [PGParameter] = []
                for record in chunk {
                    let first = parameters.count + 1
                    values.append("(" + (first..<(first + 10)).map { "$\($0)" }.joined(separator: ", ") + ")")
                    parameters += Self.parameters(record)
                }
                statements.append(
                    (
                        "INSERT INTO \(table(plant)) (id, camera_id, data, gps_coordinates, disease, percentage, created_at, updated_at, "
                            + "is_active, is_deleted) VALUES " + values.joined(separator: ", "), parameters
                    ))
                start += Self.rowsPerInsert
            }
        }
        let all = statements
        try await run { connection in
            guard all.count > 1 else {
                if let only = all.first { try connection.execute(only.0, only.1) }
                return
            }
            try connection.execute("BEGIN")
            do {
                for (sql, parameters) in all { try connection.execute(sql, parameters) }
                try connection.execute("COMMIT")
            } catch {
                _ = try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    func update(_ record: ImageRecord) async throws {
        var sql =
            "UPDATE \(table(record.plant)) SET camera_id = $2, gps_coordinates = $3, disease = $4, percentage = $5, "
            + "updated_at = $6, is_active = $7, is_deleted = $8"
        var parameters: [PGParameter] = [
            .int(record.id), .int(record.cameraId), Self.gps(record), Self.text(record.disease),
            record.percentage.map { .double($0) } ?? .null,
            record.updatedAt.map { .timestamp(microsecondsSinceEpoch: $0.microsecondsSinceEpoch) } ?? .null,
            .bool(record.isActive), .bool(record.isDeleted),
        ]
        if let data = record.data {
            sql += ", data = $9"
            parameters.append(.bytes(data))
        }
        sql += " WHERE id = $1"
        let statement = sql
        let values = parameters
        let key = record.key
        let updated = try await run { connection in try connection.execute(statement, values).affectedRows }
        guard updated == 1 else { throw HarnessError("LIMS producer: update of \(key) found \(updated) rows") }
    }

    func delete(_ key: RecordKey, at: Timestamp) async throws {
        let sql = "DELETE FROM \(table(key.plant)) WHERE id = $1"
        _ = try await run { connection in try connection.execute(sql, [.int(key.id)]).affectedRows }
    }
}
