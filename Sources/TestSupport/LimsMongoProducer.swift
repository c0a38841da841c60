import BlockingExecutor
import Foundation
import LibMongoC
import MongoStore
import SyncModel

/// `uri` with `database` as its path (the foreign producer reads the URI's database).
public func uri(_ uri: String, withDatabase database: String) -> String {
    guard let scheme = uri.range(of: "://") else { return uri }
    let rest = uri[scheme.upperBound...]
    let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
    var tail = rest[hostEnd...]
    if tail.hasPrefix("/") { tail = tail.dropFirst().drop { $0 != "?" } }
    return String(uri[..<hostEnd]) + "/" + database + tail
}

/// The ObjectId `limsDocument` gives the record of `id` (its 12 bytes: four zeros, then `id`).
public func limsObjectID(_ id: Int64) -> [UInt8] {
    var objectId = [UInt8](repeating: 0, count: 12)
    withUnsafeBytes(of: id.bigEndian) { objectId.replaceSubrange(4..<12, with: $0) }
    return objectId
}

/// A LIMS-written document, as LIMS's Image API stores it: an ObjectId `_id`, `id` as int32 (or int64),
/// BSON dates in milliseconds, a field PlantSync does not know, no `_ps`.
public func limsDocument(_ r: ImageRecord, int32Id: Bool = true, omitNullUpdatedAt: Bool = false) -> BSONDocument {
    var doc: BSONDocument = [
        "_id": .objectId(limsObjectID(r.id)),
        "id": int32Id ? .int32(Int32(r.id)) : .int64(r.id),
        "camera_id": .int32(Int32(r.cameraId)),
        "data": r.data.map(BSONValue.bytes) ?? .null,
        "gps_coordinates": [.double(r.latitude), .double(r.longitude)],
        "disease": r.disease.map(BSONValue.string) ?? .null,
        "percentage": r.percentage.map(BSONValue.double) ?? .null,
        "created_at": .datetime(r.createdAt.microsecondsSinceEpoch / 1000),
        "is_active": .bool(r.isActive),
        "is_deleted": .bool(r.isDeleted),
        "uploaded_by": "lims-image-api",
        "__v": .int32(0),
    ]
    if let updatedAt = r.updatedAt {
        doc.append("updated_at", .datetime(updatedAt.microsecondsSinceEpoch / 1000))
    } else if !omitNullUpdatedAt {
        doc.append("updated_at", .null)
    }
    return doc
}

/// A producer as LIMS's Image API keeps it in MongoDB — database of its own, collections
/// `imagecolplant<plant>` created as LIMS creates them, plain documents (`limsDocument`) written with
/// LibMongoC, never through a store — and read back through `ForeignMongoStore`.
public struct LimsMongoProducer: Sendable {
    public let baseURI: String
    public let database: String
    private let queue = BlockingExecutor(label: "plantsync.tests.lims-mongo-producer")
    public var uri: String { TestSupport.uri(baseURI, withDatabase: database) }

    private init(baseURI: String) {
        self.baseURI = baseURI
        database = uniqueName()
    }

    /// A producer in a fresh database with the collections of `plants` (created off Swift's cooperative pool).
    public static func create(uri: String? = nil, plants: [Plant] = Plant.lims) async throws -> LimsMongoProducer {
        let producer = LimsMongoProducer(baseURI: try uri ?? mongoURI())
        try await producer.queue.run {
            let client = try MongoClient(uri: producer.baseURI, appName: "lims-producer-test")
            for plant in plants { try client.command(["create": .string(plant.limsCollection)], database: producer.database) }
        }
        return producer
    }

    public func store(_ digest: ForeignMongoStore.DigestMode = .auto) throws -> ForeignMongoStore {
        try ForeignMongoStore(.init(connectionString: uri, appName: "lims-producer-test", digest: digest))
    }

    /// Creates or overwrites the records' documents (the Image API's create and update), on a dispatch
    /// queue: libmongoc blocks, and a test must not starve Swift's cooperative thread pool.
    public func write(_ records: [ImageRecord]) async throws {
        try await queue.run { try self.writeNow(records) }
    }

    private func writeNow(_ records: [ImageRecord]) throws {
        let client = try MongoClient(uri: baseURI, appName: "lims-producer-test")
        for (plant, docs) in Dictionary(grouping: records, by: \.plant) {
            let result = try client.collection(plant.limsCollection, database: database).bulkWrite(
                docs.map { .replaceOne(filter: ["id": .int64($0.id)], replacement: limsDocument($0), upsert: true) })
            guard result.writeErrors.isEmpty else { throw SetupError("LIMS producer write failed: \(result.writeErrors)") }
        }
    }

    public func write(_ record: ImageRecord) async throws { try await write([record]) }

    /// Removes documents outright (LIMS's `DELETE /image-plant/{plant}/{id}`).
    public func delete(_ keys: [RecordKey]) async throws {
        try await queue.run { try self.deleteNow(keys) }
    }

    private func deleteNow(_ keys: [RecordKey]) throws {
        let client = try MongoClient(uri: baseURI, appName: "lims-producer-test")
        for key in keys {
            _ = try client.collection(key.plant.limsCollection, database: database).bulkWrite([.deleteOne(filter: ["id": .int64(key.id)])])
        }
    }

    /// Drops the database in the background (off Swift's cooperative pool; callable from a `defer`).
    public func drop() {
        Task { [self] in _ = try? await queue.run { try MongoClient(uri: baseURI, appName: "lims-producer-test").dropDatabase(database) } }
    }
}

/// Runs `body` with PlantSync's own MongoDB store in a fresh database, dropped afterwards.
public func withMongoStore<T>(_ body: (MongoStore) async throws -> T) async throws -> T {
    try await withMongoDouble { try await withMongoStoreNow(body) }
}

private func withMongoStoreNow<T>(_ body: (MongoStore) async throws -> T) async throws -> T {
    let uri = try mongoURI()
    let database = uniqueName()
    let store = try MongoStore(.init(uri: uri, database: database, appName: database))
    try await store.prepareSchema()
    return try await withCleanup { try await body(store) } cleanup: {
        _ = try? await offPool { try MongoClient(uri: uri, appName: "plantsync-tests").dropDatabase(database) }
    }
}
