import Foundation
import LibPQ
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

@testable import SyncBench

/// The LIMS-shaped PostgreSQL producer against the test server: exactly LIMS's table, and the rows an
/// Image API's create, update, soft delete and hard delete leave.
@Suite struct PostgresLimsProducerTests {
    /// One LIMS row as read back: every column, `gps_coordinates` as PostgreSQL's text of the array.
    struct Row: Equatable, Sendable {
        var id: Int64
        var cameraId: Int64
        var data: [UInt8]?
        var gps: String
        var disease: String?
        var percentage: Double?
        var createdAt: Int64
        var updatedAt: Int64?
        var isActive: Bool
        var isDeleted: Bool
    }

    static func rows(_ connection: TestPostgresConnection, _ table: String) async throws -> [Row] {
        try await connection.run { connection in try rows(connection, table) }
    }

    @available(*, noasync)
    static func rows(_ connection: PGConnection, _ table: String) throws -> [Row] {
        let result = try connection.execute(
            "SELECT id, camera_id, data, gps_coordinates::text, disease, percentage, created_at, updated_at, is_active, is_deleted "
                + "FROM \(table) ORDER BY id")
        return try (0..<result.rowCount).map { r in
            Row(
                id: try result.int64(r, 0)!, cameraId: try result.int64(r, 1)!, data: result.bytes(r, 2), gps: try result.string(r, 3)!,
                disease: try result.string(r, 4), percentage: try result.double(r, 5), createdAt: try result.timestampMicros(r, 6)!,
                updatedAt: try result.timestampMicros(r, 7), isActive: try result.bool(r, 8)!, isDeleted: try result.bool(r, 9)!)
        }
    }

    static func row(_ record: ImageRecord, data: [UInt8]?) -> Row {
        Row(
            id: record.id, cameraId: record.cameraId, data: data, gps: "{\(record.latitude),\(record.longitude)}", disease: record.disease,
            percentage: record.percentage, createdAt: record.createdAt.microsecondsSinceEpoch,
            updatedAt: record.updatedAt?.microsecondsSinceEpoch, isActive: record.isActive, isDeleted: record.isDeleted)
    }

    /// A producer in a schema of its own (the harness uses `public`), dropped afterwards.
    func withProducer(_ body: (PostgresLimsProducer, TestPostgresConnection, String) async throws -> Void) async throws {
        let uri = try postgresURI()
        let schema = uniqueSchema()
        let producer = PostgresLimsProducer(conninfo: uri, schema: schema)
        try await withCleanup {
            try await producer.prepare()
            try await body(producer, try await TestPostgresConnection.connect(uri), schema)
        } cleanup: {
            try? await dropSchema(schema)
        }
    }

    @Test func createsExactlyLimsTablesWithTheWatermarkIndex() async throws {
        try await withProducer { producer, connection, schema in
            for plant in Plant.lims {
                let columns = try await connection.strings(
                    """
                    SELECT column_name, data_type, is_nullable FROM information_schema.columns
                    WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position
                    """, [.text(schema), .text("imagecolplant\(plant.rawValue)")])
                let described = columns.map { c in "\(c[0]!) \(c[1]!) \(c[2]! == "YES" ? "null" : "not null")" }
                #expect(
                    described == [
                        "id bigint not null", "camera_id bigint not null", "data bytea null", "gps_coordinates ARRAY not null",
                        "disease text null", "percentage double precision null", "created_at timestamp without time zone not null",
                        "updated_at timestamp without time zone null", "is_active boolean not null", "is_deleted boolean not null",
                    ])
                let definitions = try await connection.strings(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname",
                    [.text(schema), .text("imagecolplant\(plant.rawValue)")]
                ).map { $0[0]! }
                #expect(definitions.count == 2)
                #expect(definitions.contains { $0.contains("UNIQUE") && $0.contains("(id)") })
                #expect(definitions.contains { $0.contains("COALESCE(updated_at, created_at)") })
            }
            // Preparing again starts from empty tables.
            try await producer.create([record(.potato, 1)])
            try await producer.prepare()
            #expect(try await Self.rows(connection, producer.table(.potato)).isEmpty)
        }
    }

    func record(_ plant: Plant, _ id: Int64, disease: String? = nil) -> ImageRecord {
        ImageRecord(
            plant: plant, id: id, cameraId: 3 + id, data: [0xFF, 0xD8, UInt8(truncatingIfNeeded: id), 0, 7], latitude: 49.123_456_789_012_3,
            longitude: 14.1 + Double(id),
            disease: disease, percentage: disease == nil ? nil : 0.875,
            createdAt: Timestamp(microsecondsSinceEpoch: 1_700_000_000_123_456 + id))
    }

    @Test func createUpdateSoftAndHardDeleteLeaveLimsRows() async throws {
        try await withProducer { producer, connection, _ in
            let a = record(.tomato, 1)
            let b = record(.tomato, 2, disease: "it's \"Late Blight\"")
            let c = record(.pepper, 1)
            var many = (10...1_209).map { record(.potato, Int64($0)) }  // more than one INSERT statement
            many.append(a)
            try await producer.create([b, c] + many)
            #expect(try await Self.rows(connection, producer.table(.tomato)) == [Self.row(a, data: a.data), Self.row(b, data: b.data)])
            #expect(try await Self.rows(connection, producer.table(.pepper)) == [Self.row(c, data: c.data)])
            #expect(try await Self.rows(connection, producer.table(.potato)).count == 1_200)

            // An update (the disease recognizer's): fields and updated_at; without data the image stays.
            var updated = a
            updated.disease = "Early Blight"
            updated.percentage = 0.5
            updated.cameraId = 11
            updated.latitude = -0.000_001
            updated.updatedAt = Timestamp(microsecondsSinceEpoch: 1_700_000_100_000_001)
            updated.data = nil
            try await producer.update(updated)
            #expect(try await Self.rows(connection, producer.table(.tomato))[0] == Self.row(updated, data: a.data))

            // With data the image is replaced; a soft delete is an update setting is_deleted.
            var soft = updated
            soft.isDeleted = true
            soft.isActive = false
            soft.updatedAt = Timestamp(microsecondsSinceEpoch: 1_700_000_200_000_000)
            soft.data = [1, 2, 3]
            try await producer.update(soft)
            #expect(try await Self.rows(connection, producer.table(.tomato)) == [Self.row(soft, data: [1, 2, 3]), Self.row(b, data: b.data)])

            // A hard delete removes the row, and only that row.
            try await producer.delete(b.key, at: Timestamp(microsecondsSinceEpoch: 1_700_000_300_000_000))
            #expect(try await Self.rows(connection, producer.table(.tomato)) == [Self.row(soft, data: [1, 2, 3])])
            #expect(try await Self.rows(connection, producer.table(.pepper)).count == 1)

            // Updating a record the producer does not have is an error, not a silent no-op.
            await #expect(throws: HarnessError.self) { try await producer.update(b) }
        }
    }
}
