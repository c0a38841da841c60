import CLibMongoC

/// A server-side cursor: documents arrive batch by batch (getMore), so memory holds one batch.
/// Confined like its client; destroyed (killCursors) when released.
public final class MongoCursor {
    private let handle: OpaquePointer
    private let owner: AnyObject  // keeps the collection (and its client) alive
    private let context: String
    private var finished = false

    init(handle: OpaquePointer, owner: AnyObject, context: String) {
        self.handle = handle
        self.owner = owner
        self.context = context
    }

    deinit { mongoc_cursor_destroy(handle) }

    /// The next document, or nil at the end; throws the cursor's error (connection, query failure).
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func next() throws(MongoError) -> BSONDocument? {
        if finished { return nil }
        var document: OpaquePointer? = nil
        if mongoc_cursor_next(handle, &document), let document {
            return try CBSON.read(document)
        }
        finished = true
        var error = bson_error_t()
        if mongoc_cursor_error(handle, &error) { throw MongoError(error, context: context) }
        return nil
    }

    /// Reads everything left (for small results).
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func all() throws(MongoError) -> [BSONDocument] {
        var documents: [BSONDocument] = []
        while let document = try next() { documents.append(document) }
        return documents
    }
}
