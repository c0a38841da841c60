import BlockingExecutor
import Foundation
import LibMongoC
import SyncBenchCore
import SyncModel

/// The producer as LIMS keeps it in MongoDB: a collection per plant, `imagecolplant<plant>`, of LIMS's
/// documents — LIMS's field names, `data` as BSON binary, `gps_coordinates` as `[lat, lon]`, BSON
/// dates, integers as a Python writer stores them (int32 when they fit) — and nothing of PlantSync's
/// (no `_ps`); `_id` is left to the driver. Creates insert documents, updates `$set` the fields (with
/// `updated_at`, and `is_deleted` for a soft delete), hard deletes remove the document.
///
/// BSON dates keep milliseconds, so its `timestampPrecision` is `.milliseconds`: the workload generates its
/// timestamps at millisecond precision, and the record an event carries is the record BatchSync reads.
final class MongoLimsProducer: LimsProducer, @unchecked Sendable {
    // @unchecked Sendable is safe: `client` is only touched inside blocks run on `queue`.
    let uri: String
    let database: String
    /// The plants it has a collection of.
    let plants: [Plant]
    let description: ProducerDescription
    private let queue = BlockingExecutor(label: "syncbench.lims-producer.mongo")
    private var client: MongoClient?

    static let defaultDatabase = "imagedbplantproducer"

    /// `database` overrides the URI's (tests use a throwaway one).
    init(uri: String, database: String? = nil, plants: [Plant] = Plant.lims) throws {
        self.uri = uri
        self.plants = plants
        let named = try MongoClient.database(inURI: uri)
        self.database = database ?? named.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultDatabase
        description = ProducerDescription(
            layout: .lims, engine: "mongodb", location: "\(self.database).imagecolplant{plant}", timestampPrecision: .milliseconds)
    }

    static func collectionName(_ plant: Plant) -> String { plant.limsCollection }

    private func run<T: Sendable>(_ body: @escaping @Sendable (MongoClient, String) throws -> T) async throws -> T {
        try await queue.run { [self] in
            if client == nil { client = try MongoClient(uri: uri, appName: "syncbench-image-api") }
            return try body(client!, database)
        }
    }

    /// Empty collections with a unique index on LIMS's business key `id` (what every lookup by id —
    /// LIMS's API and BatchSync's key ranges — needs).
    func prepare() async throws {
        try await run { client, database in
            try client.ping()
            for plant in self.plants {
                let collection = try client.collection(Self.collectionName(plant), database: database)
                try collection.drop()
                try collection.createIndexes([IndexModel(keys: ["id": .int32(1)], name: "id_1", unique: true)])
            }
        }
    }

    /// A Python (pymongo) writer's integer: int32 when it fits.
    static func integer(_ value: Int64) -> BSONValue {
        Int32(exactly: value).map(BSONValue.int32) ?? .int64(value)
    }

    /// BSON date of a timestamp (milliseconds; the workload's timestamps are whole milliseconds here).
    static func date(_ timestamp: Timestamp) -> BSONValue {
        .datetime(timestamp.microsecondsSinceEpoch.floorDivided(by: 1_000))
    }

    /// The fields an update sets: everything but `id`, `created_at` and, when `data` is nil, the image.
    static func fields(_ record: ImageRecord, includingKeyAndCreation: Bool) -> BSONDocument {
        var document = BSONDocument()
        if includingKeyAndCreation { document.append("id", integer(record.id)) }
        document.append("camera_id", integer(record.cameraId))
        if includingKeyAndCreation || record.data != nil { document.append("data", record.data.map(BSONValue.bytes) ?? .null) }
        document.append("gps_coordinates", .array([.double(record.latitude), .double(record.longitude)]))
        document.append("disease", record.disease.map(BSONValue.string) ?? .null)
        document.append("percentage", record.percentage.map(BSONValue.double) ?? .null)
        if includingKeyAndCreation { document.append("created_at", date(record.createdAt)) }
        document.append("updated_at", record.updatedAt.map(date) ?? .null)
        document.append("is_active", .bool(record.isActive))
        document.append("is_deleted", .bool(record.isDeleted))
        return document
    }

    /// LIMS's document for a new record (no `_id`: the driver adds one).
    static func document(_ record: ImageRecord) -> BSONDocument { fields(record, includingKeyAndCreation: true) }

    func create(_ records: [ImageRecord]) async throws {
        let groups = Dictionary(grouping: records, by: \.plant).mapValues { $0.map { WriteModel.insertOne(Self.document($0)) } }
        try await run { client, database in
            for (plant, inserts) in groups {
                let result = try client.collection(Self.collectionName(plant), database: database).bulkWrite(inserts, ordered: true)
                if let error = result.writeErrors.first { throw HarnessError("LIMS producer: insert into \(plant) failed: \(error)") }
            }
        }
    }

    func update(_ record: ImageRecord) async throws {
        let filter: BSONDocument = ["id": Self.integer(record.id)]
        let update: BSONDocument = ["$set": .document(Self.fields(record, includingKeyAndCreation: false))]
        let key = record.key
        try await run { client, database in
            let result = try client.collection(Self.collectionName(key.plant), database: database).bulkWrite([
                .updateOne(filter: filter, update: update, upsert: false)
            ])
            if let error = result.writeErrors.first { throw HarnessError("LIMS producer: update of \(key) failed: \(error)") }
            guard result.matched == 1 else { throw HarnessError("LIMS producer: update of \(key) matched \(result.matched) documents") }
        }
    }

    func delete(_ key: RecordKey, at: Timestamp) async throws {
        let filter: BSONDocument = ["id": Self.integer(key.id)]
        try await run { client, database in
            let result = try client.collection(Self.collectionName(key.plant), database: database).bulkWrite([.deleteOne(filter: filter)])
            if let error = result.writeErrors.first { throw HarnessError("LIMS producer: delete of \(key) failed: \(error)") }
        }
    }
}

extension Int64 {
    /// Division rounding towards minus infinity (dates before 1970 stay on the right millisecond).
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
