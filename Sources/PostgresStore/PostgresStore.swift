import LibPQ
import SyncModel

/// The `ConsumerStore` over PostgreSQL (libpq).
///
/// - One connection, used from one `BlockingExecutor` (`PostgresSession`): libpq calls block, so they run
///   there and never on Swift's cooperative thread pool. A broken connection is re-established on the
///   next call; a call that outlives `callTimeout` is interrupted and fails as a transient error.
/// - `apply` reduces a batch to one write per key (`KeyWinners`: the greatest record version and the
///   greatest bytes) and sends multi-row conditional upserts (at most `maxRowsPerStatement` rows each)
///   in one transaction per batch — from `copyThreshold` writes with image bytes on, the writes are
///   first `COPY`-ed into a temporary staging table and upserted from it in one statement. Each part
///   of a write is guarded by its own version rule in `ON CONFLICT … DO UPDATE` (`CASE` per column,
///   docs/design.md §1), so the database enforces both without a read-then-write race, whatever
///   other connections apply at the same time.
/// - Reads are keyset-paginated (`id >= next ORDER BY id LIMIT n`): memory is bounded by one page and
///   no transaction is held open between pages.
public final class PostgresStore: ConsumerStore, StoreProbe, @unchecked Sendable {
    // @unchecked Sendable is safe: the only mutable state, `stagingGeneration` and `storedDigest`, is
    // read and written solely inside blocks running on the session's serial executor; everything else is
    // immutable after `init`.

    public struct Configuration: Sendable {
        /// A libpq connection URI (`postgresql://user@host:5432/db?sslmode=…`) or conninfo string.
        public var conninfo: String
        /// The schema holding the store's table; created if missing.
        public var schema: String
        /// Rows per multi-row statement: PostgreSQL allows 65,535 bound parameters, so at most
        /// `PostgresStore.Configuration.maxRowsPerStatementLimit`.
        public var maxRowsPerStatement: Int
        /// `application_name` of the connection, as `pg_stat_activity` shows it.
        public var applicationName: String
        /// A batch holding at least this many writes with image bytes stages its writes with `COPY` into
        /// a temporary table and upserts from there in one statement (no parameter binding or planning
        /// of a large `VALUES` list). `Int.max` turns staging off.
        public var copyThreshold: Int
        public static let defaultCopyThreshold = 100
        /// How long one call may run before it is interrupted (a silent connection; docs/design.md §4).
        public var callTimeout: Duration
        /// The largest `maxRowsPerStatement` the widest statement's parameters allow.
        public static let maxRowsPerStatementLimit = PostgresSchema.maxRowsPerStatement

        public init(
            conninfo: String, schema: String = "plantsync", maxRowsPerStatement: Int = 1000,
            applicationName: String = "plantsync", copyThreshold: Int = Configuration.defaultCopyThreshold,
            callTimeout: Duration = StoreCallTimeout.batch
        ) {
            self.callTimeout = callTimeout
            self.conninfo = conninfo
            self.schema = schema
            self.maxRowsPerStatement = maxRowsPerStatement
            self.applicationName = applicationName
            self.copyThreshold = copyThreshold
        }
    }

    public let configuration: Configuration
    let sql: PostgresSchema
    private let session: PostgresSession
    /// The session generation that has the staging table (a temporary table dies with its session).
    private var stagingGeneration = 0
    /// Whether the table has `row_digest` (nil: not asked yet). Only on the session's queue.
    private var storedDigest: Bool?

    /// Whether `.postgres` digests can be read from `row_digest` (else computed from the columns: a
    /// table of an earlier release that no `prepareSchema` has migrated yet). Asked once; on the queue.
    private func hasStoredDigest(_ connection: PGConnection) throws(PGError) -> Bool {
        if let known = storedDigest { return known }
        let present = (try connection.execute(sql.hasRowDigest, [.text(sql.schema)]).int64(0, 0) ?? 0) > 0
        storedDigest = present
        return present
    }

    public init(_ configuration: Configuration) throws(PostgresStoreError) {
        let limit = Configuration.maxRowsPerStatementLimit
        guard (1...limit).contains(configuration.maxRowsPerStatement) else {
            throw PostgresStoreError(
                operation: "configure", sqlState: nil,
                message: "maxRowsPerStatement \(configuration.maxRowsPerStatement) is out of range 1…\(limit)", isTransient: false)
        }
        guard configuration.copyThreshold >= 1 else {
            throw PostgresStoreError(
                operation: "configure", sqlState: nil,
                message: "copyThreshold \(configuration.copyThreshold) must be at least 1", isTransient: false)
        }
        self.configuration = configuration
        self.sql = try PostgresSchema(schema: configuration.schema)
        self.session = PostgresSession(
            conninfo: configuration.conninfo, applicationName: configuration.applicationName, label: "plantsync.postgres-store",
            callTimeout: configuration.callTimeout)
    }

    /// Runs `body` on the store's session (its queue, with a healthy connection).
    func withConnection<T: Sendable>(
        _ operation: String, timeout: Duration? = nil, _ body: @escaping @Sendable (PGConnection) throws(PGError) -> T
    ) async throws -> T {
        try await session.run(operation, timeout: timeout, body)
    }

    @available(*, noasync)
    static func transaction<T>(_ connection: PGConnection, _ body: () throws(PGError) -> T) throws(PGError) -> T {
        try PostgresSession.transaction(connection, body)
    }

    // MARK: ConsumerStore

    /// Creates the schema, or migrates an earlier release's in place (docs/design.md §1: the bytes
    /// register; any plant instead of LIMS's three): serialised by an advisory lock, in one transaction,
    /// so concurrent starts migrate once.
    public func prepareSchema() async throws {
        let sql = self.sql
        try await withConnection("prepare schema \(configuration.schema)", timeout: StoreCallTimeout.schema) {
            connection throws(PGError) in
            try PostgresSession.requireDigestSupport(connection)
            try Self.transaction(connection) { () throws(PGError) in
                for statement in sql.create { try connection.execute(statement) }
                let names = PostgresRowCodec.registerVersionColumns
                let present =
                    try connection.execute(
                        sql.registerColumnCount, [.text(sql.schema)] + names.map(PGParameter.text)
                    ).int64(0, 0) ?? 0
                if present < names.count {
                    let statements = sql.migrate
                    try connection.execute(statements[0])
                    try connection.execute(statements[1])
                    try connection.execute(statements[2], [.int(Int64(bitPattern: ImageRecord.unknownDataHash))])
                }
                if (try connection.execute(sql.hasPlantListCheck, [.text(sql.table)]).int64(0, 0) ?? 0) > 0 {
                    try connection.execute(sql.replacePlantListCheck)
                }
                self.storedDigest = nil
                if try !self.hasStoredDigest(connection) { try connection.execute(sql.addRowDigest) }
                try connection.execute(sql.createDigestIndex)
            }
            self.storedDigest = true  // committed: the column exists (a rollback throws before this line)
        }
    }

    public func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        guard !changes.isEmpty else { return ApplyOutcome(applied: 0, skippedStale: 0) }
        let sql = self.sql
        // One write per key (rows of one statement must have distinct keys): the greatest record
        // version with the greatest bytes; then, for keys where one is newer, the field-keeping upsert.
        var writes: [PostgresRow] = []
        var keeping: [PostgresRow] = []
        for winners in Change.reduce(changes).values.sorted(by: { $0.key < $1.key }) {
            if let record = winners.record { writes.append(PostgresRow(record, bytes: winners.bytes)) }
            if let newer = winners.keepingFieldsAfterRecord {
                keeping.append(PostgresRow(newer, bytes: winners.record == nil ? winners.bytes : nil))
            }
        }
        // Many writes with image bytes go through COPY into a staging table; the rest as bound statements.
        let stage = writes.count(where: \.carriesBytes) >= configuration.copyThreshold
        let staged = stage ? PostgresCopyRows.chunks(writes) : []
        let plain =
            ((stage ? [] : chunked(writes, sql: sql.upsert(rows:), parameters: Self.upsertParameters))
            + chunked(keeping, sql: sql.updateKeepingFields(rows:), parameters: Self.keepingParameters))
        // A batch of several plants counts each statement's writes per plant; one of a single plant
        // needs no breakdown (the command tag's count is that plant's) and sends the plain statements.
        let plants = Dictionary(changes.map { ($0.key.plant.rawValue, $0.key.plant) }, uniquingKeysWith: { first, _ in first })
        let counting = plants.count > 1
        let only = plants.first!.key
        let statements = counting ? plain.map { (PostgresSchema.countingPlants($0.0), $0.1) } : plain
        let upsertStaged = counting ? PostgresSchema.countingPlants(sql.upsertStaged) : sql.upsertStaged
        // Every plant of the batch in one transaction (docs/design.md §3); each statement reports the
        // rows it wrote per plant.
        let applied = try await withConnection("apply a batch of \(changes.count) changes") { connection throws(PGError) in
            var applied: [String: Int] = [:]
            func count(_ result: PGResult) throws(PGError) {
                guard counting else {
                    applied[only, default: 0] += result.affectedRows
                    return
                }
                for row in 0..<result.rowCount {
                    applied[try result.string(row, 0) ?? "", default: 0] += Int(try result.int64(row, 1) ?? 0)
                }
            }
            if statements.count == 1, staged.isEmpty {
                try count(try connection.execute(statements[0].0, statements[0].1))
                return applied
            }
            if !staged.isEmpty, self.stagingGeneration != self.session.generation {
                try connection.execute(sql.createStaging)  // outside the batch's transaction: a rollback keeps it
                self.stagingGeneration = self.session.generation
            }
            try Self.transaction(connection) { () throws(PGError) in
                if !staged.isEmpty {
                    try connection.copyIn(sql.copyIntoStaging, chunks: staged)
                    try count(try connection.execute(upsertStaged))
                }
                for (text, parameters) in statements { try count(try connection.execute(text, parameters)) }
            }
            return applied
        }
        var byPlant: [Plant: Int] = [:]
        for (name, count) in applied {
            guard let plant = plants[name] else {
                throw PostgresStoreError(
                    operation: "apply", sqlState: nil, message: "the server reported writes to plant '\(name)', not in the batch",
                    isTransient: false)
            }
            byPlant[plant] = count
        }
        return ApplyOutcome(changes: changes, appliedByPlant: byPlant)
    }

    /// Copies every row of another PlantSync schema on the same server (records, tombstones, bytes
    /// registers) into this store's table, in SQL — for benchmarks that start several consumers from
    /// one copy. The written columns are named; the server computes `row_digest` anew.
    public func copyRows(fromSchema source: String) async throws {
        let from = try PostgresSchema(schema: source)
        let columns = PostgresRowCodec.columnList
        let text = "INSERT INTO \(sql.table) (\(columns)) SELECT \(columns) FROM \(from.table)"
        _ = try await withConnection("copy rows from schema \(source)") { connection throws(PGError) in try connection.execute(text).affectedRows }
    }

    /// IBLT cells grouped in the server, in any of the store's domains.
    public func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        try Self.require(domain, in: Self.domains)
        let sql = self.sql
        return try await withConnection("IBLT cells (\(shape)) of \(plant)") { connection throws(PGError) in
            let text = sql.cells(domain: domain, shape: shape, stored: try self.hasStoredDigest(connection))
            return try PostgresDigestSQL.cells(connection, text, [.text(plant.rawValue)], shape: shape)
        }
    }

    /// A summaries row of the shared digest SQL (columns i, count, then the domain's sums).
    static func summary(_ result: PGResult, row: Int, domain: DigestDomain) throws(PGError) -> RangeSummary {
        let count = Int(try result.int64(row, 1) ?? 0)
        let high = try result.int64(row, 2) ?? 0
        let low = try result.int64(row, 3) ?? 0
        guard domain == .metadata else { return RangeSummary(count: count, checksum: RowDigest.checksum(highSum: high, lowSum: low)) }
        return RangeSummary(
            count: count,
            checksum: MetadataDigest.checksum(
                tiebreakHighSum: high, tiebreakLowSum: low, lengthCodeSum: try result.int64(row, 4) ?? 0,
                unknownCount: try result.int64(row, 5) ?? 0))
    }

    /// A domain this store does not compute is a programming error of the caller, reported as such.
    static func require(_ domain: DigestDomain, in supported: [DigestDomain]) throws(PostgresStoreError) {
        guard supported.contains(domain) else {
            throw PostgresStoreError(
                operation: "digest in domain \(domain)", sqlState: nil,
                message: "this store computes \(supported.map(\.rawValue).joined(separator: ", ")) only", isTransient: false)
        }
    }

    /// Statements of at most `maxRowsPerStatement` rows each, in the rows' (key) order.
    func chunked(
        _ rows: [PostgresRow], sql: (Int) -> String, parameters: (PostgresRow, inout [PGParameter]) -> Void
    ) -> [(String, [PGParameter])] {
        var statements: [(String, [PGParameter])] = []
        let chunk = configuration.maxRowsPerStatement
        for start in stride(from: 0, to: rows.count, by: chunk) {
            let slice = rows[start..<min(start + chunk, rows.count)]
            var values: [PGParameter] = []
            values.reserveCapacity(slice.count * PostgresSchema.replaceWidth)
            for row in slice { parameters(row, &values) }
            statements.append((sql(slice.count), values))
        }
        return statements
    }

    static func upsertParameters(_ row: PostgresRow, _ out: inout [PGParameter]) {
        PostgresRowCodec.parameters(row, into: &out)
    }

    /// The table's columns, then the keep mask.
    static func keepingParameters(_ row: PostgresRow, _ out: inout [PGParameter]) {
        PostgresRowCodec.parameters(row, into: &out)
        for field in PostgresSchema.keepColumns { out.append(.bool(row.kept.contains(field))) }
    }

    public func record(_ key: RecordKey) async throws -> ImageRecord? {
        let text = sql.pointRead
        return try await withConnection("read \(key)") { connection throws(PGError) in
            let result = try connection.execute(text, [.text(key.plant.rawValue), .int(key.id)])
            return result.rowCount == 0 ? nil : try PostgresRowCodec.decodeRecord(result, row: 0)
        }
    }

    public func keys(of plant: Plant, sourceIDs: [SourceID]) async throws -> [SourceID: Int64] {
        guard !sourceIDs.isEmpty else { return [:] }
        let text = sql.keysBySource
        let parameters: [PGParameter] = [.text(plant.rawValue), .text(PostgresTextArray.literal(sourceIDs.map(\.rawValue)))]
        return try await withConnection("find \(sourceIDs.count) producer _ids of \(plant)") { connection throws(PGError) in
            let result = try connection.execute(text, parameters)
            var keys: [SourceID: Int64] = [:]
            for row in 0..<result.rowCount {
                if let raw = try result.string(row, 0), let sourceID = SourceID(rawValue: raw), let id = try result.int64(row, 1) {
                    keys[sourceID] = id
                }
            }
            return keys
        }
    }

    public func ping(timeout: Duration) async throws {
        try await withConnection("ping", timeout: timeout) { connection throws(PGError) in _ = try connection.execute("SELECT 1") }
    }

    public func count(of plant: Plant) async throws -> Int {
        let text = sql.count
        return try await withConnection("count \(plant)") { connection throws(PGError) in
            Int(try connection.execute(text, [.text(plant.rawValue)]).int64(0, 0) ?? 0)
        }
    }

    public func plants() async throws -> [Plant] {
        let text = sql.plants
        let table = sql.table
        return try await withConnection("list the plants of \(table)") { connection throws(PGError) in
            let result = try connection.execute(text)
            return try (0..<result.rowCount).map { row throws(PGError) in
                let name = try result.string(row, 0) ?? ""
                guard let plant = Plant(rawValue: name) else {
                    throw PGError(
                        sqlState: nil, message: "\(table): column 'plant' holds '\(name)', not a valid plant name", isTransient: false)
                }
                return plant
            }
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

    /// PlantSync's bookkeeping, the PostgreSQL digest a foreign table computes too, and metadata for
    /// a producer of another engine — all computed in the database.
    static let domains: [DigestDomain] = [.plantsync, .postgres, .metadata]
    public func digestDomains() async throws -> [DigestDomain] { Self.domains }
    public func computesInDatabase(_ domain: DigestDomain) -> Bool { domain != .mongo }

    public func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        guard !ranges.isEmpty else { return [] }
        try Self.require(domain, in: Self.domains)
        let sql = self.sql
        let parameters: [PGParameter] = [
            .text(plant.rawValue), .int64Array(ranges.map(\.lower)), .int64Array(ranges.map(\.upper)),
        ]
        return try await withConnection("checksum \(ranges.count) ranges of \(plant)") { connection throws(PGError) in
            let text = sql.summaries(domain: domain, stored: try self.hasStoredDigest(connection), single: ranges.count == 1)
            let result = try connection.execute(text, parameters)
            var summaries: [RangeSummary] = []
            summaries.reserveCapacity(result.rowCount)
            for row in 0..<result.rowCount { summaries.append(try Self.summary(result, row: row, domain: domain)) }
            return summaries
        }
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        let sql = self.sql
        let supported = Self.domains
        return .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            try Self.require(domain, in: supported)
            return try await self.withConnection("read versions of \(plant) \(range)") { connection throws(PGError) in
                let text = sql.versionsPage(domain: domain, stored: try self.hasStoredDigest(connection))
                return try Self.versions(
                    try connection.execute(text, [.text(plant.rawValue), .int(lower), .int(range.upper), .int(limit)]), domain)
            }
        }
    }

    public func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        let sql = self.sql
        let supported = Self.domains
        return .byIDs(ids, pageSize: pageSize) { slice in
            try Self.require(domain, in: supported)
            return try await self.withConnection("read versions of \(slice.count) keys of \(plant)") { connection throws(PGError) in
                let text = sql.versionsByIds(domain: domain, stored: try self.hasStoredDigest(connection))
                return try Self.versions(try connection.execute(text, [.text(plant.rawValue), .int64Array(slice)]), domain)
            }
        }
    }

    /// Decodes rows of `versionsPage`/`versionsByIds`: the digest in `domain` from its part.
    static func versions(_ result: PGResult, _ domain: DigestDomain) throws(PGError) -> [KeyVersion] {
        var page: [KeyVersion] = []
        page.reserveCapacity(result.rowCount)
        for row in 0..<result.rowCount {
            let tiebreak = try result.int64(row, 2) ?? 0
            let version = Version(ts: try result.int64(row, 1) ?? 0, storedTiebreak: tiebreak)
            let bytesVersion = Version(ts: try result.int64(row, 4) ?? 0, storedTiebreak: try result.int64(row, 5) ?? 0)
            let part = try result.int64(row, 3) ?? 0
            let digest: Int64
            switch domain {
            case _ where version.isDelete: digest = 0
            case .plantsync, .mongo: digest = RowDigest.of(storedTiebreak: tiebreak, dataHash: part)
            case .postgres: digest = part
            case .metadata:
                digest = MetadataDigest.of(version: version, lengthCode: part < 0 ? MetadataDigest.unknownLengthCode : UInt64(part))
            }
            page.append(
                KeyVersion(
                    id: try result.int64(row, 0) ?? 0, version: version, digest: digest,
                    dataVersion: bytesVersion == .minimum ? nil : bytesVersion))
        }
        return page
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        let text = sql.recordsByIds
        return .byIDs(ids, pageSize: pageSize) { slice in
            try await self.withConnection("read \(slice.count) records of \(plant)") { connection throws(PGError) in
                let result = try connection.execute(text, [.text(plant.rawValue), .int64Array(slice)])
                return try (0..<result.rowCount).map { row throws(PGError) in try PostgresRowCodec.decodeRecord(result, row: row) }
            }
        }
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        let text = sql.recordsPage
        return .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            try await self.withConnection("read records of \(plant) \(range)") { connection throws(PGError) in
                let result = try connection.execute(text, [.text(plant.rawValue), .int(lower), .int(range.upper), .int(limit)])
                return try (0..<result.rowCount).map { row throws(PGError) in try PostgresRowCodec.decodeRecord(result, row: row) }
            }
        }
    }

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        let text = sql.changedSincePage
        return .keyset(in: .all, pageSize: pageSize, id: \.id) { lower, limit in
            try await self.withConnection("read records of \(plant) changed since \(since)") { connection throws(PGError) in
                let result = try connection.execute(text, [.text(plant.rawValue), .int(since), .int(lower), .int(limit)])
                return try (0..<result.rowCount).map { row throws(PGError) in try PostgresRowCodec.decodeRecord(result, row: row) }
            }
        }
    }

    public func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        // Per key, the greatest change's record part, with the greatest bytes.
        var rows: [PostgresRow] = []
        for winners in Change.reduce(changes).values.sorted(by: { $0.key < $1.key }) where expected[winners.key] != nil {
            let newest = [winners.record, winners.keepingFields].compactMap { $0 }.max { $0.version < $1.version }!
            rows.append(PostgresRow(newest, bytes: winners.bytes))
        }
        guard !rows.isEmpty else { return ApplyOutcome(applied: 0, skippedStale: changes.count) }
        let batch = chunked(rows, sql: sql.replace(rows:)) { row, out in
            Self.keepingParameters(row, &out)
            let want = expected[row.key]!
            out += [.int(want.ts), .int(want.storedTiebreak)]
        }
        let applied = try await withConnection("replace \(rows.count) rows") { connection throws(PGError) in
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

    /// One `DELETE` of at most `batchSize` tombstones per round trip, each its own transaction, until a
    /// round deletes fewer: no lock is held longer than one small statement.
    public func purgeTombstones(olderThan cutoff: Timestamp, batchSize: Int) async throws -> Int {
        guard batchSize >= 1 else {
            throw PostgresStoreError(
                operation: "purge tombstones", sqlState: nil, message: "batchSize \(batchSize) must be at least 1", isTransient: false)
        }
        let text = sql.purgeBatch
        var purged = 0
        while true {
            let deleted = try await withConnection("purge tombstones") { connection throws(PGError) in
                try connection.execute(text, [.int(cutoff.microsecondsSinceEpoch), .int(batchSize)]).affectedRows
            }
            purged += deleted
            if deleted < batchSize { return purged }
        }
    }
}
