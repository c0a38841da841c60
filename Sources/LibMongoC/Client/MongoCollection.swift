import CLibMongoC

/// A collection handle (confined like its client).
public final class MongoCollection {
    public let client: MongoClient
    let handle: OpaquePointer
    public let database: String
    public let name: String

    init(client: MongoClient, handle: OpaquePointer, database: String, name: String) {
        self.client = client
        self.handle = handle
        self.database = database
        self.name = name
    }

    deinit { mongoc_collection_destroy(handle) }

    public var namespace: String { "\(database).\(name)" }

    /// `find` with options (`projection`, `sort`, `limit`, `batchSize`, …) as the server spells them.
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func find(_ filter: BSONDocument, options: BSONDocument = [:]) throws(MongoError) -> MongoCursor {
        let cursor = try CBSON.with(filter) { (f: OpaquePointer) throws(MongoError) -> OpaquePointer? in
            try CBSON.with(options) { (o: OpaquePointer) throws(MongoError) -> OpaquePointer? in
                mongoc_collection_find_with_opts(handle, f, o, nil)
            }
        }
        guard let cursor else { throw MongoError.wrapper("find on \(namespace) could not start") }
        return MongoCursor(handle: cursor, owner: self, context: "find on \(namespace)")
    }

    /// `aggregate` with a pipeline of stages and options (`batchSize`, `allowDiskUse`, …).
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func aggregate(_ pipeline: [BSONDocument], options: BSONDocument = [:]) throws(MongoError) -> MongoCursor {
        let wrapped: BSONDocument = ["pipeline": .array(pipeline.map(BSONValue.document))]
        let cursor = try CBSON.with(wrapped) { (p: OpaquePointer) throws(MongoError) -> OpaquePointer? in
            try CBSON.with(options) { (o: OpaquePointer) throws(MongoError) -> OpaquePointer? in
                mongoc_collection_aggregate(handle, MONGOC_QUERY_NONE, p, o, nil)
            }
        }
        guard let cursor else { throw MongoError.wrapper("aggregate on \(namespace) could not start") }
        return MongoCursor(handle: cursor, owner: self, context: "aggregate on \(namespace)")
    }

    /// Creates indexes (`createIndexes`); existing identical indexes are left alone.
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func createIndexes(_ indexes: [IndexModel]) throws(MongoError) {
        try client.command(
            ["createIndexes": .string(name), "indexes": .array(indexes.map { .document($0.document) })],
            database: database)
    }

    /// The collection's index specifications (`listIndexes`).
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func listIndexes() throws(MongoError) -> [BSONDocument] {
        let reply = try client.command(["listIndexes": .string(name)], database: database)
        return reply[path: "cursor.firstBatch"]?.arrayValue?.compactMap(\.documentValue) ?? []
    }

    /// Counts documents matching `filter` (an aggregation `$match` + `$count`).
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func countDocuments(_ filter: BSONDocument) throws(MongoError) -> Int {
        let cursor = try aggregate([["$match": .document(filter)], ["$count": "n"]])
        return Int(try cursor.next()?["n"]?.int64Value ?? 0)
    }

    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func drop() throws(MongoError) {
        do {
            try client.command(["drop": .string(name)], database: database)
        } catch let error where error.code == 26 {  // NamespaceNotFound: already gone
        }
    }
}

/// One index for `createIndexes`.
public struct IndexModel: Sendable {
    public var keys: BSONDocument
    public var name: String
    public var unique: Bool
    public var partialFilter: BSONDocument?

    public init(keys: BSONDocument, name: String, unique: Bool = false, partialFilter: BSONDocument? = nil) {
        self.keys = keys
        self.name = name
        self.unique = unique
        self.partialFilter = partialFilter
    }

    var document: BSONDocument {
        var doc: BSONDocument = ["key": .document(keys), "name": .string(name)]
        if unique { doc.append("unique", true) }
        if let partialFilter { doc.append("partialFilterExpression", .document(partialFilter)) }
        return doc
    }
}
