import BlockingExecutor
import Foundation
import LibPQ
import SyncModel

/// LIMS's own database in the chaos run: a LIMS-shaped foreign PostgreSQL producer (one table
/// `imagecolplant<plant>` per plant, LIMS's column names and types, no PlantSync column) in schema
/// `chaos_lims` of the same throwaway server, written by the generator before it publishes each event,
/// as LIMS's Image API writes its database and then publishes. It is what StreamSync heals gaps from
/// (`--producer-uri`, `--producer-table chaos_lims.imagecolplant{plant}`, layout lims).
///
/// The table shape and the writes are those of TestSupport's `LimsPostgresProducer` (`limsTables`):
/// timestamps are `timestamp` in microseconds, so the version a `ForeignPostgresStore` derives
/// (`updated_at ?? created_at`, tiebreak from the content) is the one the event carries.
///
/// Every call runs on its own serial `BlockingExecutor` (libpq blocks); the one connection is only
/// touched there, which is why the class is `@unchecked Sendable`.
final class LimsProducerDatabase: @unchecked Sendable {
    static let schema = "chaos_lims"
    /// StreamSync's `--producer-table` for it.
    static var table: String { "\(schema).imagecolplant{plant}" }

    /// One change as the Image API applies it.
    enum Change: Sendable {
        /// Insert or overwrite the whole row (create, update, soft delete): the key's full current state.
        case upsert(ImageRecord)
        /// `DELETE /image-plant/{plant}/{id}`: the row goes.
        case delete(RecordKey)
    }

    let uri: String
    /// How long one change is retried while the server is unreachable (the PostgreSQL outage of the run:
    /// the Image API cannot write then either, so the generator waits, as LIMS's users would).
    let retryFor: Duration
    private let blocking = BlockingExecutor(label: "plantsync.chaos.lims-producer")
    /// Only used on `blocking`.
    private var connection: PGConnection?
    /// Only used on `blocking`: changes that needed more than one try (the outage).
    private var retried = 0

    init(uri: String, retryFor: Duration = .seconds(120)) {
        self.uri = uri
        self.retryFor = retryFor
    }

    /// Drops and creates the schema with a table per plant.
    func create(plants: [Plant]) async throws {
        try await blocking.run {
            let connection = try PGConnection(conninfo: self.uri)
            try connection.execute("DROP SCHEMA IF EXISTS \(Self.schema) CASCADE")
            try connection.execute("CREATE SCHEMA \(Self.schema)")
            for plant in plants {
                try connection.execute(
                    """
                    CREATE TABLE \(Self.schema).imagecolplant\(plant) (
                        id bigint PRIMARY KEY, camera_id bigint NOT NULL, data bytea, gps_coordinates double precision[] NOT NULL,
                        disease text, percentage double precision, created_at timestamp NOT NULL, updated_at timestamp,
                        is_active boolean NOT NULL, is_deleted boolean NOT NULL, uploaded_by text DEFAULT 'camera-job')
                    """)
                try connection.execute("CREATE INDEX ON \(Self.schema).imagecolplant\(plant) ((coalesce(updated_at, created_at)))")
            }
        }
    }

    /// Applies one change, retrying (new connection every 200 ms) while the server is unreachable.
    func apply(_ change: Change) async throws {
        let deadline = ContinuousClock.now + retryFor
        try await blocking.run {
            var tries = 0
            while true {
                tries += 1
                do {
                    if self.connection == nil { self.connection = try PGConnection(conninfo: self.uri) }
                    try self.write(change, on: self.connection!)
                    if tries > 1 { self.retried += 1 }
                    return
                } catch {
                    self.connection = nil
                    if ContinuousClock.now >= deadline {
                        throw ChaosError("LIMS's producer database: cannot apply a change after \(tries) tries: \(error)")
                    }
                    Thread.sleep(forTimeInterval: 0.2)
                }
            }
        }
    }

    /// Changes that needed more than one try.
    func retriedChanges() async throws -> Int { try await blocking.run { self.retried } }

    func close() async {
        _ = try? await blocking.run { self.connection = nil }
    }

    private func write(_ change: Change, on connection: PGConnection) throws {
        switch change {
        case .delete(let key):
            try connection.execute("DELETE FROM \(Self.schema).imagecolplant\(key.plant) WHERE id = $1", [.int(key.id)])
        case .upsert(let r):
            let at = { (n: Int) in "('epoch'::timestamp + $\(n)::bigint * interval '1 microsecond')" }
            try connection.execute(
                """
                INSERT INTO \(Self.schema).imagecolplant\(r.plant) (id, camera_id, data, gps_coordinates, disease, percentage,
                    created_at, updated_at, is_active, is_deleted)
                VALUES ($1, $2, $3, ARRAY[$4::float8, $5::float8], $6, $7, \(at(8)), \(at(9)), $10, $11)
                ON CONFLICT (id) DO UPDATE SET camera_id = EXCLUDED.camera_id, data = EXCLUDED.data,
                    gps_coordinates = EXCLUDED.gps_coordinates, disease = EXCLUDED.disease, percentage = EXCLUDED.percentage,
                    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, is_active = EXCLUDED.is_active,
                    is_deleted = EXCLUDED.is_deleted
                """,
                [
                    .int(r.id), .int(r.cameraId), r.data.map(PGParameter.bytes) ?? .null, .double(r.latitude), .double(r.longitude),
                    r.disease.map(PGParameter.text) ?? .null, r.percentage.map(PGParameter.double) ?? .null,
                    .int(r.createdAt.microsecondsSinceEpoch), r.updatedAt.map { .int($0.microsecondsSinceEpoch) } ?? .null,
                    .bool(r.isActive), .bool(r.isDeleted),
                ])
        }
    }
}

extension LimsStream {
    /// The change LIMS's Image API applies to its database for `event`, just made by `next()`: the key's
    /// full current state (partial updates keep the stored bytes: those of `bytesRevision`), or a delete.
    func producerChange(for event: StreamEvent) -> LimsProducerDatabase.Change {
        let entry = truth[event.key]!
        if entry.deleted { return .delete(event.key) }
        var record = entry.record
        record.data = bytes(event.key, revision: entry.bytesRevision)
        return .upsert(record)
    }
}
