import CLibMongoC

/// The only place BSON crosses into libbson: documents go in and out as bytes.
enum CBSON {
    /// Runs `body` with a libbson copy of `document`, destroyed afterwards.
    static func with<T>(_ document: BSONDocument, _ body: (OpaquePointer) throws(MongoError) -> T) throws(MongoError) -> T {
        let bytes = document.encoded()
        guard let handle = bytes.withUnsafeBufferPointer({ bson_new_from_data($0.baseAddress, $0.count) }) else {
            throw MongoError.wrapper("libbson rejected a document of \(bytes.count) bytes")
        }
        defer { bson_destroy(handle) }
        return try body(handle)
    }

    /// Like `with`, for an optional document (nil passes NULL).
    static func withOptional<T>(_ document: BSONDocument?, _ body: (OpaquePointer?) throws(MongoError) -> T) throws(MongoError) -> T {
        guard let document else { return try body(nil) }
        return try with(document) { (handle: OpaquePointer) throws(MongoError) -> T in try body(handle) }
    }

    /// Copies a libbson document into Swift.
    static func read(_ handle: OpaquePointer) throws(MongoError) -> BSONDocument {
        guard let data = bson_get_data(handle) else { throw MongoError.wrapper("libbson returned no data") }
        let length = Int(UInt32(data[0]) | UInt32(data[1]) << 8 | UInt32(data[2]) << 16 | UInt32(data[3]) << 24)
        let bytes = Array(UnsafeBufferPointer(start: data, count: length))
        do {
            return try BSONDocument(bson: bytes)
        } catch {
            throw MongoError.wrapper("undecodable reply from the server: \(error)")
        }
    }

    /// Runs `body` with storage for a reply document that libmongoc initializes (`bson_t` is
    /// 128-byte aligned, so Swift cannot hold one: the storage is allocated raw and aligned), and
    /// returns the body's result and the reply, destroying the storage afterwards.
    static func withReply<T>(_ body: (OpaquePointer) -> T) throws(MongoError) -> (T, BSONDocument) {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
        let handle = OpaquePointer(storage)
        bson_init(handle)
        defer {
            bson_destroy(handle)
            storage.deallocate()
        }
        let result = body(handle)
        return (result, try read(handle))
    }
}
