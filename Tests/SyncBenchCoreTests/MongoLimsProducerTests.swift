import Foundation
import LibMongoC
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

@testable import SyncBench

/// The LIMS-shaped MongoDB producer against the test server (the wire-protocol double, or a real
/// server named by PLANTSYNC_MONGO_URI): LIMS's documents, no `_ps`, and what create, update, soft
/// delete and hard delete leave.
@Suite struct MongoLimsProducerTests {
    @Test func createUpdateSoftAndHardDeleteLeaveLimsDocuments() async throws {
        try await withMongoDouble { try await createUpdateSoftAndHardDelete() }
    }

    func createUpdateSoftAndHardDelete() async throws {
        let uri = try mongoURI()
        let database = uniqueName()
        let producer = try MongoLimsProducer(uri: uri, database: database)
        let client = try await TestMongoClient.connect(uri: uri, appName: "syncbench-tests")
        defer { Task { try? await client.dropDatabase(database) } }
        #expect(producer.description.timestampPrecision == .milliseconds)
        try await producer.prepare()

        let created = Timestamp(microsecondsSinceEpoch: 1_700_000_000_123_000)
        let a = ImageRecord(
            plant: .tomato, id: 1, cameraId: 4, data: [0xFF, 0xD8, 1], latitude: 49.5, longitude: 14.25, createdAt: created)
        let b = ImageRecord(
            plant: .tomato, id: 3_000_000_000, cameraId: 5, data: [0xFF, 0xD8, 2], latitude: 50, longitude: 15, disease: "Healthy",
            percentage: 0.75, createdAt: created)
        try await producer.create([a, b])
        func documents() async throws -> [BSONDocument] {
            try await client.collection("imagecolplanttomato", database: database).find([:], options: ["sort": ["id": .int32(1)]])
        }
        var docs = try await documents()
        #expect(docs.count == 2)
        #expect(
            docs[0].keys.sorted()
                == [
                    "_id", "camera_id", "created_at", "data", "disease", "gps_coordinates", "id", "is_active", "is_deleted", "percentage",
                    "updated_at",
                ])
        if case .objectId = docs[0]["_id"] {} else { Issue.record("_id is not an ObjectId: \(String(describing: docs[0]["_id"]))") }
        #expect(docs[0]["id"] == .int32(1))
        #expect(docs[1]["id"] == .int64(3_000_000_000))
        #expect(docs[0]["data"] == .bytes([0xFF, 0xD8, 1]))
        #expect(docs[0]["gps_coordinates"] == .array([.double(49.5), .double(14.25)]))
        #expect(docs[0]["created_at"] == .datetime(1_700_000_000_123))
        #expect(docs[0]["updated_at"] == .null)
        #expect(docs[0]["disease"] == .null)
        #expect(docs[1]["disease"] == .string("Healthy"))
        #expect(docs[0]["is_active"] == .bool(true))
        #expect(docs[0]["is_deleted"] == .bool(false))

        // An update without data: fields and updated_at, the image kept; a soft delete sets is_deleted.
        var updated = a
        updated.disease = "Late Blight"
        updated.percentage = 0.5
        updated.updatedAt = Timestamp(microsecondsSinceEpoch: 1_700_000_100_456_000)
        updated.data = nil
        try await producer.update(updated)
        updated.isDeleted = true
        updated.updatedAt = Timestamp(microsecondsSinceEpoch: 1_700_000_200_000_000)
        try await producer.update(updated)
        docs = try await documents()
        #expect(docs[0]["disease"] == .string("Late Blight"))
        #expect(docs[0]["percentage"] == .double(0.5))
        #expect(docs[0]["updated_at"] == .datetime(1_700_000_200_000))
        #expect(docs[0]["is_deleted"] == .bool(true))
        #expect(docs[0]["data"] == .bytes([0xFF, 0xD8, 1]))
        #expect(docs[0]["created_at"] == .datetime(1_700_000_000_123))

        // A hard delete removes the document, and only it.
        try await producer.delete(b.key, at: Timestamp(microsecondsSinceEpoch: 1_700_000_300_000_000))
        docs = try await documents()
        #expect(docs.map { $0["id"] } == [.int32(1)])
        await #expect(throws: HarnessError.self) { try await producer.update(b) }
    }
}
