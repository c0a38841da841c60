import BlockingExecutor
import Foundation
import LibMongoC
import SyncModel

/// The `ConsumerStore` over MongoDB (libmongoc), in LIMS's own layout: one collection per plant
/// (`imagecolplant<plant>` in `imagedbplantconsumer` by default), LIMS's field names and types, and
/// PlantSync's bookkeeping in a `_ps` subdocument (docs/mongodb.md).
///
/// - One `mongoc_client_t`, used only from one `BlockingExecutor`: libmongoc calls block, so they run
///   there, never on Swift's cooperative pool. Its timeouts (`MongoClient.defaultTimeouts`, the socket
///   timeout from `callTimeout`) turn a silent server into a transient error.
/// - `apply` reduces the batch to one write per key (`KeyWinners`) and sends one unordered bulk write
///   per plant and batch; each write is a pipeline update whose two parts (record, bytes register) are
///   guarded by their own version rule, and whose filter requires one of them to be newer, so the
///   database enforces both (both stale turns the upsert into an insert that the unique index on `id`
///   rejects: E11000 = skipped-stale). See `MongoWrite`.
/// - Reads are keyset-paginated through cursors: memory is bounded by one page.
public final class MongoStore: ConsumerStore, StoreProbe, @unchecked Sendable {
    // @unchecked Sendable is safe: the mutable state (`client`, `collections`, `indexed`) is read and written
    // only inside blocks running on the serial `executor`; everything else is immutable
    // after `init`.

    public struct Configuration: Sendable {
        /// A `mongodb://` (or `mongodb+srv://`) connection string.
        public var uri: String
        /// LIMS's consumer database by default; `imagedbplantproducer` is LIMS's producer.
        public var database: String
        /// Collections are `<prefix><plant>`: LIMS's `imagecolplant<plant>` by default, one per plant,
        /// created by the first write of a plant.
        public var collectionPrefix: String
        /// The client's app name (set once), as the server's logs and `currentOp` show it.
        public var appName: String
        /// libmongoc's `socketTimeoutMS` unless the URI sets it: a call on a silent connection fails
        /// (transient) after this long (docs/design.md §4).
        public var callTimeout: Duration

        public init(
            uri: String, database: String = "imagedbplantconsumer", collectionPrefix: String = Plant.limsCollectionPrefix,
            appName: String = "plantsync", callTimeout: Duration = StoreCallTimeout.batch
        ) {
            self.callTimeout = callTimeout
            self.uri = uri
            self.database = database
            self.collectionPrefix = collectionPrefix
            self.appName = appName
        }

        public func collectionName(_ plant: Plant) -> String { collectionPrefix + plant.rawValue }

        /// The plant a collection of the database holds, `nil` for any other collection.
        public func plant(ofCollection name: String) -> Plant? {
            ForeignLayout.plant(named: name, in: collectionPrefix + ForeignLayout.plantPlaceholder)
        }

        /// A configuration from one connection string, as the jobs take it: the database is the URI's
        /// path (`mongodb://mongodb-producer:27017/imagedbplantproducer`), LIMS's consumer database if
        /// the path is empty. (MongoDB also authenticates against that database unless the URI says
        /// `authSource=…`.)
        public init(
            connectionString: String, collectionPrefix: String = Plant.limsCollectionPrefix, appName: String = "plantsync",
            callTimeout: Duration = StoreCallTimeout.batch
        ) throws(MongoStoreError) {
            let database = try MongoStore.database(inURI: connectionString, operation: "configure")
            self.init(
                uri: connectionString, database: database ?? "imagedbplantconsumer", collectionPrefix: collectionPrefix,
                appName: appName, callTimeout: callTimeout)
        }

        /// Whether `uri` names a MongoDB server (so a job picks this store for it).
        public static func accepts(_ uri: String) -> Bool {
            uri.hasPrefix("mongodb://") || uri.hasPrefix("mongodb+srv://")
        }
    }

    public let configuration: Configuration
    private let executor = BlockingExecutor(label: "plantsync.mongo-store")
    private var client: MongoClient?
    private var collections: [Plant: MongoCollection] = [:]
    /// Plants whose collection this store has given its indexes (`prepareSchema`, or its first write).
    private var indexed: Set<Plant> = []

    public init(_ configuration: Configuration) throws(MongoStoreError) {
        try Self.validate(configuration)
        self.configuration = configuration
    }

    static func validate(_ c: Configuration) throws(MongoStoreError) {
        func fail(_ message: String) -> MongoStoreError { MongoStoreError(operation: "configure", message: message) }
        guard Configuration.accepts(c.uri) else {
            throw fail("URI must start with mongodb:// or mongodb+srv://, got '\(StoreURI.redacted(c.uri))'")
        }
        do {
            try MongoClient.validate(uri: c.uri)
        } catch {
            throw fail(
                "\(error.message.replacingOccurrences(of: c.uri, with: StoreURI.redacted(c.uri))) (URI '\(StoreURI.redacted(c.uri))')")
        }
        let forbidden = Set("/\\. \"$*<>:|?")
        guard !c.database.isEmpty, c.database.utf8.count < 64, !c.database.contains(where: { forbidden.contains($0) || $0 == "\0" }) else {
            throw fail("database name '\(c.database)' is invalid: use 1–63 characters, none of / \\ . space \" $ * < > : | ?")
        }
        guard !c.collectionPrefix.isEmpty, !c.collectionPrefix.contains("$"), !c.collectionPrefix.contains("\0"),
            !c.collectionPrefix.hasPrefix("system."), !c.collectionPrefix.hasPrefix(".")
        else {
            throw fail("collection prefix '\(c.collectionPrefix)' is invalid: non-empty, no '$' or NUL, not starting with 'system.' or '.'")
        }
    }

    // MARK: Running work on the client

    /// `ping` on `admin` (the client's socket timeout bounds it; `timeout` bounds the wait for the executor's
    /// earlier calls too: a caller that is cancelled stops waiting).
    public func ping(timeout: Duration) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.withClient("ping") { try $0.connectedClient().ping() } }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw MongoStoreError(operation: "ping", message: "no answer within \(timeout)")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Runs `body` on the store's executor with the client; maps libmongoc errors to store errors.
    func withClient<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (MongoStore) throws -> T
    ) async throws -> T {
        try await executor.run {
            do {
                return try body(self)
            } catch let error as MongoError {
                throw MongoStoreError(operation: operation, error)
            }
        }
    }

    /// Must run on `executor`.
    @available(*, noasync)
    func connectedClient() throws(MongoError) -> MongoClient {
        if let existing = self.client { return existing }
        let client = try MongoClient(uri: configuration.uri, appName: configuration.appName, socketTimeout: configuration.callTimeout)
        self.client = client
        return client
    }

    /// A collection of the store's database by name (not cached). Must run on `executor`.
    @available(*, noasync)
    func namedCollection(_ name: String) throws(MongoError) -> MongoCollection {
        try connectedClient().collection(name, database: configuration.database)
    }

    /// Must run on `executor`.
    @available(*, noasync)
    func collection(_ plant: Plant) throws(MongoError) -> MongoCollection {
        if let collection = collections[plant] { return collection }
        let collection = try connectedClient().collection(configuration.collectionName(plant), database: configuration.database)
        collections[plant] = collection
        return collection
    }

    func describe(_ plant: Plant) -> String { "\(configuration.database).\(configuration.collectionName(plant))" }

    // MARK: Schema

    static let idIndex = IndexModel(keys: ["id": .int32(1)], name: "id_1", unique: true)
    static let versionIndex = IndexModel(keys: ["_ps.ts": .int32(1)], name: "plantsync_version_ts")
    /// Deletes and patches by the producer's `_id` find their record through it (`keys(of:sourceIDs:)`).
    static let sourceIDIndex = IndexModel(keys: ["_ps.sid": .int32(1)], name: "plantsync_source_id")

    /// Gives every plant collection the database holds its indexes (idempotent); a plant's collection
    /// made later gets them from its first write (`indexedCollection`), before any document.
    public func prepareSchema() async throws {
        for plant in try await plants() {
            try await withClient("prepare indexes of \(describe(plant))") { store in _ = try store.indexedCollection(plant) }
        }
    }

    /// The plant's collection with its indexes, created (with the collection) on first use in this
    /// process: the unique index on `id` must exist before the first conditional upsert (`MongoWrite`).
    /// Must run on `queue`.
    func indexedCollection(_ plant: Plant) throws -> MongoCollection {
        let handle = try self.collection(plant)
        guard !indexed.contains(plant) else { return handle }
        do throws(MongoError) {
            try handle.createIndexes([Self.idIndex, Self.versionIndex, Self.sourceIDIndex])
        } catch {
            guard [85, 86, 11000].contains(error.code) else { throw error }
            throw MongoStoreError(
                operation: "prepare indexes of \(describe(plant))", domain: error.domain, code: error.code,
                message:
                    "cannot create the unique index on 'id' (\(error.message)); an index on 'id' with other options, or two documents with the same id, exist: fix them first"
            )
        }
        indexed.insert(plant)
        return handle
    }

    /// Every `<prefix><plant>` collection of the database, tombstones-only ones too.
    public func plants() async throws -> [Plant] {
        try await withClient("list the plant collections of \(configuration.database)") { store in
            let names = try Self.collectionNames(try store.connectedClient(), database: store.configuration.database)
            let configuration = store.configuration
            return names.compactMap { configuration.plant(ofCollection: $0) }.sorted()
        }
    }

    /// The names of a database's collections (`listCollections`, names only).
    static func collectionNames(_ client: MongoClient, database: String) throws(MongoError) -> [String] {
        let reply = try client.command(
            ["listCollections": .int32(1), "nameOnly": true, "authorizedCollections": true, "cursor": ["batchSize": .int32(100_000)]],
            database: database)
        return (reply[path: "cursor.firstBatch"]?.arrayValue ?? []).compactMap { $0.documentValue?["name"]?.stringValue }
    }

    // MARK: Apply

    public func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        guard !changes.isEmpty else { return ApplyOutcome(applied: 0, skippedStale: 0) }
        for change in changes where change.key.id <= 0 {
            throw MongoStoreError(operation: "apply", message: "field 'id' holds \(change.key.id) in \(change): ids must be positive")
        }
        // One write per key: the greatest record version with the greatest bytes (the other changes
        // would lose anyway: skipped-stale); then, where one is newer, the field-keeping upsert.
        // The whole batch in one call on the store's executor: one ordered pass over its plants'
        // collections (MongoDB cannot write several collections in one bulk write, and the engine's
        // multi-document transactions are not used: docs/design.md §3 says what holds instead).
        let reduced = Dictionary(grouping: Change.reduce(changes).values, by: \.key.plant)
        var plan: [(plant: Plant, writes: [MongoApply.KeyWrite], keeping: [WriteModel])] = []
        for (plant, unsorted) in reduced.sorted(by: { $0.key < $1.key }) {
            let keys = unsorted.sorted { $0.key < $1.key }
            let writes = keys.compactMap { winners in winners.record.map { MongoApply.KeyWrite(winners, record: $0) } }
            let keeping = keys.compactMap { winners in
                winners.keepingFieldsAfterRecord.map { MongoWrite.keepingFields($0, bytes: winners.record == nil ? winners.bytes : nil) }
            }
            plan.append((plant, writes, keeping))
        }
        let batch = plan
        let plants = batch.map { describe($0.plant) }.joined(separator: ", ")
        let applied = try await withClient("apply \(changes.count) changes to \(plants)") { store in
            var applied: [Plant: Int] = [:]
            for (plant, writes, keeping) in batch {
                applied[plant] = try MongoApply.run(writes, keeping: keeping, on: store.indexedCollection(plant))
            }
            return applied
        }
        return ApplyOutcome(changes: changes, appliedByPlant: applied)
    }

    // MARK: Reads

    public func record(_ key: RecordKey) async throws -> ImageRecord? {
        let operation = "read \(key) from \(describe(key.plant))"
        return try await withClient(operation) { store in
            let cursor = try store.collection(key.plant).find(
                ["id": .int64(key.id), "_ps.tombstone": MongoQueries.notTombstone], options: ["limit": .int64(1)])
            return try cursor.next().map { doc throws(MongoStoreError) in
                try MongoRecordCodec.record(doc, plant: key.plant, operation: operation)
            }
        }
    }

    public func keys(of plant: Plant, sourceIDs: [SourceID]) async throws -> [SourceID: Int64] {
        guard !sourceIDs.isEmpty else { return [:] }
        let operation = "find \(sourceIDs.count) producer _ids in \(describe(plant))"
        let filter: BSONDocument = ["_ps.sid": ["$in": .array(sourceIDs.map { .string($0.rawValue) })]]
        return try await withClient(operation) { store in
            let cursor = try store.collection(plant).find(
                filter, options: ["projection": ["_id": .int32(0), "id": .int32(1), "_ps.sid": .int32(1)]])
            var keys: [SourceID: Int64] = [:]
            while let doc = try cursor.next() {
                let keyed = try MongoRecordCodec.keyed(doc, operation: operation)
                if let raw = doc[path: "_ps.sid"]?.stringValue, let sourceID = SourceID(rawValue: raw) { keys[sourceID] = keyed.id }
            }
            return keys
        }
    }

    public func count(of plant: Plant) async throws -> Int {
        try await withClient("count \(describe(plant))") { store in
            try store.collection(plant).countDocuments(["_ps.tombstone": MongoQueries.notTombstone])
        }
    }

    public func idBounds(of plant: Plant) async throws -> KeyRange? {
        let operation = "read id bounds of \(describe(plant))"
        return try await withClient(operation) { store in
            let collection = try store.collection(plant)
            func edge(_ direction: Int32) throws -> Int64? {
                let options: BSONDocument = [
                    "projection": ["id": .int32(1), "_id": .int32(0)], "sort": ["id": .int32(direction)], "limit": .int64(1),
                ]
                guard let doc = try collection.find(["id": ["$type": "number"]], options: options).next() else { return nil }
                guard let id = doc["id"]?.int64Value else {
                    throw MongoStoreError.badDocument(operation, id: doc["id"], field: "id", value: doc["id"], expected: "an integer")
                }
                return id
            }
            guard let low = try edge(1), let high = try edge(-1) else { return nil }
            return KeyRange(lower: low, upper: high == Int64.max ? high : high + 1)
        }
    }

    /// PlantSync's bookkeeping first; `.mongo` (`$toHashedIndexKey`, MongoDB 7.0+) against a foreign
    /// MongoDB producer; `.metadata` against any other store. All three are computed by the server.
    static let domains: [DigestDomain] = [.plantsync, .mongo, .metadata]
    public func digestDomains() async throws -> [DigestDomain] { Self.domains }
    public func computesInDatabase(_ domain: DigestDomain) -> Bool { Self.domains.contains(domain) }

    public func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        guard !ranges.isEmpty else { return [] }
        let operation = "checksum (\(domain)) \(ranges.count) ranges of \(describe(plant))"
        return try await withClient(operation) { store in
            switch domain {
            case .plantsync: return try MongoSummaries.compute(plant: plant, ranges: ranges, collection: store.collection(plant))
            case .mongo: return try MongoOwnDomains.mongoSummaries(ranges: ranges, collection: store.collection(plant))
            case .metadata:
                return try MongoOwnDomains.metadataSummaries(plant: plant, ranges: ranges, collection: store.collection(plant))
            case .postgres:
                throw MongoStoreError(operation: operation, message: "the MongoDB store does not compute the \(domain) digest domain")
            }
        }
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        let operation = "read versions (\(domain)) of \(describe(plant)) \(range)"
        return .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            try await self.withClient(operation) { store in
                if domain == .plantsync {
                    return try MongoVersions.page(
                        plant: plant, from: lower, upper: range.upper, limit: limit, collection: store.collection(plant),
                        operation: operation)
                }
                return try MongoOwnDomains.versionsPage(
                    plant: plant, domain: domain, from: lower, upper: range.upper, limit: limit, collection: store.collection(plant),
                    operation: operation)
            }
        }
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        let operation = "read records by id from \(describe(plant))"
        return .byIDs(ids, pageSize: pageSize) { slice in
            try await self.withClient(operation) { store in
                try Self.readRecords(
                    plant: plant, filter: ["id": ["$in": .array(slice.map(BSONValue.int64))]], limit: nil,
                    collection: store.collection(plant), operation: operation)
            }
        }
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        let operation = "read records of \(describe(plant)) \(range)"
        return .keyset(in: range, pageSize: pageSize, id: \.id) { lower, limit in
            try await self.withClient(operation) { store in
                try Self.readRecords(
                    plant: plant, filter: ["id": MongoQueries.idRange(lower, range.upper)], limit: limit,
                    collection: store.collection(plant), operation: operation)
            }
        }
    }

    /// Live records matching `filter`, in id order, through a cursor.
    static func readRecords(
        plant: Plant, filter: BSONDocument, limit: Int?, collection: MongoCollection, operation: String
    ) throws -> [ImageRecord] {
        var filter = filter
        filter.append("_ps.tombstone", MongoQueries.notTombstone)
        var options: BSONDocument = ["sort": ["id": .int32(1)]]
        if let limit { options.append("limit", .int64(Int64(limit))) }
        let cursor = try collection.find(filter, options: options)
        var records: [ImageRecord] = []
        while let doc = try cursor.next() {
            records.append(try MongoRecordCodec.record(doc, plant: plant, operation: operation))
        }
        return records
    }

    /// Per plant: the ids of at most `batchSize` old tombstones (through the `_ps.ts` index), then one
    /// `deleteMany` of just those ids that re-checks each is still an old tombstone (a concurrent write
    /// may have resurrected it), until a round finds fewer: no write holds the collection long.
    public func purgeTombstones(olderThan cutoff: Timestamp, batchSize: Int) async throws -> Int {
        guard batchSize >= 1 else {
            throw MongoStoreError(operation: "purge tombstones", message: "batchSize \(batchSize) must be at least 1")
        }
        let old: BSONDocument = ["_ps.tombstone": true, "_ps.ts": ["$lt": .int64(cutoff.microsecondsSinceEpoch)]]
        var purged = 0
        for plant in try await plants() {
            while true {
                let (found, deleted) = try await withClient("purge tombstones of \(describe(plant))") { store in
                    let collection = try store.collection(plant)
                    let cursor = try collection.find(
                        old, options: ["projection": ["id": .int32(1), "_id": .int32(0)], "limit": .int64(Int64(batchSize))])
                    var ids: [BSONValue] = []
                    while let doc = try cursor.next() { if let id = doc["id"] { ids.append(id) } }
                    guard !ids.isEmpty else { return (0, 0) }
                    var filter = old
                    filter.append("id", ["$in": .array(ids)])
                    return (ids.count, try collection.bulkWrite([.deleteMany(filter: filter)]).deleted)
                }
                purged += deleted
                if found < batchSize { break }
            }
        }
        return purged
    }
}

extension MongoStore {
    /// The database a connection string names (`nil`: none); a malformed URI is an error naming it with
    /// its credentials redacted. Shared by PlantSync's store and the foreign producer.
    static func database(inURI uri: String, operation: String) throws(MongoStoreError) -> String? {
        do {
            return try MongoClient.database(inURI: uri)
        } catch {
            let redacted = StoreURI.redacted(uri)
            throw MongoStoreError(
                operation: operation, message: "\(error.message.replacingOccurrences(of: uri, with: redacted)) (URI '\(redacted)')")
        }
    }
}
