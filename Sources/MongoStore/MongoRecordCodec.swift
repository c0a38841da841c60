import LibMongoC
import SyncModel

/// The documents of the MongoDB store (docs/mongodb.md, "Document shape").
///
/// LIMS's fields as LIMS writes them (`id`, `camera_id`, `data` as binary, `gps_coordinates` as
/// `[lat, lon]`, `disease`, `percentage`, `created_at`/`updated_at` as BSON dates, `is_active`,
/// `is_deleted`), plus PlantSync's bookkeeping under `_ps`:
/// - `ts`, `tb`: the version (`Version.storedTiebreak`, so signed order = version order);
/// - `dh`: `ImageRecord.dataHash`; `tbh`/`tbl`/`dhh`/`dhl`: the unsigned 32-bit halves of `tb` and
///   `dh`, which `$sum` adds without overflow or bit operations (`RowDigest`);
/// - `created_us`, `updated_us`: the exact microseconds that BSON's millisecond dates cut off;
/// - `tombstone`: true for a deleted key (record fields absent).
enum MongoRecordCodec {
    static let ps = "_ps"

    /// Floor division: a BSON date holds whole milliseconds, also before 1970.
    static func milliseconds(_ us: Int64) -> Int64 { us >= 0 ? us / 1000 : -((-us + 999) / 1000) }

    static func halves(_ value: Int64) -> (high: Int64, low: Int64) {
        let bits = UInt64(bitPattern: value)
        return (Int64(bits >> 32), Int64(bits & 0xFFFF_FFFF))
    }

    /// The record's LIMS fields (without `data`).
    static func fields(_ r: ImageRecord) -> [(String, BSONValue)] {
        [
            ("camera_id", .int64(r.cameraId)),
            ("gps_coordinates", .array([.double(r.latitude), .double(r.longitude)])),
            ("disease", r.disease.map(BSONValue.string) ?? .null),
            ("percentage", r.percentage.map(BSONValue.double) ?? .null),
            ("created_at", .datetime(milliseconds(r.createdAt.microsecondsSinceEpoch))),
            ("updated_at", r.updatedAt.map { .datetime(milliseconds($0.microsecondsSinceEpoch)) } ?? .null),
            ("is_active", .bool(r.isActive)),
            ("is_deleted", .bool(r.isDeleted)),
        ]
    }

    /// Bookkeeping of the version (without the data hash).
    static func versionFields(_ version: Version, _ r: ImageRecord?) -> [(String, BSONValue)] {
        let tb = version.storedTiebreak
        let (tbh, tbl) = halves(tb)
        var fields: [(String, BSONValue)] = [
            ("ts", .int64(version.ts)), ("tb", .int64(tb)), ("tbh", .int64(tbh)), ("tbl", .int64(tbl)),
        ]
        if let r {
            fields.append(("created_us", .int64(r.createdAt.microsecondsSinceEpoch)))
            fields.append(("updated_us", r.updatedAt.map { .int64($0.microsecondsSinceEpoch) } ?? .null))
        }
        fields.append(("tombstone", .bool(r == nil)))
        return fields
    }

    static func dataHashFields(_ dataHash: UInt64) -> [(String, BSONValue)] {
        let dh = Int64(bitPattern: dataHash)
        let (dhh, dhl) = halves(dh)
        return [("dh", .int64(dh)), ("dhh", .int64(dhh)), ("dhl", .int64(dhl))]
    }

    /// The whole document of a full upsert (a replacement: stale fields of any earlier writer go).
    static func document(_ r: ImageRecord, version: Version) -> BSONDocument {
        var pairs: [(String, BSONValue)] = [("id", .int64(r.id))]
        pairs += fields(r)
        pairs.insert(("data", r.data.map(BSONValue.bytes) ?? .null), at: 2)
        pairs.append((ps, .document(BSONDocument(versionFields(version, r) + dataHashFields(r.dataHash)))))
        return BSONDocument(pairs)
    }

    /// The update of an upsert that keeps the stored `data` and data hash; a new document gets none.
    static func keepDataUpdate(_ r: ImageRecord, version: Version) -> BSONDocument {
        var set = BSONDocument(fields(r))
        for (key, value) in versionFields(version, r) { set.append("\(ps).\(key)", value) }
        var onInsert: BSONDocument = ["data": .null]
        for (key, value) in dataHashFields(ImageRecord.dataHash(nil)) { onInsert.append("\(ps).\(key)", value) }
        return ["$set": .document(set), "$setOnInsert": .document(onInsert)]
    }

    /// A tombstone: only the key and the delete's version.
    static func tombstone(id: Int64, version: Version) -> BSONDocument {
        ["id": .int64(id), ps: .document(BSONDocument(versionFields(version, nil) + dataHashFields(0)))]
    }

    // MARK: Reading

    /// What the store knows of one stored document without reading `data`.
    struct Bookkeeping {
        var version: Version?
        var dataHash: Int64?
        var isTombstone: Bool
    }

    static func bookkeeping(_ doc: BSONDocument) -> Bookkeeping {
        let psDoc = doc[ps]?.documentValue
        let ts = psDoc?["ts"]?.int64Value, tb = psDoc?["tb"]?.int64Value
        let version = ts.flatMap { ts in tb.map { Version(ts: ts, storedTiebreak: $0) } }
        return Bookkeeping(
            version: version, dataHash: psDoc?["dh"]?.int64Value, isTombstone: psDoc?["tombstone"]?.boolValue == true)
    }

    /// Decodes a live record. `data` absent → nil. Dates take the stored microseconds when they agree
    /// with the BSON date (another writer may have changed the date without knowing `_ps`).
    static func record(_ doc: BSONDocument, plant: Plant, operation: String) throws(MongoStoreError) -> ImageRecord {
        let id = doc["id"]
        func bad(_ field: String, _ expected: String) -> MongoStoreError {
            MongoStoreError.badDocument(operation, id: id, field: field, value: doc[field], expected: expected)
        }
        func int(_ field: String) throws(MongoStoreError) -> Int64 {
            guard let v = doc[field]?.int64Value else { throw bad(field, "an integer") }
            return v
        }
        func bool(_ field: String) throws(MongoStoreError) -> Bool {
            guard let v = doc[field]?.boolValue else { throw bad(field, "a boolean") }
            return v
        }
        func optional<T>(_ field: String, _ expected: String, _ read: (BSONValue) -> T?) throws(MongoStoreError) -> T? {
            guard let value = doc[field], !value.isNull else { return nil }
            guard let v = read(value) else { throw bad(field, expected) }
            return v
        }
        func micros(_ field: String, exact: BSONValue?) throws(MongoStoreError) -> Timestamp? {
            guard let ms = try optional(field, "a date", \.datetimeValue) else { return nil }
            if let us = exact?.int64Value, milliseconds(us) == ms { return Timestamp(microsecondsSinceEpoch: us) }
            return Timestamp(microsecondsSinceEpoch: ms &* 1000)
        }
        let psDoc = doc[ps]?.documentValue
        guard let gps = doc["gps_coordinates"]?.arrayValue, gps.count == 2,
            let latitude = gps[0].doubleValue, let longitude = gps[1].doubleValue
        else { throw bad("gps_coordinates", "[latitude, longitude] as two numbers") }
        guard let createdAt = try micros("created_at", exact: psDoc?["created_us"]) else { throw bad("created_at", "a date") }
        let data: [UInt8]?
        switch doc["data"] {
        case nil, .null?: data = nil
        case .binary(_, let bytes)?: data = bytes
        default: throw bad("data", "binary data or null")
        }
        return ImageRecord(
            plant: plant, id: try int("id"), cameraId: try int("camera_id"), data: data,
            latitude: latitude, longitude: longitude,
            disease: try optional("disease", "a string or null", \.stringValue),
            percentage: try optional("percentage", "a number or null", \.doubleValue),
            createdAt: createdAt, updatedAt: try micros("updated_at", exact: psDoc?["updated_us"]),
            isActive: try bool("is_active"), isDeleted: try bool("is_deleted"))
    }
}
