import LibMongoC
import SyncModel

/// The documents of the MongoDB store (docs/mongodb.md, "Document shape").
///
/// LIMS's fields as LIMS writes them (`id`, `camera_id`, `data` as binary, `gps_coordinates` as
/// `[lat, lon]`, `disease`, `percentage`, `created_at`/`updated_at` as BSON dates, `is_active`,
/// `is_deleted`), plus PlantSync's bookkeeping under `_ps`:
/// - `ts`, `tb`: the record's version (`Version.storedTiebreak`, so signed order = version order);
///   `tbh`/`tbl`: the unsigned 32-bit halves of `tb`, which `$sum` adds without overflow or bit
///   operations (`RowDigest`);
/// - `created_us`, `updated_us`: the exact microseconds that BSON's millisecond dates cut off;
/// - `tombstone`: true for a deleted key (record fields absent);
/// - the bytes register (docs/design.md §1): `dh` (`ImageRecord.dataHash` of `data`,
///   `ImageRecord.unknownDataHash` while the bytes are not yet known) with its halves `dhh`/`dhl`, and
///   `dts`/`dtb`, the version the bytes came with (`Version.minimum`: not yet known);
/// - `sid`: the producer's `_id` (`SourceID`, docs/design.md §2), null when no write carried one. A document
///   written before the register existed has no `dts`: its bytes came with its record, so the register's
///   version reads as the record's (an empty register for a tombstone).
enum MongoRecordCodec {
    static let ps = "_ps"
    /// `_ps.sid`: the producer's `_id` of the record (`SourceID`), when a write carried one.
    static let sourceIDField = "sid"

    /// Floor division: a BSON date holds whole milliseconds, also before 1970.
    static func milliseconds(_ us: Int64) -> Int64 { us >= 0 ? us / 1000 : -((-us + 999) / 1000) }

    static func halves(_ value: Int64) -> (high: Int64, low: Int64) {
        let bits = UInt64(bitPattern: value)
        return (Int64(bits >> 32), Int64(bits & 0xFFFF_FFFF))
    }

    /// The record's LIMS fields (without `data`), in LIMS's order.
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

    /// The names of the LIMS record fields, in order, and the `KeptFields` member that can keep each.
    static let recordFieldNames: [(name: String, kept: KeptFields)] = [
        ("camera_id", []), ("gps_coordinates", .gpsCoordinates), ("disease", .disease), ("percentage", []),
        ("created_at", []), ("updated_at", []), ("is_active", []), ("is_deleted", []),
    ]

    /// Bookkeeping of the record's version (`r == nil`: a tombstone's).
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

    /// The names of the record-version bookkeeping fields under `_ps`, in order.
    static let versionFieldNames = ["ts", "tb", "tbh", "tbl", "created_us", "updated_us", "tombstone"]

    /// Bookkeeping of the bytes register: the data hash with its halves, and the register's version.
    static func registerFields(dataHash: UInt64, version: Version) -> [(String, BSONValue)] {
        let dh = Int64(bitPattern: dataHash)
        let (dhh, dhl) = halves(dh)
        return [
            ("dh", .int64(dh)), ("dhh", .int64(dhh)), ("dhl", .int64(dhl)),
            ("dts", .int64(version.ts)), ("dtb", .int64(version.storedTiebreak)),
        ]
    }

    // MARK: Reading

    /// A producer document's `_id` as a `SourceID`: an ObjectId's hex, a string, an integer's digits.
    static func sourceID(_ value: BSONValue?) -> SourceID? {
        switch value {
        case .objectId(let bytes)? where bytes.count == 12: return SourceID(objectID: bytes)
        case .string(let text)?: return SourceID(rawValue: text)
        case let other?: return other.int64Value.flatMap { SourceID(rawValue: String($0)) }
        case nil: return nil
        }
    }

    /// What the store knows of one stored document without reading `data`.
    struct Bookkeeping {
        /// The record's version; `nil` for a document of another writer (no `_ps`).
        var version: Version?
        var dataHash: Int64?
        var isTombstone: Bool
        /// The bytes register's version as `apply` compares it: `_ps.dts`/`dtb`; for a document written
        /// before the register existed, its record's version (it got its bytes with its record) unless
        /// it is a tombstone; `Version.minimum` (empty) for those and for another writer's document.
        var registerVersion: Version
    }

    static func bookkeeping(_ doc: BSONDocument) -> Bookkeeping {
        let psDoc = doc[ps]?.documentValue
        func version(_ ts: String, _ tb: String) -> Version? {
            guard let ts = psDoc?[ts]?.int64Value, let tb = psDoc?[tb]?.int64Value else { return nil }
            return Version(ts: ts, storedTiebreak: tb)
        }
        let record = version("ts", "tb")
        let isTombstone = psDoc?["tombstone"]?.boolValue == true
        return Bookkeeping(
            version: record, dataHash: psDoc?["dh"]?.int64Value, isTombstone: isTombstone,
            registerVersion: version("dts", "dtb") ?? (isTombstone ? nil : record) ?? .minimum)
    }

    /// A stored document's key, bookkeeping and bytes-register version (`nil`: not yet known); a
    /// document without an integer `id` is an error naming it.
    static func keyed(_ doc: BSONDocument, operation: String) throws(MongoStoreError) -> (
        id: Int64, bookkeeping: Bookkeeping, dataVersion: Version?
    ) {
        guard let id = doc["id"]?.int64Value else {
            throw MongoStoreError.badDocument(operation, id: doc["id"], field: "id", value: doc["id"], expected: "an integer")
        }
        let bookkeeping = bookkeeping(doc)
        return (id, bookkeeping, bookkeeping.registerVersion == .minimum ? nil : bookkeeping.registerVersion)
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
