import BlockingExecutor
import CountingProxy
import Foundation
import LibPQ
import PostgresStore
import SyncModel

/// A producer as an application keeps it in PostgreSQL, written the way LIMS's Image API writes
/// (plain `INSERT`/`UPDATE`/`DELETE`, no PlantSync column), in a schema of its own; read back through
/// `ForeignPostgresStore`. Two shapes: LIMS's (one table per plant, LIMS's names, `bigint` key,
/// `double precision[]` coordinates, `timestamp`) and an application's own (one table with a plant
/// column, every column renamed, an `integer` key, two coordinate columns, `timestamptz`).
public struct LimsPostgresProducer: Sendable {
    public enum Shape: String, Sendable, CaseIterable, CustomStringConvertible {
        case limsTables
        case applicationTable
        public var description: String { rawValue }
    }

    public let shape: Shape
    public let schema: String
    public let uri: String
    private let queue = BlockingExecutor(label: "plantsync.tests.lims-postgres-producer")

    public var layout: ForeignLayout {
        switch shape {
        case .limsTables: return ForeignLayout(container: "\(schema).imagecolplant{plant}")
        case .applicationTable:
            return ForeignLayout(
                container: "\(schema).leaf_images", plantColumn: "kind",
                renamed: [
                    .id: "image_no", .cameraId: "camera", .data: "jpeg", .latitude: "lat", .longitude: "lon", .disease: "label",
                    .percentage: "confidence", .createdAt: "taken_at", .updatedAt: "modified_at", .isActive: "active",
                    .isDeleted: "deleted",
                ])
        }
    }

    /// Creates the tables in a new schema (`limsTables`: one per plant of `plants`; off Swift's cooperative pool).
    public static func create(shape: Shape, uri: String? = nil, plants: [Plant] = Plant.lims) async throws -> LimsPostgresProducer {
        let uri = try uri ?? postgresURI()
        return try await offPool("plantsync.tests.lims-postgres-producer") { try LimsPostgresProducer(shape: shape, uri: uri, plants: plants) }
    }

    @available(*, noasync)
    private init(shape: Shape, uri: String, plants: [Plant]) throws {
        self.shape = shape
        self.uri = uri
        self.schema = uniqueSchema()
        let connection = try PGConnection(conninfo: self.uri)
        try connection.execute("CREATE SCHEMA \(schema)")
        switch shape {
        case .limsTables:
            for plant in plants {
                try connection.execute(
                    """
                    CREATE TABLE \(schema).imagecolplant\(plant) (
                        id bigint PRIMARY KEY, camera_id bigint NOT NULL, data bytea, gps_coordinates double precision[] NOT NULL,
                        disease text, percentage double precision, created_at timestamp NOT NULL, updated_at timestamp,
                        is_active boolean NOT NULL, is_deleted boolean NOT NULL, uploaded_by text DEFAULT 'camera-job')
                    """)
                try connection.execute("CREATE INDEX ON \(schema).imagecolplant\(plant) ((coalesce(updated_at, created_at)))")
            }
        case .applicationTable:
            try connection.execute(
                """
                CREATE TABLE \(schema).leaf_images (
                    kind text NOT NULL, image_no integer NOT NULL, camera integer NOT NULL, jpeg bytea, lat double precision NOT NULL,
                    lon double precision NOT NULL, label varchar(80), confidence double precision, taken_at timestamptz NOT NULL,
                    modified_at timestamptz, active boolean NOT NULL, deleted boolean NOT NULL, PRIMARY KEY (kind, image_no))
                """)
        }
    }

    public var store: ForeignPostgresStore {
        get throws { try ForeignPostgresStore(.init(conninfo: uri, layout: layout, applicationName: "lims-producer-test")) }
    }

    /// Writes the records (insert or overwrite, as the Image API's create and update do), on a
    /// dispatch queue: libpq blocks, and a test must not starve Swift's cooperative thread pool.
    public func write(_ records: [ImageRecord]) async throws {
        try await queue.run {
            let connection = try PGConnection(conninfo: self.uri)
            try connection.execute("BEGIN")
            for record in records { try connection.execute(self.upsert(record.plant), self.parameters(record)) }
            try connection.execute("COMMIT")
        }
    }

    /// Removes rows outright (LIMS's `DELETE /image-plant/{plant}/{id}`).
    public func delete(_ keys: [RecordKey]) async throws {
        try await queue.run { try self.deleteNow(keys) }
    }

    private func deleteNow(_ keys: [RecordKey]) throws {
        let connection = try PGConnection(conninfo: uri)
        for key in keys {
            switch shape {
            case .limsTables:
                try connection.execute("DELETE FROM \(schema).imagecolplant\(key.plant) WHERE id = $1", [.int(key.id)])
            case .applicationTable:
                try connection.execute(
                    "DELETE FROM \(schema).leaf_images WHERE kind = $1 AND image_no = $2", [.text(key.plant.rawValue), .int(key.id)])
            }
        }
    }

    /// Runs raw SQL on the producer (tests that change it behind PlantSync's back).
    public func execute(_ sql: String, _ parameters: [PGParameter] = []) throws {
        _ = try PGConnection(conninfo: uri).execute(sql, parameters)
    }

    /// Writes `records` into the table of their plant; `$1`… in the order of `parameters`.
    private func upsert(_ plant: Plant) -> String {
        let at = { (n: Int, zoned: Bool) in "('epoch'::\(zoned ? "timestamptz" : "timestamp") + $\(n)::bigint * interval '1 microsecond')" }
        switch shape {
        case .limsTables:
            return """
                INSERT INTO \(schema).imagecolplant\(plant) (id, camera_id, data, gps_coordinates, disease, percentage, created_at,
                    updated_at, is_active, is_deleted)
                VALUES ($1, $2, $3, ARRAY[$4::float8, $5::float8], $6, $7, \(at(8, false)), \(at(9, false)), $10, $11)
                ON CONFLICT (id) DO UPDATE SET camera_id = EXCLUDED.camera_id, data = EXCLUDED.data,
                    gps_coordinates = EXCLUDED.gps_coordinates, disease = EXCLUDED.disease, percentage = EXCLUDED.percentage,
                    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, is_active = EXCLUDED.is_active,
                    is_deleted = EXCLUDED.is_deleted
                """
        case .applicationTable:
            return """
                INSERT INTO \(schema).leaf_images (image_no, camera, jpeg, lat, lon, label, confidence, taken_at, modified_at, active,
                    deleted, kind)
                VALUES ($1, $2, $3, $4, $5, $6, $7, \(at(8, true)), \(at(9, true)), $10, $11, $12)
                ON CONFLICT (kind, image_no) DO UPDATE SET camera = EXCLUDED.camera, jpeg = EXCLUDED.jpeg, lat = EXCLUDED.lat,
                    lon = EXCLUDED.lon, label = EXCLUDED.label, confidence = EXCLUDED.confidence, taken_at = EXCLUDED.taken_at,
                    modified_at = EXCLUDED.modified_at, active = EXCLUDED.active, deleted = EXCLUDED.deleted
                """
        }
    }

    private func parameters(_ r: ImageRecord) -> [PGParameter] {
        var values: [PGParameter] = [
            .int(r.id), .int(r.cameraId), r.data.map(PGParameter.bytes) ?? .null, .double(r.latitude), .double(r.longitude),
            r.disease.map(PGParameter.text) ?? .null, r.percentage.map(PGParameter.double) ?? .null,
            .int(r.createdAt.microsecondsSinceEpoch), r.updatedAt.map { .int($0.microsecondsSinceEpoch) } ?? .null,
            .bool(r.isActive), .bool(r.isDeleted),
        ]
        if shape == .applicationTable { values.append(.text(r.plant.rawValue)) }
        return values
    }

    public func write(_ record: ImageRecord) async throws { try await write([record]) }

    /// Drops the schema in the background (off Swift's cooperative pool; callable from a `defer`).
    public func drop() { Task { [schema] in try? await dropSchema(schema) } }
}

/// A counting proxy in front of the test PostgreSQL (TCP in, the server's unix socket out) and a URI
/// that reaches the server through it with `user`: bytes on the wire, counted outside the job.
public func postgresThroughProxy(name: String, user: String = "plantsync") async throws -> (proxy: CountingProxy, uri: String) {
    let uri = try postgresURI()
    guard let components = URLComponents(string: uri),
        let host = components.queryItems?.first(where: { $0.name == "host" })?.value
    else { throw SetupError("PLANTSYNC_PG_URI has no host socket directory: \(uri)") }
    let port = components.queryItems?.first(where: { $0.name == "port" })?.value ?? "5432"
    let proxy = try await CountingProxy.start(name: name, upstream: .unixSocket(path: host + "/.s.PGSQL.\(port)"))
    return (proxy, "postgresql://\(user)@127.0.0.1:\(proxy.port)/postgres?sslmode=disable")
}
