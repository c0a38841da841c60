import LibPQ
import SyncModel
import Synchronization

/// A foreign PostgreSQL producer (docs/design.md §3): the application's own tables in `ForeignLayout`
/// — one per plant or one with a plant column, LIMS's field names by default — read-only.
///
/// - Never written: it is a `DiffSource` and a `RecordReader`, with no write method at all, and every
///   session runs with `default_transaction_read_only = on`; `verifyLayout` only checks that every
///   mapped column exists. A role with `SELECT` alone suffices.
/// - A record's version is derived from its own fields (`updated_at ?? created_at`, microseconds;
///   tiebreak from the content), the same function StreamSync applies to the record's events.
/// - Digests: `.postgres` computed in the server from the row's columns (image bytes digested there,
///   never sent) — what PlantSync's PostgreSQL consumer computes from its own columns; `.metadata`
///   for a consumer of another engine, computed here from a projection of every field but the bytes
///   plus their `octet_length` (a row per record, no image bytes).
public final class ForeignPostgresStore: DiffSource, RecordReader, Sendable {
    public struct Configuration: Sendable {
        /// A libpq connection URI or conninfo string.
        public var conninfo: String
        public var layout: ForeignLayout
        public var applicationName: String
        /// How long one call may run before it is interrupted (a silent connection; docs/design.md §4).
        public var callTimeout: Duration

        public init(
            conninfo: String, layout: ForeignLayout = .lims, applicationName: String = "plantsync",
            callTimeout: Duration = StoreCallTimeout.batch
        ) {
            self.conninfo = conninfo
            self.callTimeout = callTimeout
            self.layout = layout
            self.applicationName = applicationName
        }
    }

    public let configuration: Configuration
    private let session: PostgresSession
    /// Per plant, the table's SQL once its column types are known (`describe`).
    private let tables = Mutex<[Plant: ForeignPostgresTable]>([:])
    /// Rows per page of the client-side `.metadata` summaries.
    static let projectionPageSize = 2000

    public init(_ configuration: Configuration) throws(ForeignLayoutError) {
        try configuration.layout.validate()
        self.configuration = configuration
        self.session = PostgresSession(
            conninfo: configuration.conninfo, applicationName: configuration.applicationName, label: "plantsync.foreign-postgres",
            callTimeout: configuration.callTimeout, setup: ["SET default_transaction_read_only = on", "SET TIME ZONE 'UTC'"])
    }

    private var store: String { "foreign PostgreSQL producer \(configuration.layout.container)" }


    // MARK: Tables

    /// The table of a plant, its mapped columns checked against the catalog on first use: a missing
    /// table or column is an error naming it.
    func table(_ plant: Plant) async throws -> ForeignPostgresTable {
        if let known = tables.withLock({ $0[plant] }) { return known }
        let zoned = try await checkColumns(of: configuration.layout.container(for: plant))
        let table = ForeignPostgresTable(layout: configuration.layout, plant: plant, zoned: zoned)
        tables.withLock { $0[plant] = table }
        return table
    }

    /// Checks that `container` exists with every mapped column; returns whether its timestamps are
    /// `timestamptz`.
    private func checkColumns(of container: String) async throws -> Bool {
        let layout = configuration.layout
        let wanted = Self.mappedColumns(layout)
        let types = try await session.run("describe \(container)") { connection throws(PGError) -> [String: String] in
            try PostgresSession.requireDigestSupport(connection)
            let result = try connection.execute(
                """
                SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
                """, [.text(ForeignPostgresTable.quotedName(container))])
            var types: [String: String] = [:]
            for row in 0..<result.rowCount { types[try result.string(row, 0) ?? ""] = try result.string(row, 1) ?? "" }
            return types
        }
        guard !types.isEmpty else {
            throw PostgresStoreError(
                operation: "read \(store)", sqlState: "42P01", message: "table '\(container)' does not exist or is not visible",
                isTransient: false)
        }
        if let missing = wanted.first(where: { types[$0.column] == nil }) {
            throw PostgresStoreError(
                operation: "read \(store)", sqlState: "42703",
                message:
                    "table '\(container)' has no column '\(missing.column)' for field \(missing.field) (map it with --producer-field \(missing.field)=COLUMN)",
                isTransient: false)
        }
        return types[layout.name(.createdAt)]?.hasPrefix("timestamp with time zone") ?? false
    }

    /// The columns a layout reads, with the field each stands for.
    static func mappedColumns(_ layout: ForeignLayout) -> [(field: String, column: String)] {
        var fields = ForeignLayout.Field.allCases.filter {
            layout.splitsCoordinates ? $0 != .gpsCoordinates : ($0 != .latitude && $0 != .longitude)
        }.map { ($0.rawValue, layout.name($0)) }
        if let plantColumn = layout.plantColumn, !layout.isPerPlant { fields.append(("plant", plantColumn)) }
        return fields
    }

    // MARK: Layout

    /// Checks the tables and columns of every plant the producer has (`plants()`: at least one);
    /// creates nothing.
    public func verifyLayout() async throws {
        let plants = try await plants()
        guard !plants.isEmpty else {
            throw PostgresStoreError(
                operation: "check \(store)", sqlState: "42P01",
                message: "no table matches --producer-table '\(configuration.layout.container)' ({plant} stands for a plant name)",
                isTransient: false)
        }
        for plant in plants { _ = try await table(plant) }
    }

    /// Per-plant tables: every table (or view) whose name is the layout's with a valid plant name for
    /// `{plant}`, in the layout's schema or, without one, visible on the search path. One table with a
    /// plant column: its distinct values — a skip scan, one probe per plant, quick with the index on
    /// `(plant column, id)` that every plant's reads want too — each a valid plant name, else an error.
    public func plants() async throws -> [Plant] {
        let layout = configuration.layout
        let parts = layout.container.split(separator: ".", maxSplits: 1).map(String.init)
        let (schema, template) = parts.count == 2 ? (parts[0], parts[1]) : (nil, parts[0])
        guard layout.isPerPlant else {
            _ = try await checkColumns(of: layout.container)
            let name = ForeignPostgresTable.quotedName(layout.container)
            let column = PGConnection.quoteIdentifier(layout.plantColumn ?? "")
            let text = """
                WITH RECURSIVE p(v) AS (
                    (SELECT s.\(column) FROM \(name) s WHERE s.\(column) IS NOT NULL ORDER BY s.\(column) LIMIT 1)
                    UNION ALL
                    SELECT (SELECT s.\(column) FROM \(name) s WHERE s.\(column) > p.v ORDER BY s.\(column) LIMIT 1)
                    FROM p WHERE p.v IS NOT NULL
                )
                SELECT v::text FROM p WHERE v IS NOT NULL
                """
            let values = try await session.run("list the plants of \(store)") { connection throws(PGError) in
                let result = try connection.execute(text)
                return try (0..<result.rowCount).map { row throws(PGError) in try result.string(row, 0) ?? "" }
            }
            let field = "\(layout.container) column \(layout.plantColumn ?? "") (--producer-plant-column)"
            return try values.map { value throws(PlantNameError) in try Plant(validating: value, field: field, collectionNames: false) }
        }
        guard !(schema ?? "").contains(ForeignLayout.plantPlaceholder) else {
            throw ForeignLayoutError(
                flag: "producer-table", value: layout.container,
                reason: "{plant} must be in the table's name, not its schema, to list the plants")
        }
        let prefix = String(template[..<template.firstRange(of: ForeignLayout.plantPlaceholder)!.lowerBound])
        let names = try await session.run("list the tables of \(store)") { connection throws(PGError) in
            let result = try connection.execute(
                """
                SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND left(c.relname, length($2)) = $2
                  AND CASE WHEN $1::text IS NULL THEN pg_table_is_visible(c.oid) ELSE n.nspname = $1 END
                """, [schema.map(PGParameter.text) ?? .null, .text(prefix)])
            return try (0..<result.rowCount).map { row throws(PGError) in try result.string(row, 0) ?? "" }
        }
        return Set(names.compactMap { ForeignLayout.plant(named: $0, in: template) }).sorted()
    }

    // MARK: Reads


    public func record(_ key: RecordKey) async throws -> ImageRecord? {
        let table = try await table(key.plant)
        return try await session.run("read \(key) from \(store)") { connection throws(PGError) in
            let result = try connection.execute(table.pointRead, table.leading + [.int(key.id)])
            return result.rowCount == 0 ? nil : try table.decode(result, row: 0, withData: true)
        }
    }

    public func count(of plant: Plant) async throws -> Int {
        let table = try await table(plant)
        return try await session.run("count \(plant) in \(store)") { connection throws(PGError) in
            Int(try connection.execute(table.count, table.leading).int64(0, 0) ?? 0)
        }
    }

    public func idBounds(of plant: Plant) async throws -> KeyRange? {
        let table = try await table(plant)
        return try await session.run("read id bounds of \(plant) in \(store)") { connection throws(PGError) in
            let result = try connection.execute(table.bounds, table.leading)
            guard let low = try result.int64(0, 0), let high = try result.int64(0, 1) else { return nil }
            return KeyRange(lower: low, upper: high == Int64.max ? high : high + 1)
        }
    }

    // MARK: Digests

    static let domains: [DigestDomain] = [.postgres, .metadata]
    public func digestDomains() async throws -> [DigestDomain] { Self.domains }

    /// `.postgres` in the server; `.metadata` here, from a projection without the bytes.
    public func computesInDatabase(_ domain: DigestDomain) -> Bool { domain == .postgres }

    public func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        guard !ranges.isEmpty else { return [] }
        try PostgresStore.require(domain, in: Self.domains)
        let table = try await table(plant)
        if domain == .metadata { return try await projectedSummaries(table, ranges) }
        let parameters = table.leading + [.int64Array(ranges.map(\.lower)), .int64Array(ranges.map(\.upper))]
        return try await session.run("checksum \(ranges.count) ranges of \(plant) in \(store)") { connection throws(PGError) in
            let result = try connection.execute(table.summaries(single: ranges.count == 1), parameters)
            return try (0..<result.rowCount).map { row throws(PGError) in try PostgresStore.summary(result, row: row, domain: .postgres) }
        }
    }

    /// `.postgres` cells grouped in the server; `.metadata` built here from the projection.
    public func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        try PostgresStore.require(domain, in: Self.domains)
        guard domain == .postgres else { return try await clientCells(of: plant, domain: domain, shape: shape) }
        let table = try await table(plant)
        return try await session.run("IBLT cells (\(shape)) of \(plant) in \(store)") { connection throws(PGError) in
            try PostgresDigestSQL.cells(connection, table.cells(shape: shape), table.leading, shape: shape)
        }
    }

    /// `.metadata` summaries from one keyset pass per run of sorted, disjoint ranges over their hull.
    private func projectedSummaries(_ table: ForeignPostgresTable, _ ranges: [KeyRange]) async throws -> [RangeSummary] {
        var sums = [(count: Int, checksum: UInt64)](repeating: (0, 0), count: ranges.count)
        let order = ranges.indices.filter { !ranges[$0].isEmpty }.sorted { ranges[$0].lower < ranges[$1].lower }
        let disjoint = zip(order, order.dropFirst()).allSatisfy { ranges[$0].upper <= ranges[$1].lower }
        let passes: [[Int]] = disjoint ? (order.isEmpty ? [] : [order]) : order.map { [$0] }
        for pass in passes {
            let hull = KeyRange(lower: ranges[pass.first!].lower, upper: ranges[pass.last!].upper)
            var cursor = 0
            for try await version in versions(of: table.plant, in: hull, pageSize: Self.projectionPageSize, domain: .metadata) {
                while cursor < pass.count && ranges[pass[cursor]].upper <= version.id { cursor += 1 }
                guard cursor < pass.count else { break }
                let index = pass[cursor]
                guard ranges[index].contains(version.id) else { continue }  // between two ranges
                sums[index].count += 1
                sums[index].checksum &+= UInt64(bitPattern: version.digest)
            }
        }
        return sums.map { RangeSummary(count: $0.count, checksum: $0.checksum) }
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            try PostgresStore.require(domain, in: Self.domains)
            return try await self.versionsPage(try await self.table(plant), from: lower, range: range, limit: limit, domain: domain)
        }
    }

    /// One page of versions: the record fields without bytes (the version is computed from them) and
    /// the domain's per-row digest part.
    private func versionsPage(
        _ table: ForeignPostgresTable, from lower: Int64, range: KeyRange, limit: Int, domain: DigestDomain
    ) async throws -> [KeyVersion] {
        let text = table.recordsPage(withData: false, extra: table.digestColumn(domain))
        return try await session.run("read versions of \(table.plant) \(range) in \(store)") { connection throws(PGError) in
            try Self.versions(try connection.execute(text, table.leading + [.int(lower), .int(range.upper), .int(limit)]), table, domain)
        }
    }

    public func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        .byIDs(ids, pageSize: pageSize) { slice in
            try PostgresStore.require(domain, in: Self.domains)
            let table = try await self.table(plant)
            return try await self.session.run("read versions of \(slice.count) keys of \(plant) in \(self.store)") {
                connection throws(PGError) in
                try Self.versions(try connection.execute(table.versionsByIds(domain), table.leading + [.int64Array(slice)]), table, domain)
            }
        }
    }

    /// Decodes rows of record fields followed by the domain's digest part (column 10).
    static func versions(_ result: PGResult, _ table: ForeignPostgresTable, _ domain: DigestDomain) throws(PGError) -> [KeyVersion] {
        try (0..<result.rowCount).map { row throws(PGError) -> KeyVersion in
            let record = try table.decode(result, row: row, withData: false)
            let part = try result.int64(row, 10) ?? 0
            let digest = domain == .postgres ? part : MetadataDigest.of(version: record.version, lengthCode: UInt64(part))
            return KeyVersion(id: record.id, version: record.version, digest: digest)
        }
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        .byIDs(ids, pageSize: pageSize) { slice in
            let table = try await self.table(plant)
            return try await self.session.run("read \(slice.count) records of \(plant) from \(self.store)") { connection throws(PGError) in
                let result = try connection.execute(table.recordsByIds, table.leading + [.int64Array(slice)])
                return try (0..<result.rowCount).map { row throws(PGError) in try table.decode(result, row: row, withData: true) }
            }
        }
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            let table = try await self.table(plant)
            return try await self.session.run("read records of \(plant) \(range) from \(self.store)") { connection throws(PGError) in
                let result = try connection.execute(
                    table.recordsPage(withData: true), table.leading + [.int(lower), .int(range.upper), .int(limit)])
                return try (0..<result.rowCount).map { row throws(PGError) in try table.decode(result, row: row, withData: true) }
            }
        }
    }

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        .keyset(in: .all, pageSize: pageSize, id: \.id) { lower, limit in
            let table = try await self.table(plant)
            return try await self.session.run("read records of \(plant) changed since \(since) from \(self.store)") {
                connection throws(PGError) in
                let result = try connection.execute(table.changedSincePage, table.leading + [.int(since), .int(lower), .int(limit)])
                return try (0..<result.rowCount).map { row throws(PGError) in try table.decode(result, row: row, withData: true) }
            }
        }
    }
}
