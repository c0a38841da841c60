import Foundation
import SyncModel

/// The ObjectId of the record of `id` in the MongoDB producers PlantSync's tests, benchmarks and chaos
/// runs write (`limsDocument` in TestSupport): its 12 bytes are four zeros, then `id`.
public func limsObjectID(_ id: Int64) -> [UInt8] {
    var objectId = [UInt8](repeating: 0, count: 12)
    withUnsafeBytes(of: id.bigEndian) { objectId.replaceSubrange(4..<12, with: $0) }
    return objectId
}

/// Change events of LIMS's MongoDB producer as the MongoDB Kafka source connector publishes them with its
/// `ExtendedJson` formatter (canonical Extended JSON; shapes from
/// https://www.mongodb.com/docs/manual/reference/change-events/): a record's document `_id` is
/// `limsObjectID(id)`, as TestSupport's `limsDocument` writes it, so events, BatchSync's reads and StreamSync agree.
/// Used by the tests and by `scripts/chaos --format mongodb-change-stream`.
public enum MongoChangeStreamEvents {
    /// The `_id` of the record of `id`.
    public static func sourceID(_ id: Int64) -> SourceID { SourceID(objectID: limsObjectID(id)) }

    /// The end of `wallMillis`'s millisecond: the time StreamSync gives a delete at that `wallTime`.
    public static func deleteTime(wallMillis: Int64) -> Timestamp { Timestamp(microsecondsSinceEpoch: wallMillis * 1000 + 999) }

    public static func date(_ ts: Timestamp) -> String { #"{"$date": {"$numberLong": "\#(ts.microsecondsSinceEpoch / 1000)"}}"# }

    /// The record as the producer's document (BSON dates keep milliseconds).
    public static func document(_ r: ImageRecord) -> String {
        let data = r.data.map { #"{"$binary": {"base64": "\#(Data($0).base64EncodedString())", "subType": "00"}}"# } ?? "null"
        let members = [("_id", #"{"$oid": "\#(sourceID(r.id).rawValue)"}"#), ("id", #"{"$numberInt": "\#(r.id)"}"#), ("data", data)] + fields(r)
        return "{" + members.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// Every field of the record but `_id`, `id` and `data`, as the document holds it (name, Extended JSON).
    static func fields(_ r: ImageRecord) -> [(String, String)] {
        [
            ("camera_id", #"{"$numberLong": "\#(r.cameraId)"}"#),
            ("gps_coordinates", #"[{"$numberDouble": "\#(r.latitude)"}, {"$numberDouble": "\#(r.longitude)"}]"#),
            ("disease", r.disease.map { "\"\($0)\"" } ?? "null"),
            ("percentage", r.percentage.map { #"{"$numberDouble": "\#($0)"}"# } ?? "null"),
            ("created_at", date(r.createdAt)), ("updated_at", r.updatedAt.map(date) ?? "null"),
            ("is_active", String(r.isActive)), ("is_deleted", String(r.isDeleted)),
        ]
    }

    /// `update` without `fullDocument` setting every field of `r` but its bytes (what an update that
    /// `$set`s them all reports), at `r`'s `updated_at`.
    public static func patch(settingAllButData r: ImageRecord) -> String {
        let updated = fields(r).filter { $0.0 != "created_at" }.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
        return patch(r.plant, id: r.id, updated: updated, wallMillis: wall(r))
    }

    static func head(_ operation: String, plant: Plant, id: Int64, wallMillis: Int64) -> String {
        #"{"_id": {"_data": "8265A1F0C2000000012B042C0100296E5A1004\#(id)"}, "operationType": "\#(operation)", "#
            + #""clusterTime": {"$timestamp": {"t": \#(wallMillis / 1000), "i": 1}}, "wallTime": {"$date": {"$numberLong": "\#(wallMillis)"}}, "#
            + #""ns": {"db": "imagedbplantproducer", "coll": "\#(plant.limsCollection)"}, "#
            + #""documentKey": {"_id": {"$oid": "\#(sourceID(id).rawValue)"}}"#
    }

    static func wall(_ r: ImageRecord) -> Int64 { r.versionTimestamp.microsecondsSinceEpoch / 1000 }

    /// `insert` (or `replace`) with the whole document.
    public static func insert(_ r: ImageRecord, operation: String = "insert") -> String {
        head(operation, plant: r.plant, id: r.id, wallMillis: wall(r)) + #", "fullDocument": \#(document(r))}"#
    }

    /// `update` with `fullDocument` (`change.stream.full.document=updateLookup`).
    public static func update(_ r: ImageRecord) -> String {
        head("update", plant: r.plant, id: r.id, wallMillis: wall(r))
            + #", "updateDescription": {"updatedFields": {"updated_at": \#(r.updatedAt.map(date) ?? "null")}, "removedFields": [], "truncatedArrays": []}"#
            + #", "fullDocument": \#(document(r))}"#
    }

    /// `update` without `fullDocument`: only `updateDescription` (`updatedFields` given as JSON members).
    public static func patch(_ plant: Plant, id: Int64, updated: String, removed: [String] = [], wallMillis: Int64) -> String {
        let removedList = removed.map { "\"\($0)\"" }.joined(separator: ", ")
        return head("update", plant: plant, id: id, wallMillis: wallMillis)
            + #", "updateDescription": {"updatedFields": {\#(updated)}, "removedFields": [\#(removedList)], "truncatedArrays": []}}"#
    }

    /// `delete`: only `documentKey._id`.
    public static func delete(_ plant: Plant, id: Int64, wallMillis: Int64) -> String {
        head("delete", plant: plant, id: id, wallMillis: wallMillis) + "}"
    }

    /// The message key the connector gives every event: the change stream's resume token.
    public static let key = #"{"_id": {"_data": "8265A1F0C2000000012B042C0100296E5A1004"}}"#
}
