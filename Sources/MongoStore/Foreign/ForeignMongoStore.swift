import BlockingExecutor
import Foundation
import LibMongoC
import SyncModel

/// A MongoDB producer written by LIMS's own Image API (docs/mongodb.md, "A foreign producer"): plain
/// documents in `imagecolplant<plant>` (or the collections and field names of a `ForeignLayout`), no
/// PlantSync bookkeeping. READ-ONLY: it is a `DiffSource` and a `RecordReader`, with no write method at
/// all, and no command it sends writes (not even `createIndexes`).
///
/// - A record's version is that of the decoded record (`ImageRecord.version`: `ts` = `updated_at ??
///   created_at` in whole milliseconds × 1000, the precision BSON dates keep; tiebreak = its content hash,
///   computed here).
/// - Digests: `.mongo` in the server (`$toHashedIndexKey`, MongoDB 7.0+, detected with `buildInfo` at
///   first use) and `.metadata` on the client from a projection without the bytes (their length from
///   `$binarySize`), so a diff never reads the image bytes of an unchanged record.
/// - Reads are keyset-paginated aggregates: memory holds one page.
public final class ForeignMongoStore: DiffSource, RecordReader, @unchecked Sendable {
    // @unchecked Sendable is safe: the mutable state (`client`, `hashedSupport`) is read and written only
    // inside blocks running on the serial `executor`; everything else is immutable after `init`.

    /// Which digest the server computes.
    public typealias DigestMode = MongoDigestMode

    public struct Configuration: Sendable {
        /// A `mongodb://` (or `mongodb+srv://`) connection string; its path names the database
        /// (`imagedbplantproducer` when it has none).
        public var connectionString: String
        public var appName: String
        public var layout: ForeignLayout
        public var digest: DigestMode
        /// libmongoc's `socketTimeoutMS` unless the URI sets it: a call on a silent connection fails
        /// (transient) after this long (docs/design.md §4).
        public var callTimeout: Duration

        public init(
            connectionString: String, appName: String = "plantsync", layout: ForeignLayout = .lims,
            digest: ForeignMongoStore.DigestMode = .auto, callTimeout: Duration = StoreCallTimeout.batch
        ) {
            self.callTimeout = callTimeout
            self.connectionString = connectionString
            self.appName = appName
            self.layout = layout
            self.digest = digest
        }
    }

    /// LIMS's producer database, when the URI names none.
    public static let defaultDatabase = "imagedbplantproducer"

    public let configuration: Configuration
    /// The database read, from the URI's path.
    public let database: String
    let paths: MongoFieldPaths
    private let executor = BlockingExecutor(label: "plantsync.foreign-mongo-store")
    private var client: MongoClient?
    /// Whether the server computes `$toHashedIndexKey`; `nil` until asked.
    private var hashedSupport: Bool?

    public init(_ configuration: Configuration) throws {
        let uri = configuration.connectionString
        let name = try MongoStore.database(inURI: uri, operation: "configure foreign producer") ?? Self.defaultDatabase
        // The same URI and database rules as PlantSync's own store.
        try MongoStore.validate(.init(uri: uri, database: name, appName: configuration.appName))
        do {
            try configuration.layout.validate()
        } catch {
            throw MongoStoreError(operation: "configure foreign producer", message: "layout \(configuration.layout): \(error)")
        }
        self.configuration = configuration
        self.database = name
        self.paths = MongoFieldPaths(layout: configuration.layout)
    }


    // MARK: Running work on the client

    func withClient<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (ForeignMongoStore) throws -> T) async throws -> T {
        try await executor.run { try self.mapped(operation) { try body(self) } }
    }

    private func mapped<T>(_ operation: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MongoError {
            throw MongoStoreError(operation: operation, error)
        }
    }

    /// Must run on `executor`.
    @available(*, noasync)
    func connectedClient() throws(MongoError) -> MongoClient {
        if let client { return client }
        let client = try MongoClient(
            uri: configuration.connectionString, appName: configuration.appName, socketTimeout: configuration.callTimeout)
        self.client = client
        return client
    }

    func collectionName(_ plant: Plant) -> String { configuration.layout.container(for: plant) }

    /// Must run on `executor`.
    @available(*, noasync)
    func collection(_ plant: Plant) throws(MongoError) -> MongoCollection {
        try connectedClient().collection(collectionName(plant), database: database)
    }

    func describe(_ plant: Plant) -> String { "\(database).\(collectionName(plant))" }

    /// The filter that selects the plant's documents: none for a per-plant collection, else the plant column.
    func plantFilter(_ plant: Plant) -> BSONDocument {
        guard let column = configuration.layout.plantColumn, !configuration.layout.isPerPlant else { return [:] }
        return BSONDocument([(column, .string(plant.rawValue))])
    }

    func idRangeFilter(_ plant: Plant, _ range: KeyRange) -> BSONDocument {
        var filter = plantFilter(plant)
        filter.append(paths.id, MongoQueries.idRange(range.lower, range.upper))
        return filter
    }

    // MARK: Digest domains

    /// `$toHashedIndexKey` exists from MongoDB 7.0 on. Must run on `executor`; cached once known.
    @available(*, noasync)
    func serverHashes() throws(MongoError) -> Bool {
        if let hashedSupport { return hashedSupport }
        let reply = try connectedClient().command(["buildInfo": .int32(1)], database: "admin")
        let major: Int64?
        if let first = reply["versionArray"]?.arrayValue?.first?.int64Value {
            major = first
        } else {
            major = reply["version"]?.stringValue?.split(separator: ".").first.flatMap { Int64($0) }
        }
        let supported = (major ?? 0) >= 7
        hashedSupport = supported
        return supported
    }

    /// `.mongo` (if the server hashes, or forced) then `.metadata`. In `.auto` mode the first call asks
    /// the server (`buildInfo`, once, on the store's executor). If the server cannot be asked, `.mongo`
    /// is offered without caching: it never weakens the comparison, and a server without it fails the
    /// summary with the server's own message.
    public func digestDomains() async throws -> [DigestDomain] {
        switch configuration.digest {
        case .hashed: return [.mongo, .metadata]
        case .client: return [.metadata]
        case .auto:
            let supported = try? await withClient("ask the server version") { try $0.serverHashes() }
            return supported == false ? [.metadata] : [.mongo, .metadata]
        }
    }

    /// `.mongo` is computed by the server; `.metadata` by this client from a projection without bytes.
    public func computesInDatabase(_ domain: DigestDomain) -> Bool { domain == .mongo }

    public func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        guard !ranges.isEmpty else { return [] }
        let operation = "checksum (\(domain)) \(ranges.count) ranges of \(describe(plant))"
        try requireDomain(domain, operation)
        return try await withClient(operation) { store in
            let collection = try store.collection(plant)
            switch domain {
            case .mongo:
                let stages: [BSONDocument] =
                    [["$project": ["_id": .int32(0), "id": MongoFieldPaths.ref(store.paths.id), "h": MongoDigest.hash(store.paths)]]]
                    + MongoDigest.halvesStages
                return try MongoRangeAggregation.run(
                    ranges: ranges, collection: collection, match: { store.idRangeFilter(plant, $0) }, stages: stages,
                    output: MongoDigest.halvesOutput
                ).map(MongoDigest.mongoChecksum)
            default:
                return try store.clientMetadataSummaries(plant: plant, ranges: ranges, collection: collection, operation: operation)
            }
        }
    }

    func requireDomain(_ domain: DigestDomain, _ operation: String) throws {
        guard domain == .metadata || (domain == .mongo && configuration.digest != .client) else {
            throw MongoStoreError(
                operation: operation,
                message: "a foreign MongoDB producer with --mongo-digest \(configuration.digest.rawValue) does not compute \(domain)")
        }
    }

    /// The projection of every LIMS field but the bytes (renamed to LIMS's names), plus `size`: the
    /// bytes' length from `$binarySize` (the server reads the bytes; the wire carries only the length).
    var metadataProjection: BSONDocument {
        BSONDocument([("_id", .int32(0))] + paths.recordProjection + [("size", MongoDigest.size(paths.data))])
    }

    /// `.metadata` summaries on the client: one cursor over the ranges' hull (no sort), each document's
    /// digest added to every range holding its id.
    func clientMetadataSummaries(plant: Plant, ranges: [KeyRange], collection: MongoCollection, operation: String) throws
        -> [RangeSummary]
    {
        let nonEmpty = ranges.filter { !$0.isEmpty }
        guard let lower = nonEmpty.map(\.lower).min(), let upper = nonEmpty.map(\.upper).max() else {
            return ranges.map { _ in .empty }
        }
        let sorted = ranges.indices.sorted { ranges[$0].lower < ranges[$1].lower }
        let disjoint = zip(sorted, sorted.dropFirst()).allSatisfy { ranges[$0].upper <= ranges[$1].lower }
        var counts = [Int](repeating: 0, count: ranges.count)
        var sums = [UInt64](repeating: 0, count: ranges.count)
        let cursor = try collection.aggregate(
            [
                ["$match": .document(idRangeFilter(plant, KeyRange(lower: lower, upper: upper)))],
                ["$project": .document(metadataProjection)],
            ],
            options: ["batchSize": .int32(1000)])
        while let doc = try cursor.next() {
            let (record, digest) = try metadataDigest(doc, plant: plant, operation: operation)
            let id = record.id
            if disjoint {
                // The last range (in lower order) starting at or below id.
                var lo = 0
                var hi = sorted.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if ranges[sorted[mid]].lower <= id { lo = mid + 1 } else { hi = mid }
                }
                if lo > 0, ranges[sorted[lo - 1]].contains(id) {
                    counts[sorted[lo - 1]] += 1
                    sums[sorted[lo - 1]] &+= UInt64(bitPattern: digest)
                }
            } else {
                for i in ranges.indices where ranges[i].contains(id) {
                    counts[i] += 1
                    sums[i] &+= UInt64(bitPattern: digest)
                }
            }
        }
        return ranges.indices.map { RangeSummary(count: counts[$0], checksum: sums[$0]) }
    }

    /// The `.metadata` digest of a projected document (`metadataProjection`).
    func metadataDigest(_ doc: BSONDocument, plant: Plant, operation: String) throws(MongoStoreError) -> (
        record: ImageRecord, digest: Int64
    ) {
        let record = try MongoRecordCodec.record(doc, plant: plant, operation: operation)
        let size: Int?
        switch doc["size"] {
        case nil, .null?: size = nil
        case let value?:
            guard let n = value.int64Value, n >= 0 else {
                throw MongoStoreError.badDocument(
                    operation, id: doc["id"], field: paths.data, value: value, expected: "binary data or null")
            }
            size = Int(n)
        }
        return (record, MetadataDigest.of(version: record.version, lengthCode: MetadataDigest.lengthCode(byteCount: size)))
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        let operation = "read versions (\(domain)) of \(describe(plant)) \(range)"
        return .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            try self.requireDomain(domain, operation)
            return try await self.withClient(operation) { store in
                var projection = BSONDocument([("_id", .int32(0))] + store.paths.recordProjection)
                if domain == .mongo {
                    projection.append("h", MongoDigest.hash(store.paths))
                } else {
                    projection.append("size", MongoDigest.size(store.paths.data))
                }
                let cursor = try store.collection(plant).aggregate(
                    store.pagePipeline(plant, filter: store.idRangeFilter(plant, KeyRange(lower: lower, upper: range.upper)), limit: limit)
                        + [["$project": .document(projection)]])
                var page: [KeyVersion] = []
                while let doc = try cursor.next() {
                    if domain == .mongo {
                        let record = try MongoRecordCodec.record(doc, plant: plant, operation: operation)
                        guard let h = MongoDigest.hashValue(doc["h"]) else {
                            throw MongoStoreError.badDocument(
                                operation, id: doc["id"], field: "h", value: doc["h"], expected: "a 64-bit hash")
                        }
                        page.append(KeyVersion(id: record.id, version: record.version, digest: h))
                    } else {
                        let (record, digest) = try store.metadataDigest(doc, plant: plant, operation: operation)
                        page.append(KeyVersion(id: record.id, version: record.version, digest: digest))
                    }
                }
                return page
            }
        }
    }

    // MARK: Schema: verify only

    /// Verifies, without writing anything: the server answers `ping`, and the database holds a plant
    /// of the layout (`plants()`: a collection per plant, or the one collection). Creates no collection
    /// and no index (docs/mongodb.md lists the indexes LIMS's producer should have).
    public func verifyLayout() async throws {
        try await withClient("verify the foreign producer \(database)") { store in try store.connectedClient().ping() }
        guard try await !plants().isEmpty else {
            throw MongoStoreError(
                operation: "verify the foreign producer \(database)",
                message:
                    "no collection of layout \(configuration.layout) in database '\(database)' ({plant} stands for a plant name); is the URI's database LIMS's producer?"
            )
        }
    }

    /// Per-plant collections: every collection whose name is the layout's with a valid plant name for
    /// `{plant}` (`listCollections`). One collection with a plant field: its distinct values (`$group`),
    /// each a valid plant name, else an error naming it.
    public func plants() async throws -> [Plant] {
        let layout = configuration.layout
        let operation = "list the plants of \(database) (layout \(layout))"
        let names = try await withClient(operation) { store in
            try MongoStore.collectionNames(try store.connectedClient(), database: store.database)
        }
        if layout.isPerPlant { return Set(names.compactMap { ForeignLayout.plant(named: $0, in: layout.container) }).sorted() }
        guard names.contains(layout.container), let field = layout.plantColumn else { return [] }
        let values = try await withClient(operation) { store in
            let cursor = try store.connectedClient().collection(layout.container, database: store.database).aggregate(
                [["$group": ["_id": MongoFieldPaths.ref(field)]]])
            var values: [BSONValue] = []
            while let doc = try cursor.next() { values.append(doc["_id"] ?? .null) }
            return values
        }
        var plants: [Plant] = []
        for value in values {
            guard let text = value.stringValue else {
                throw MongoStoreError(
                    operation: operation, message: "field '\(field)' (--producer-plant-column) holds \(value), not a plant name (a string)")
            }
            let named = "\(database).\(layout.container) field \(field) (--producer-plant-column)"
            plants.append(try Plant(validating: text, field: named, collectionNames: false))
        }
        return plants.sorted()
    }

    // MARK: Reads

    /// `$match` → `$sort` on id → `$limit`.
    func pagePipeline(_ plant: Plant, filter: BSONDocument, limit: Int?) -> [BSONDocument] {
        var pipeline: [BSONDocument] = [["$match": .document(filter)], ["$sort": .document(BSONDocument([(paths.id, .int32(1))]))]]
        if let limit { pipeline.append(["$limit": .int64(Int64(limit))]) }
        return pipeline
    }

    /// Every LIMS field with the bytes, renamed to LIMS's names, and the document's `_id` (the record's
    /// `SourceID`, which the consumer keeps: docs/design.md §2).
    var recordProjection: BSONDocument {
        BSONDocument([("_id", .int32(1))] + paths.recordProjection + [("data", MongoFieldPaths.ref(paths.data))])
    }

    /// Must run on `executor`.
    func readRecords(_ plant: Plant, filter: BSONDocument, limit: Int?, operation: String) throws -> [ImageRecord] {
        let cursor = try collection(plant).aggregate(
            pagePipeline(plant, filter: filter, limit: limit) + [["$project": .document(recordProjection)]],
            options: ["batchSize": .int32(Int32(clamping: limit ?? 100))])
        var records: [ImageRecord] = []
        while let doc = try cursor.next() {
            var record = try MongoRecordCodec.record(doc, plant: plant, operation: operation)
            record.sourceID = MongoRecordCodec.sourceID(doc["_id"])
            records.append(record)
        }
        return records
    }

    public func record(_ key: RecordKey) async throws -> ImageRecord? {
        let operation = "read \(key) from \(describe(key.plant))"
        return try await withClient(operation) { store in
            var filter = store.plantFilter(key.plant)
            filter.append(store.paths.id, .int64(key.id))
            return try store.readRecords(key.plant, filter: filter, limit: 1, operation: operation).first
        }
    }

    /// Every document: a soft delete (`is_deleted`) is an ordinary field, and LIMS keeps no tombstones.
    public func count(of plant: Plant) async throws -> Int {
        try await withClient("count \(describe(plant))") { store in
            try store.collection(plant).countDocuments(store.plantFilter(plant))
        }
    }

    public func idBounds(of plant: Plant) async throws -> KeyRange? {
        let operation = "read id bounds of \(describe(plant))"
        return try await withClient(operation) { store in
            let collection = try store.collection(plant)
            let idName = store.paths.id
            func edge(_ direction: Int32) throws -> Int64? {
                var filter = store.plantFilter(plant)
                filter.append(idName, ["$type": "number"])
                let options: BSONDocument = [
                    "projection": .document(BSONDocument([(idName, .int32(1)), ("_id", .int32(0))])),
                    "sort": .document(BSONDocument([(idName, .int32(direction))])), "limit": .int64(1),
                ]
                guard let doc = try collection.find(filter, options: options).next() else { return nil }
                guard let id = doc[idName]?.int64Value else {
                    throw MongoStoreError.badDocument(operation, id: doc[idName], field: idName, value: doc[idName], expected: "an integer")
                }
                return id
            }
            guard let low = try edge(1), let high = try edge(-1) else { return nil }
            return KeyRange(lower: low, upper: high == Int64.max ? high : high + 1)
        }
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        let operation = "read records by id from \(describe(plant))"
        return .byIDs(ids, pageSize: pageSize) { slice in
            try await self.withClient(operation) { store in
                var filter = store.plantFilter(plant)
                filter.append(store.paths.id, ["$in": .array(slice.map(BSONValue.int64))])
                return try store.readRecords(plant, filter: filter, limit: nil, operation: operation)
            }
        }
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        let operation = "read records of \(describe(plant)) \(range)"
        return .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            try await self.withClient(operation) { store in
                try store.readRecords(
                    plant, filter: store.idRangeFilter(plant, KeyRange(lower: lower, upper: range.upper)), limit: limit,
                    operation: operation)
            }
        }
    }

    /// Records whose `updated_at ?? created_at` is at least `since` (µs): `updated_at ≥ d`, or no
    /// `updated_at` and `created_at ≥ d`, with d = `since` rounded up to the millisecond (BSON dates
    /// hold milliseconds). Served by indexes on `updated_at` and `created_at` (docs/mongodb.md).
    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        let operation = "read records of \(describe(plant)) changed since \(since)"
        let ms = since >= 0 ? (since + 999) / 1000 : -((-since) / 1000)
        let date = BSONValue.datetime(ms)
        return .keyset(in: .all, pageSize: pageSize, id: \.id) { lower, limit in
            try await self.withClient(operation) { store in
                var filter = store.idRangeFilter(plant, KeyRange(lower: lower, upper: Int64.max))
                filter.append(
                    "$or",
                    [
                        .document(BSONDocument([(store.paths.updatedAt, ["$gte": date])])),
                        .document(BSONDocument([(store.paths.updatedAt, .null), (store.paths.createdAt, ["$gte": date])])),
                    ])
                return try store.readRecords(plant, filter: filter, limit: limit, operation: operation)
            }
        }
    }
}
