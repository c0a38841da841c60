import Dispatch
import LibPQ
import SyncModel

/// The `ImageStore` over PostgreSQL (libpq).
///
/// - One connection, used from one serial dispatch queue: libpq calls block, so they run there and
///   never on Swift's cooperative thread pool. A broken connection is re-established on the next call.
/// - `apply` writes multi-row conditional upserts (at most `maxRowsPerStatement` rows each) in one
///   transaction per batch — from `copyThreshold` rows with image bytes on, those rows are first
///   `COPY`-ed into a temporary staging table and upserted from it in one statement; the version rule is the `WHERE` of `ON CONFLICT … DO UPDATE`, so the
///   database enforces it without a read-then-write race.
/// - Reads are keyset-paginated (`id > last ORDER BY id LIMIT n`): memory is bounded by one page and no
///   transaction is held open between pages.
public final class PostgresStore: ImageStore, @unchecked Sendable {
    // @unchecked Sendable is safe: the only mutable state, `connection` and `stagingReady`, is read and written solely
    // inside blocks running on the serial `queue`; everything else is immutable after `init`.

    public struct Configuration: Sendable {
        /// A libpq connection URI (`postgresql://user@host:5432/db?sslmode=…`) or conninfo string.
        public var conninfo: String
        /// The schema holding the store's table; created if missing.
        public var schema: String
        /// Rows per multi-row statement (PostgreSQL allows 65,535 parameters: 15 per row).
        public var maxRowsPerStatement: Int
        /// `application_name` of the connection, as `pg_stat_activity` shows it.
        public var applicationName: String
        /// A batch holding at least this many upserts with image bytes stages them with `COPY` into a
        /// temporary table and upserts from there in one statement (no parameter binding or planning of
        /// a large `VALUES` list). `Int.max` turns staging off.
        public var copyThreshold: Int
        public static let defaultCopyThreshold = 100

        public init(
            conninfo: String, schema: String = "plantsync", maxRowsPerStatement: Int = 1000,
            applicationName: String = "plantsync", copyThreshold: Int = Configuration.defaultCopyThreshold
        ) {
            self.conninfo = conninfo
            self.schema = schema
            self.maxRowsPerStatement = maxRowsPerStatement
            self.applicationName = applicationName
            self.copyThreshold = copyThreshold
        }
    }

    public let configuration: Configuration
    let sql: PostgresSchema
    private let queue = DispatchQueue(label: "plantsync.postgres-store")
    private var connection: PGConnection?
    /// The current session has its staging table (a temporary table dies with its session).
    private var stagingReady = false

    public init(_ configuration: Configuration) throws(PostgresStoreError) {
        guard (1...4000).contains(configuration.maxRowsPerStatement) else {
            throw PostgresStoreError(
                operation: "configure", sqlState: nil,
                message: "maxRowsPerStatement \(configuration.maxRowsPerStatement) is out of range 1…4000", isTransient: false)
        }
        guard configuration.copyThreshold >= 1 else {
            throw PostgresStoreError(
                operation: "configure", sqlState: nil,
                message: "copyThreshold \(configuration.copyThreshold) must be at least 1", isTransient: false)
        }
        self.configuration = configuration
        self.sql = try PostgresSchema(schema: configuration.schema)
    }

    // MARK: Running work on the connection

    /// Runs `body` on the store's queue with a healthy connection; maps libpq errors to store errors.
    func withConnection<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PGConnection) throws(PGError) -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            queue.async {
                do {
                    let connection = try self.healthyConnection()
                    continuation.resume(returning: try body(connection))
                } catch let error as PGError {
                    continuation.resume(throwing: PostgresStoreError(operation: operation, error))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Must run on `queue`.
    private func healthyConnection() throws(PGError) -> PGConnection {
        if let connection, connection.isHealthy { return connection }
        stagingReady = false
        if let connection {
            try connection.reset()
            return connection
        }
        let fresh = try PGConnection(conninfo: configuration.conninfo)
        try fresh.execute("SELECT set_config('application_name', $1, false)", [.text(configuration.applicationName)])
        connection = fresh
        return fresh
    }

    /// Runs `body` inside a transaction, rolling back on error.
    static func transaction<T>(_ connection: PGConnection, _ body: () throws(PGError) -> T) throws(PGError) -> T {
        try connection.execute("BEGIN")
        do {
            let result = try body()
            try connection.execute("COMMIT")
            return result
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }

    // MARK: ImageStore

    public func prepareSchema() async throws {
        let statements = sql.create
        try await withConnection("prepare schema \(configuration.schema)") { connection throws(PGError) in
            try Self.transaction(connection) { () throws(PGError) in
                for statement in statements { try connection.execute(statement) }
            }
        }
    }

    public func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        guard !changes.isEmpty else { return ApplyOutcome(applied: 0, skippedStale: 0) }
        // Rows of one statement must have distinct keys: keep the greatest version per key (the rest
        // would lose under the version rule anyway, and count as skipped).
        let winners = Change.winners(changes).values.sorted { $0.key < $1.key }
        var full: [Change] = [], keeping: [Change] = [], deletes: [Change] = []
        for change in winners {
            switch change.operation {
            case .upsert(_, let keeps): if keeps { keeping.append(change) } else { full.append(change) }
            case .delete: deletes.append(change)
            }
        }
        // Many rows with image bytes go through COPY into a staging table; the rest as bound statements.
        let staged = full.count >= configuration.copyThreshold ? PostgresCopyRows.chunks(full) : []
        let statements = buildStatements(full: staged.isEmpty ? full : [], keeping: keeping, deletes: deletes)
        let sql = self.sql
        let applied = try await withConnection("apply a batch of \(changes.count) changes") { connection throws(PGError) in
            if statements.count == 1, staged.isEmpty {
                return try connection.execute(statements[0].0, statements[0].1).affectedRows
            }
            if !staged.isEmpty, !self.stagingReady {
                try connection.execute(sql.createStaging)  // outside the batch's transaction: a rollback keeps it
                self.stagingReady = true
            }
            return try Self.transaction(connection) { () throws(PGError) in
                var applied = 0
                if !staged.isEmpty {
                    try connection.copyIn(sql.copyIntoStaging, chunks: staged)
                    applied += try connection.execute(sql.upsertStaged).affectedRows
                }
                for (text, parameters) in statements { applied += try connection.execute(text, parameters).affectedRows }
                return applied
            }
        }
        return ApplyOutcome(applied: applied, skippedStale: changes.count - applied)
    }

    func buildStatements(full: [Change], keeping: [Change], deletes: [Change]) -> [(String, [PGParameter])] {
        var statements: [(String, [PGParameter])] = []
        let chunk = configuration.maxRowsPerStatement
        for (changes, withData) in [(full, true), (keeping, false)] {
            for start in stride(from: 0, to: changes.count, by: chunk) {
                let rows = changes[start..<min(start + chunk, changes.count)]
                var parameters: [PGParameter] = []
                parameters.reserveCapacity(rows.count * 15)
                for change in rows {
                    guard let r = change.record else { continue }
                    parameters += [.text(r.plant.rawValue), .int(r.id), .int(r.cameraId)]
                    if withData { parameters.append(r.data.map(PGParameter.bytes) ?? .null) }
                    parameters += [
                        .double(r.latitude), .double(r.longitude), r.disease.map(PGParameter.text) ?? .null,
                        r.percentage.map(PGParameter.double) ?? .null, .text(r.createdAt.sqlString),
                        r.updatedAt.map { .text($0.sqlString) } ?? .null, .bool(r.isActive), .bool(r.isDeleted),
                        .int(change.version.ts), .int(change.version.storedTiebreak),
                    ]
                    if withData { parameters.append(.int(Int64(bitPattern: r.dataHash))) }
                }
                statements.append((sql.upsert(rows: rows.count, withData: withData), parameters))
            }
        }
        for start in stride(from: 0, to: deletes.count, by: chunk) {
            let rows = deletes[start..<min(start + chunk, deletes.count)]
            var parameters: [PGParameter] = []
            for change in rows {
                parameters += [
                    .text(change.key.plant.rawValue), .int(change.key.id), .int(change.version.ts),
                    .int(change.version.storedTiebreak),
                ]
            }
            statements.append((sql.tombstone(rows: rows.count), parameters))
        }
        return statements
    }

    public func record(_ key: RecordKey) async throws -> ImageRecord? {
        let text = sql.pointRead
        return try await withConnection("read \(key)") { connection throws(PGError) in
            let result = try connection.execute(text, [.text(key.plant.rawValue), .int(key.id)])
            return result.rowCount == 0 ? nil : try Self.decodeRecord(result, row: 0)
        }
    }

    public func count(of plant: Plant) async throws -> Int {
        let text = sql.count
        return try await withConnection("count \(plant)") { connection throws(PGError) in
            Int(try connection.execute(text, [.text(plant.rawValue)]).int64(0, 0) ?? 0)
        }
    }

    public func idBounds(of plant: Plant) async throws -> KeyRange? {
        let text = sql.bounds
        return try await withConnection("read id bounds of \(plant)") { connection throws(PGError) in
            let result = try connection.execute(text, [.text(plant.rawValue)])
            guard let low = try result.int64(0, 0), let high = try result.int64(0, 1) else { return nil }
            return KeyRange(lower: low, upper: high == Int64.max ? high : high + 1)
        }
    }

    public func summaries(of plant: Plant, in ranges: [KeyRange]) async throws -> [RangeSummary] {
        guard !ranges.isEmpty else { return [] }
        let text = sql.summaries
        let parameters: [PGParameter] = [
            .text(plant.rawValue), .int64Array(ranges.map(\.lower)), .int64Array(ranges.map(\.upper)),
        ]
        return try await withConnection("checksum \(ranges.count) ranges of \(plant)") { connection throws(PGError) in
            let result = try connection.execute(text, parameters)
            var summaries: [RangeSummary] = []
            summaries.reserveCapacity(result.rowCount)
            for row in 0..<result.rowCount {
                summaries.append(
                    RangeSummary(
                        count: Int(try result.int64(row, 1) ?? 0),
                        checksum: RowDigest.checksum(highSum: try result.int64(row, 2) ?? 0, lowSum: try result.int64(row, 3) ?? 0)))
            }
            return summaries
        }
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<KeyVersion> {
        let text = sql.versionsPage
        let size = max(1, pageSize)
        return PagedSequence(start: range.isEmpty ? nil : .init(range.lower)) { cursor in
            try await self.withConnection("read versions of \(plant) \(range)") { connection throws(PGError) in
                let result = try connection.execute(
                    text, [.text(plant.rawValue), .int(cursor.position), .int(range.upper), .int(size)])
                var page: [KeyVersion] = []
                page.reserveCapacity(result.rowCount)
                for row in 0..<result.rowCount {
                    let tiebreak = try result.int64(row, 2) ?? 0
                    let version = Version(ts: try result.int64(row, 1) ?? 0, storedTiebreak: tiebreak)
                    page.append(
                        KeyVersion(
                            id: try result.int64(row, 0) ?? 0, version: version,
                            digest: version.isDelete ? 0 : RowDigest.of(storedTiebreak: tiebreak, dataHash: try result.int64(row, 3) ?? 0)))
                }
                return .init(elements: page, next: .after(page.last?.id, pageFull: page.count == size))
            }
        }
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        let sorted = Array(Set(ids)).sorted()
        let size = max(1, pageSize)
        let text = sql.recordsByIds
        return PagedSequence(start: sorted.isEmpty ? nil : .init(0)) { cursor in
            let start = Int(cursor.position)
            let slice = Array(sorted[start..<min(start + size, sorted.count)])
            let records = try await self.withConnection("read \(slice.count) records of \(plant)") { connection throws(PGError) in
                let result = try connection.execute(text, [.text(plant.rawValue), .int64Array(slice)])
                return try (0..<result.rowCount).map { row throws(PGError) in try Self.decodeRecord(result, row: row) }
            }
            let next = start + size < sorted.count ? PagedSequence<ImageRecord>.Cursor(Int64(start + size)) : nil
            return .init(elements: records, next: next)
        }
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        let text = sql.recordsPage
        let size = max(1, pageSize)
        return PagedSequence(start: range.isEmpty ? nil : .init(range.lower)) { cursor in
            try await self.withConnection("read records of \(plant) \(range)") { connection throws(PGError) in
                let result = try connection.execute(
                    text, [.text(plant.rawValue), .int(cursor.position), .int(range.upper), .int(size)])
                let page = try (0..<result.rowCount).map { row throws(PGError) in try Self.decodeRecord(result, row: row) }
                return .init(elements: page, next: .after(page.last?.id, pageFull: page.count == size))
            }
        }
    }

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        let text = sql.changedSincePage
        let size = max(1, pageSize)
        return PagedSequence(start: .init(1)) { cursor in
            try await self.withConnection("read records of \(plant) changed since \(since)") { connection throws(PGError) in
                let result = try connection.execute(
                    text, [.text(plant.rawValue), .int(since), .int(cursor.position), .int(size)])
                let page = try (0..<result.rowCount).map { row throws(PGError) in try Self.decodeRecord(result, row: row) }
                return .init(elements: page, next: .after(page.last?.id, pageFull: page.count == size))
            }
        }
    }

    public func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        let winners = Change.winners(changes).values.filter { expected[$0.key] != nil }.sorted { $0.key < $1.key }
        guard !winners.isEmpty else { return ApplyOutcome(applied: 0, skippedStale: changes.count) }
        var statements: [(String, [PGParameter])] = []
        let chunk = configuration.maxRowsPerStatement
        for start in stride(from: 0, to: winners.count, by: chunk) {
            let rows = winners[start..<min(start + chunk, winners.count)]
            var parameters: [PGParameter] = []
            for change in rows {
                let want = expected[change.key]!
                parameters += [.text(change.key.plant.rawValue), .int(change.key.id)]
                if let r = change.record {
                    parameters += [
                        .int(r.cameraId), r.data.map(PGParameter.bytes) ?? .null, .double(r.latitude), .double(r.longitude),
                        r.disease.map(PGParameter.text) ?? .null, r.percentage.map(PGParameter.double) ?? .null,
                        .text(r.createdAt.sqlString), r.updatedAt.map { .text($0.sqlString) } ?? .null, .bool(r.isActive),
                        .bool(r.isDeleted), .int(change.version.ts), .int(change.version.storedTiebreak),
                        .int(Int64(bitPattern: r.dataHash)),
                    ]
                } else {
                    parameters += Array(repeating: PGParameter.null, count: 10)
                    parameters += [.int(change.version.ts), .int(change.version.storedTiebreak), .int(0)]
                }
                parameters += [.int(want.ts), .int(want.storedTiebreak)]
            }
            statements.append((sql.replace(rows: rows.count), parameters))
        }
        let batch = statements
        let applied = try await withConnection("replace \(winners.count) rows") { connection throws(PGError) in
            try Self.transaction(connection) { () throws(PGError) in
                var applied = 0
                for (text, parameters) in batch { applied += try connection.execute(text, parameters).affectedRows }
                return applied
            }
        }
        return ApplyOutcome(applied: applied, skippedStale: changes.count - applied)
    }

    public func syncState(_ name: String) async throws -> Int64? {
        let text = sql.readState
        return try await withConnection("read sync state \(name)") { connection throws(PGError) in
            let result = try connection.execute(text, [.text(name)])
            return result.rowCount == 0 ? nil : try result.int64(0, 0)
        }
    }

    public func setSyncState(_ name: String, to value: Int64) async throws {
        let text = sql.writeState
        try await withConnection("write sync state \(name)") { connection throws(PGError) in
            _ = try connection.execute(text, [.text(name), .int(value)])
        }
    }

    public func purgeTombstones(olderThan cutoff: Timestamp) async throws -> Int {
        let text = sql.purge
        return try await withConnection("purge tombstones") { connection throws(PGError) in
            try connection.execute(text, [.int(cutoff.microsecondsSinceEpoch)]).affectedRows
        }
    }

    // MARK: Decoding

    static func decodeRecord(_ result: PGResult, row: Int) throws(PGError) -> ImageRecord {
        func required<T>(_ value: T?, _ column: Int) throws(PGError) -> T {
            guard let value else {
                throw PGError(sqlState: nil, message: "column '\(result.columnName(column))' is NULL in a live row", isTransient: false)
            }
            return value
        }
        let plantName = try required(try result.string(row, 0), 0)
        guard let plant = Plant(rawValue: plantName) else {
            throw PGError(sqlState: nil, message: "column 'plant' holds unknown plant '\(plantName)'", isTransient: false)
        }
        return ImageRecord(
            plant: plant,
            id: try required(try result.int64(row, 1), 1),
            cameraId: try required(try result.int64(row, 2), 2),
            data: result.bytes(row, 3),
            latitude: try required(try result.double(row, 4), 4),
            longitude: try required(try result.double(row, 5), 5),
            disease: try result.string(row, 6),
            percentage: try result.double(row, 7),
            createdAt: Timestamp(microsecondsSinceEpoch: try required(try result.timestampMicros(row, 8), 8)),
            updatedAt: try result.timestampMicros(row, 9).map(Timestamp.init(microsecondsSinceEpoch:)),
            isActive: try required(try result.bool(row, 10), 10),
            isDeleted: try required(try result.bool(row, 11), 11))
    }
}
