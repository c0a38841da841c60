import Foundation
import LibPQ
import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// A consumer database made by the first release — its DDL and SQL, copied from
/// `git show 1605eb1:Sources/PostgresStore/PostgresSchema.swift` — opened by this release: `prepareSchema`
/// migrates it in place (docs/design.md §1, bytes register), every record keeps its fields and bytes,
/// and the register behaves as if the bytes had come with the record.
@Suite struct FirstReleaseMigrationTests {
    static let tombstoneTiebreak = Version.delete(ts: 0).storedTiebreak

    /// The first release's `PostgresSchema.create`.
    static func firstReleaseDDL(_ schema: String) -> [String] {
        let table = PGConnection.quoteIdentifier(schema) + ".image_record"
        return [
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
                CHECK (version_tb = \(tombstoneTiebreak)
                       OR (camera_id IS NOT NULL AND latitude IS NOT NULL AND longitude IS NOT NULL
                           AND created_at IS NOT NULL AND is_active IS NOT NULL AND is_deleted IS NOT NULL))
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS \(PGConnection.quoteIdentifier(schema)).sync_state (
                name        text PRIMARY KEY,
                value       bigint NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now()
            )
            """,
            "ALTER TABLE \(table) ALTER COLUMN data SET STORAGE EXTERNAL",
            "CREATE INDEX IF NOT EXISTS image_record_version_idx ON \(table) (plant, version_ts)",
            """
            CREATE INDEX IF NOT EXISTS image_record_tombstone_idx ON \(table) (version_ts)
                WHERE version_tb = \(tombstoneTiebreak)
            """,
        ]
    }

    static let firstReleaseColumns = [
        "plant", "id", "camera_id", "data", "latitude", "longitude", "disease", "percentage", "created_at", "updated_at",
        "is_active", "is_deleted", "version_ts", "version_tb", "data_hash",
    ]

    /// The first release's `upsert(rows: 1, withData:)`.
    static func firstReleaseUpsert(_ schema: String, withData: Bool) -> String {
        let columns = withData ? firstReleaseColumns : firstReleaseColumns.filter { $0 != "data" && $0 != "data_hash" }
        let assignments = columns.filter { $0 != "plant" && $0 != "id" }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        return """
            INSERT INTO \(PGConnection.quoteIdentifier(schema)).image_record AS cur (\(columns.joined(separator: ", ")))
            VALUES (\(columns.indices.map { "$\($0 + 1)" }.joined(separator: ",")))
            ON CONFLICT (plant, id) DO UPDATE SET \(assignments)
            WHERE (cur.version_ts, cur.version_tb) < (EXCLUDED.version_ts, EXCLUDED.version_tb)
            """
    }

    /// The first release's `tombstone(rows: 1)`.
    static func firstReleaseTombstone(_ schema: String) -> String {
        """
        INSERT INTO \(PGConnection.quoteIdentifier(schema)).image_record AS cur (plant, id, version_ts, version_tb) VALUES ($1,$2,$3,$4)
        ON CONFLICT (plant, id) DO UPDATE SET camera_id = NULL, data = NULL, latitude = NULL, longitude = NULL,
            disease = NULL, percentage = NULL, created_at = NULL, updated_at = NULL, is_active = NULL,
            is_deleted = NULL, data_hash = 0, version_ts = EXCLUDED.version_ts, version_tb = EXCLUDED.version_tb
        WHERE (cur.version_ts, cur.version_tb) < (EXCLUDED.version_ts, EXCLUDED.version_tb)
        """
    }

    /// The first release's parameters of an upsert (its `buildStatements`).
    static func firstReleaseParameters(_ change: Change, withData: Bool) -> [PGParameter] {
        let r = change.record!
        var parameters: [PGParameter] = [.text(r.plant.rawValue), .int(r.id), .int(r.cameraId)]
        if withData { parameters.append(r.data.map(PGParameter.bytes) ?? .null) }
        parameters += [
            .double(r.latitude), .double(r.longitude), r.disease.map(PGParameter.text) ?? .null,
            r.percentage.map(PGParameter.double) ?? .null,
            .timestamp(microsecondsSinceEpoch: r.createdAt.microsecondsSinceEpoch),
            r.updatedAt.map { .timestamp(microsecondsSinceEpoch: $0.microsecondsSinceEpoch) } ?? .null, .bool(r.isActive), .bool(r.isDeleted),
            .int(change.version.ts), .int(change.version.storedTiebreak),
        ]
        if withData { parameters.append(.int(Int64(bitPattern: r.dataHash))) }
        return parameters
    }

    @Test func aFirstReleaseDatabaseKeepsEveryRecordAndItsBytesAndMigratesOnce() async throws {
        let uri = try postgresURI()
        let schema = uniqueSchema()
        defer { Task { try? await dropSchema(schema) } }
        let old = try await offPool { try FirstReleaseConnection(uri: uri, schema: schema) }

        // Filled by the first release's SQL: records with bytes, one with `data: null`, records created by
        // an event without `data` (no bytes), records updated without `data`, tombstones.
        var rng = SplitMix64(seed: 77)
        var live: [ImageRecord] = []
        var withoutBytes: Set<Int64> = []
        func write(_ change: Change) async throws { try await offPool { try old.write(change) } }
        for id in 1...Int64(50) {
            var record = randomRecord(plant: .tomato, id: id, rng: &rng, tsRange: 1_000...100_000, dataBytes: 64)
            switch id % 5 {
            case 0:  // created by an event without data: no bytes
                try await write(.upsert(record, keepsStoredData: true))
                record.data = nil
                withoutBytes.insert(id)
                live.append(record)
            case 1:  // deleted
                try await write(.upsert(record))
                try await write(.delete(record.key, at: Timestamp(microsecondsSinceEpoch: 1_000_000)))
            case 2:  // updated without data: bytes kept
                try await write(.upsert(record))
                var update = record
                update.updatedAt = Timestamp(microsecondsSinceEpoch: record.versionTimestamp.microsecondsSinceEpoch + 7)
                update.disease = "Healthy"
                try await write(.upsert(update, keepsStoredData: true))
                live.append(update)
            default:
                if id == 3 {  // an image-less record: `data: null` looks like no bytes to the migration
                    record.data = nil
                    withoutBytes.insert(id)
                }
                try await write(.upsert(record))
                live.append(record)
            }
        }
        let store = try PostgresStore(.init(conninfo: uri, schema: schema, applicationName: schema))
        let ranges = KeyRange(lower: 1, upper: 51).split(into: 10)
        let before = try await store.records(of: .tomato, in: .all, pageSize: 7).collect()
        #expect(before == live)

        try await store.prepareSchema()
        try await store.prepareSchema()  // idempotent: migrates once
        let twin = try PostgresStore(store.configuration)
        try await twin.prepareSchema()

        // Every record, its fields and its bytes, as before.
        #expect(try await store.records(of: .tomato, in: .all, pageSize: 7).collect() == live)
        #expect(try await store.count(of: .tomato) == live.count)
        for record in live { #expect(try await store.record(record.key) == record) }
        // Rows with bytes: the register has the record's version, the digest is unchanged; rows without
        // bytes: not yet known (BatchSync fills them); tombstones: empty registers.
        let versions = try await store.versions(of: .tomato, in: .all, pageSize: 9).collect()
        #expect(versions.count == 50)
        for version in versions {
            if version.isTombstone {
                #expect(version.id % 5 == 1)
                #expect(version.dataVersion == nil)
            } else if withoutBytes.contains(version.id) {
                let record = live.first { $0.id == version.id }!
                #expect(version.dataVersion == nil, "id \(version.id)")
                #expect(version.digest == RowDigest.of(version: record.version, dataHash: ImageRecord.unknownDataHash))
            } else {
                let record = live.first { $0.id == version.id }!
                #expect(version.dataVersion == version.version, "id \(version.id)")
                #expect(version.digest == record.digest)
            }
        }
        let summaries = try await store.summaries(of: .tomato, in: ranges)
        for (range, summary) in zip(ranges, summaries) {
            let inRange = versions.filter { range.contains($0.id) && !$0.isTombstone }
            #expect(summary == RangeSummary(count: inRange.count, checksum: RowDigest.checksum(of: inRange.map(\.digest))))
        }

        // The register after the migration: a byte-less update keeps the bytes; an older change with
        // other bytes does not replace them; the create of a record without bytes fills them.
        let kept = live.first { $0.id == 7 }!
        var later = kept
        later.updatedAt = Timestamp(microsecondsSinceEpoch: 5_000_000)
        #expect(try await store.apply([.upsert(later, keepsStoredData: true)]).applied == 1)
        #expect(try await store.record(kept.key) == later)
        var older = kept
        older.updatedAt = Timestamp(microsecondsSinceEpoch: 1)
        older.createdAt = Timestamp(microsecondsSinceEpoch: 0)
        older.data = [0xBA, 0xD0]
        #expect(try await store.apply([.upsert(older)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
        #expect(try await store.record(kept.key)?.data == kept.data)
        var filled = live.first { $0.id == 10 }!
        filled.data = [1, 2, 3]
        #expect(try await store.apply([.upsert(filled)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
        #expect(try await store.record(filled.key) == filled)

        // The first release's statements still work on the migrated table (a rolling upgrade).
        let straggler = randomRecord(plant: .tomato, id: 99, rng: &rng, dataBytes: 8)
        try await write(.upsert(straggler))
        #expect(try await store.record(straggler.key) == straggler)

        // The first release's check listed LIMS's three plants: the migrated table takes any plant, and
        // still refuses a value that is no plant name.
        let cucumber = try Plant(validating: "cucumber", field: "test")
        let newPlant = randomRecord(plant: cucumber, id: 1, rng: &rng, dataBytes: 8)
        #expect(try await store.apply([.upsert(newPlant)]).applied == 1)
        #expect(try await store.record(newPlant.key) == newPlant)
        #expect(try await store.plants() == [cucumber, .tomato])
        var invalid = Self.firstReleaseParameters(.upsert(straggler), withData: true)
        invalid[0] = .text("Cucumber")
        let statement = Self.firstReleaseUpsert(schema, withData: true)
        await #expect(throws: PGError.self) { try await offPool { [invalid] in try old.execute(statement, invalid) } }
    }
}

/// A connection of the first release, writing its SQL (used from `offPool`: libpq blocks).
private final class FirstReleaseConnection: @unchecked Sendable {
    // @unchecked Sendable is safe: the test awaits each call before the next, so the connection is
    // used by one thread at a time.
    private let connection: PGConnection
    private let schema: String

    @available(*, noasync)
    init(uri: String, schema: String) throws {
        self.schema = schema
        connection = try PGConnection(conninfo: uri)
        try connection.execute("BEGIN")
        for statement in FirstReleaseMigrationTests.firstReleaseDDL(schema) { try connection.execute(statement) }
        try connection.execute("COMMIT")
    }

    /// One statement of the first release's, as it sends it.
    @available(*, noasync)
    func execute(_ statement: String, _ parameters: [PGParameter]) throws { try connection.execute(statement, parameters) }

    @available(*, noasync)
    func write(_ change: Change) throws {
        typealias T = FirstReleaseMigrationTests
        if change.record == nil {
            try connection.execute(
                T.firstReleaseTombstone(schema),
                [.text(change.key.plant.rawValue), .int(change.key.id), .int(change.version.ts), .int(change.version.storedTiebreak)])
        } else {
            let withData = change.carriesBytes
            try connection.execute(T.firstReleaseUpsert(schema, withData: withData), T.firstReleaseParameters(change, withData: withData))
        }
    }
}
