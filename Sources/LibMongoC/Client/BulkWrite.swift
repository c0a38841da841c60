import CLibMongoC

/// One operation of a bulk write.
public enum WriteModel: Sendable {
    case insertOne(BSONDocument)
    /// `update` must consist of update operators (`$set`, …).
    case updateOne(filter: BSONDocument, update: BSONDocument, upsert: Bool)
    /// An update with an aggregation pipeline (MongoDB 4.2+): stages such as `$set`, `$replaceRoot`,
    /// whose expressions see the document as it was before the update.
    case updatePipeline(filter: BSONDocument, pipeline: [BSONDocument], upsert: Bool)
    /// `replacement` must not contain update operators.
    case replaceOne(filter: BSONDocument, replacement: BSONDocument, upsert: Bool)
    case deleteOne(filter: BSONDocument)
    case deleteMany(filter: BSONDocument)
}

/// A write error of one operation of a bulk write (e.g. code 11000, duplicate key).
public struct WriteError: Sendable, Hashable, CustomStringConvertible {
    public let index: Int
    public let code: Int
    public let message: String
    public var isDuplicateKey: Bool { code == 11000 }
    public var description: String { "operation \(index): \(message) (code \(code))" }
}

/// The outcome of a bulk write: totals, and per operation whether it upserted, succeeded, or failed.
public struct BulkWriteResult: Sendable {
    public enum Outcome: Sendable, Hashable {
        /// Inserted a new document (an upsert that matched nothing, or an insert).
        case upserted
        /// Ran without error (an update or delete that matched, or matched nothing without upsert).
        case succeeded
        case failed(WriteError)
    }

    public let inserted: Int
    public let matched: Int
    public let modified: Int
    public let upserted: Int
    public let deleted: Int
    public let writeErrors: [WriteError]
    /// One outcome per operation, in the order given.
    public let outcomes: [Outcome]

    init(reply: BSONDocument, operations: [WriteModel]) {
        func count(_ key: String) -> Int { Int(reply[key]?.int64Value ?? 0) }
        inserted = count("nInserted")
        matched = count("nMatched")
        modified = count("nModified")
        upserted = count("nUpserted")
        deleted = count("nRemoved")
        writeErrors = (reply["writeErrors"]?.arrayValue ?? []).compactMap(\.documentValue).map {
            WriteError(
                index: Int($0["index"]?.int64Value ?? -1), code: Int($0["code"]?.int64Value ?? 0),
                message: $0["errmsg"]?.stringValue ?? "write error")
        }
        var outcomes = [Outcome](repeating: .succeeded, count: operations.count)
        for (index, operation) in operations.enumerated() {
            if case .insertOne = operation { outcomes[index] = .upserted }
        }
        for entry in (reply["upserted"]?.arrayValue ?? []).compactMap(\.documentValue) {
            if let index = entry["index"]?.int64Value, outcomes.indices.contains(Int(index)) { outcomes[Int(index)] = .upserted }
        }
        for error in writeErrors where outcomes.indices.contains(error.index) { outcomes[error.index] = .failed(error) }
        self.outcomes = outcomes
    }
}

extension MongoCollection {
    /// Executes `operations` as one bulk write (libmongoc splits it into as many server round trips
    /// as the server's message limits need). Per-operation write errors (duplicate key, …) come back
    /// in the result; connection, server-selection, authentication and write-concern failures throw.
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func bulkWrite(_ operations: [WriteModel], ordered: Bool = false) throws(MongoError) -> BulkWriteResult {
        guard !operations.isEmpty else { return BulkWriteResult(reply: [:], operations: []) }
        let options: BSONDocument = ["ordered": .bool(ordered)]
        guard
            let bulk = try CBSON.with(
                options,
                { (o: OpaquePointer) throws(MongoError) -> OpaquePointer? in
                    mongoc_collection_create_bulk_operation_with_opts(handle, o)
                })
        else { throw MongoError.wrapper("cannot create a bulk write on \(namespace)") }
        defer { mongoc_bulk_operation_destroy(bulk) }
        let upsertOption: BSONDocument = ["upsert": true]
        for (index, operation) in operations.enumerated() {
            var error = bson_error_t()
            let added: Bool
            switch operation {
            case .insertOne(let document):
                added = try CBSON.with(document) { (d: OpaquePointer) throws(MongoError) -> Bool in
                    mongoc_bulk_operation_insert_with_opts(bulk, d, nil, &error)
                }
            case .updateOne(let filter, let update, let upsert):
                added = try CBSON.with(filter) { (f: OpaquePointer) throws(MongoError) -> Bool in
                    try CBSON.with(update) { (u: OpaquePointer) throws(MongoError) -> Bool in
                        try CBSON.withOptional(upsert ? upsertOption : nil) { (o: OpaquePointer?) throws(MongoError) -> Bool in
                            mongoc_bulk_operation_update_one_with_opts(bulk, f, u, o, &error)
                        }
                    }
                }
            case .updatePipeline(let filter, let pipeline, let upsert):
                // libmongoc takes a pipeline as a document whose keys are "0", "1", …
                let stages = BSONDocument(pipeline.enumerated().map { (String($0.offset), BSONValue.document($0.element)) })
                added = try CBSON.with(filter) { (f: OpaquePointer) throws(MongoError) -> Bool in
                    try CBSON.with(stages) { (u: OpaquePointer) throws(MongoError) -> Bool in
                        try CBSON.withOptional(upsert ? upsertOption : nil) { (o: OpaquePointer?) throws(MongoError) -> Bool in
                            mongoc_bulk_operation_update_one_with_opts(bulk, f, u, o, &error)
                        }
                    }
                }
            case .replaceOne(let filter, let replacement, let upsert):
                added = try CBSON.with(filter) { (f: OpaquePointer) throws(MongoError) -> Bool in
                    try CBSON.with(replacement) { (r: OpaquePointer) throws(MongoError) -> Bool in
                        try CBSON.withOptional(upsert ? upsertOption : nil) { (o: OpaquePointer?) throws(MongoError) -> Bool in
                            mongoc_bulk_operation_replace_one_with_opts(bulk, f, r, o, &error)
                        }
                    }
                }
            case .deleteOne(let filter):
                added = try CBSON.with(filter) { (f: OpaquePointer) throws(MongoError) -> Bool in
                    mongoc_bulk_operation_remove_one_with_opts(bulk, f, nil, &error)
                }
            case .deleteMany(let filter):
                added = try CBSON.with(filter) { (f: OpaquePointer) throws(MongoError) -> Bool in
                    mongoc_bulk_operation_remove_many_with_opts(bulk, f, nil, &error)
                }
            }
            guard added else { throw MongoError(error, context: "bulk write on \(namespace), operation \(index)") }
        }
        var error = bson_error_t()
        let (serverID, reply) = try CBSON.withReply { reply in mongoc_bulk_operation_execute(bulk, reply, &error) }
        let result = BulkWriteResult(reply: reply, operations: operations)
        if serverID == 0 {
            let writeErrorsOnly =
                !result.writeErrors.isEmpty
                && (reply["writeConcernErrors"]?.arrayValue ?? []).isEmpty
                && (error.domain == MONGOC_ERROR_SERVER.rawValue || error.domain == MONGOC_ERROR_COMMAND.rawValue)
            if !writeErrorsOnly { throw MongoError(error, context: "bulk write on \(namespace)") }
        }
        return result
    }
}
