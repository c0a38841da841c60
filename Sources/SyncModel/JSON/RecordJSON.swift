/// Converts image records to and from JSON: LIMS's shape (hex `data`, `[lat, lon]`, microsecond
/// timestamps without zone), and the variants Debezium produces (base64 bytes, integer timestamps,
/// MongoDB Extended JSON wrappers such as `{"$date": …}`, `{"$binary": …}`, `{"$numberLong": …}`).
public enum RecordJSON {
    /// How a plain JSON string in `data` is encoded.
    public enum BinaryEncoding: Sendable { case hex, base64 }

    /// A decoded record, whether its `data` key was present at all, and which fields held Debezium's
    /// unavailable-value placeholder (those hold `nil`/`0` in `record`).
    public struct Decoded: Sendable, Hashable {
        public var record: ImageRecord
        public var hasData: Bool
        public var placeholders: KeptFields = []

        /// The fields the record does not carry: a missing `data` key, and every placeholder.
        public var kept: KeptFields { placeholders.union(hasData ? [] : .data) }
    }

    /// Decodes a record of `plant` from a JSON object. A missing `data` key yields `hasData == false`.
    /// With a `placeholder`, a `data`, `disease` or `gps_coordinates` value that is the placeholder is
    /// not decoded but reported in `placeholders`. `hexData`: the characters of `data`'s hex string
    /// where `JSONValue.parse(_:capturing:)` left them (its value in `json` is then a stand-in).
    public static func decode(
        _ json: JSONValue, plant: Plant, binary: BinaryEncoding = .hex, maxDataBytes: Int = 16 << 20,
        placeholder: UnavailableValuePlaceholder? = nil, hexData: ArraySlice<UInt8>? = nil
    ) throws(EventDecodingError) -> Decoded {
        guard case .object(let fields) = json else {
            throw EventDecodingError.wrongType("(record)", expected: "a JSON object", got: json)
        }
        let id = try int(fields, "id")
        guard id > 0 else { throw EventDecodingError.invalid("id", String(id), "must be a positive integer") }
        let cameraId = try int(fields, "camera_id")
        var placeholders: KeptFields = []
        var (lat, lon) = (0.0, 0.0)
        if let placeholder, let raw = fields["gps_coordinates"], placeholder.matches(array: raw) {
            placeholders.insert(.gpsCoordinates)
        } else {
            (lat, lon) = try coordinates(fields)
        }
        var disease: String? = nil
        if let placeholder, case .string(let text)? = fields["disease"], placeholder.matches(text) {
            placeholders.insert(.disease)
        } else {
            disease = try optionalString(fields, "disease")
        }
        let percentage = try optionalDouble(fields, "percentage")
        guard fields["created_at"] != nil else { throw EventDecodingError.missing("created_at") }
        let createdAt = try timestamp(fields, "created_at")
        guard let createdAt else { throw EventDecodingError.invalid("created_at", "null", "must not be null") }
        let updatedAt = try timestamp(fields, "updated_at")
        let isActive = try bool(fields, "is_active")
        let isDeleted = try bool(fields, "is_deleted")
        var data: [UInt8]? = nil
        let hasData = fields["data"] != nil
        if let placeholder, case .string(let text)? = fields["data"], placeholder.matches(encodedBytes: text) {
            placeholders.insert(.data)
        } else if let hexData {
            data = try bytes(hex: hexData, maxBytes: maxDataBytes)
        } else if let raw = fields["data"] {
            data = try bytes(raw, binary: binary, maxBytes: maxDataBytes)
        }
        let record = ImageRecord(
            plant: plant, id: id, cameraId: cameraId, data: data, latitude: lat, longitude: lon,
            disease: disease, percentage: percentage, createdAt: createdAt, updatedAt: updatedAt,
            isActive: isActive, isDeleted: isDeleted)
        return Decoded(record: record, hasData: hasData, placeholders: placeholders)
    }

    /// Encodes a record in LIMS's JSON shape, fields in LIMS's order, `data` as hex.
    public static func encode(_ record: ImageRecord, includeData: Bool = true) -> String {
        var parts: [String] = []
        parts.append("\"id\":\(record.id)")
        parts.append("\"camera_id\":\(record.cameraId)")
        if includeData { parts.append("\"data\":" + (record.data.map { "\"" + BinaryText.hex($0) + "\"" } ?? "null")) }
        parts.append(
            "\"gps_coordinates\":[\(JSONWriter.number(record.latitude)),\(JSONWriter.number(record.longitude))]")
        parts.append("\"disease\":" + (record.disease.map(JSONWriter.string) ?? "null"))
        parts.append("\"percentage\":" + (record.percentage.map(JSONWriter.number) ?? "null"))
        parts.append("\"created_at\":\"\(record.createdAt.limsString)\"")
        parts.append("\"updated_at\":" + (record.updatedAt.map { "\"\($0.limsString)\"" } ?? "null"))
        parts.append("\"is_active\":\(record.isActive)")
        parts.append("\"is_deleted\":\(record.isDeleted)")
        return "{" + parts.joined(separator: ",") + "}"
    }

    // MARK: Field readers

    /// Unwraps MongoDB Extended JSON number wrappers (`{"$numberLong": "5"}` and friends).
    static func unwrapNumber(_ value: JSONValue) -> JSONValue {
        guard case .object(let o) = value, o.count == 1, let (key, inner) = o.first,
            case .string(let text) = inner
        else { return value }
        switch key {
        case "$numberLong", "$numberInt": return Int64(text).map(JSONValue.integer) ?? value
        case "$numberDouble", "$numberDecimal": return Double(text).map(JSONValue.double) ?? value
        default: return value
        }
    }

    static func int(_ fields: [String: JSONValue], _ name: String) throws(EventDecodingError) -> Int64 {
        guard let raw = fields[name] else { throw EventDecodingError.missing(name) }
        return try int(raw, field: name)
    }

    /// An integer value (`5`, `5.0`, `{"$numberLong": "5"}`, `{"$numberInt": "5"}`); errors name `field`.
    static func int(_ raw: JSONValue, field: String) throws(EventDecodingError) -> Int64 {
        switch unwrapNumber(raw) {
        case .integer(let v): return v
        case .double(let d) where d == d.rounded() && abs(d) < 9.0e18: return Int64(d)
        default: throw EventDecodingError.wrongType(field, expected: "an integer", got: raw)
        }
    }

    static func bool(_ fields: [String: JSONValue], _ name: String) throws(EventDecodingError) -> Bool {
        guard let raw = fields[name] else { throw EventDecodingError.missing(name) }
        return try bool(raw, field: name)
    }

    static func bool(_ raw: JSONValue, field: String) throws(EventDecodingError) -> Bool {
        guard case .bool(let v) = raw else { throw EventDecodingError.wrongType(field, expected: "a boolean", got: raw) }
        return v
    }

    static func optionalString(_ fields: [String: JSONValue], _ name: String) throws(EventDecodingError) -> String? {
        guard let raw = fields[name] else { return nil }
        return try optionalString(raw, field: name)
    }

    static func optionalString(_ raw: JSONValue, field: String) throws(EventDecodingError) -> String? {
        switch raw {
        case .null: return nil
        case .string(let s): return s
        default: throw EventDecodingError.wrongType(field, expected: "a string or null", got: raw)
        }
    }

    static func double(_ value: JSONValue, field: String) throws(EventDecodingError) -> Double {
        let d: Double
        switch unwrapNumber(value) {
        case .integer(let i): d = Double(i)
        case .double(let v): d = v
        default: throw EventDecodingError.wrongType(field, expected: "a number", got: value)
        }
        guard d.isFinite else { throw EventDecodingError.invalid(field, String(d), "must be finite") }
        return d
    }

    static func optionalDouble(_ fields: [String: JSONValue], _ name: String) throws(EventDecodingError) -> Double? {
        guard let raw = fields[name] else { return nil }
        return try optionalDouble(raw, field: name)
    }

    static func optionalDouble(_ raw: JSONValue, field: String) throws(EventDecodingError) -> Double? {
        raw == .null ? nil : try double(raw, field: field)
    }

    static func coordinates(_ fields: [String: JSONValue]) throws(EventDecodingError) -> (Double, Double) {
        let name = "gps_coordinates"
        guard let raw = fields[name] else { throw EventDecodingError.missing(name) }
        return try coordinates(raw, field: name)
    }

    /// `[lat, lon]`; errors name `field`, an element's `field[0]`/`field[1]`.
    static func coordinates(_ raw: JSONValue, field name: String) throws(EventDecodingError) -> (Double, Double) {
        guard case .array(let items) = raw else {
            throw EventDecodingError.wrongType(name, expected: "an array [lat, lon]", got: raw)
        }
        guard items.count == 2 else {
            throw EventDecodingError.invalid(name, raw.preview, "must hold exactly two numbers [lat, lon]")
        }
        return (try latitude(items[0], field: name + "[0]"), try longitude(items[1], field: name + "[1]"))
    }

    static func latitude(_ raw: JSONValue, field: String) throws(EventDecodingError) -> Double {
        let lat = try double(raw, field: field)
        guard (-90.0...90.0).contains(lat) else {
            throw EventDecodingError.invalid(field, String(lat), "latitude must be within -90…90")
        }
        return lat
    }

    static func longitude(_ raw: JSONValue, field: String) throws(EventDecodingError) -> Double {
        let lon = try double(raw, field: field)
        guard (-180.0...180.0).contains(lon) else {
            throw EventDecodingError.invalid(field, String(lon), "longitude must be within -180…180")
        }
        return lon
    }

    /// A timestamp: LIMS/ISO string, integer microseconds (Debezium `MicroTimestamp`), or Extended JSON
    /// `{"$date": …}` (milliseconds or ISO string). `nil` for null or absent.
    static func timestamp(_ fields: [String: JSONValue], _ name: String) throws(EventDecodingError) -> Timestamp? {
        guard let raw = fields[name] else { return nil }
        return try optionalTimestamp(raw, field: name)
    }

    static func optionalTimestamp(_ raw: JSONValue, field: String) throws(EventDecodingError) -> Timestamp? {
        raw == .null ? nil : try timestamp(raw, field: field)
    }

    static func timestamp(_ raw: JSONValue, field: String) throws(EventDecodingError) -> Timestamp {
        switch raw {
        case .string(let text):
            guard let ts = Timestamp(parsing: text) else {
                throw EventDecodingError.invalid(field, raw.preview, "expected a timestamp like 2023-10-08T15:39:49.123123")
            }
            return ts
        case .integer(let micros):
            return Timestamp(microsecondsSinceEpoch: micros)
        case .object(let o) where o["$date"] != nil:
            let inner = unwrapNumber(o["$date"]!)
            if case .integer(let millis) = inner {
                let (micros, overflow) = millis.multipliedReportingOverflow(by: 1000)
                if !overflow { return Timestamp(microsecondsSinceEpoch: micros) }
            }
            if case .string = inner { return try timestamp(inner, field: field) }
            throw EventDecodingError.invalid(field, raw.preview, "unreadable $date")
        default:
            throw EventDecodingError.wrongType(field, expected: "a timestamp string", got: raw)
        }
    }

    /// Image bytes from hex characters in place (no `String` of them is made, but for an error's preview).
    static func bytes(hex: ArraySlice<UInt8>, maxBytes: Int) throws(EventDecodingError) -> [UInt8] {
        guard hex.count / 2 <= maxBytes else {
            throw EventDecodingError(
                .oversized, field: "data", value: "\(hex.count / 2) bytes", detail: "exceeds the limit of \(maxBytes) bytes")
        }
        guard let decoded = hex.withUnsafeBufferPointer({ BinaryText.bytes(fromHex: $0) }) else {
            // `JSONValue.preview`'s rendering of the string (ASCII: a character a byte).
            let text = String(decoding: hex.prefix(40), as: UTF8.self)
            let preview = hex.count > 40 ? "\"\(text)…\" (\(hex.count) bytes)" : "\"\(text)\""
            throw EventDecodingError.invalid("data", preview, "not a hex string")
        }
        return decoded
    }

    static func bytes(
        _ raw: JSONValue, binary: BinaryEncoding, maxBytes: Int, field: String = "data"
    ) throws(EventDecodingError) -> [UInt8]? {
        let decoded: [UInt8]?
        switch raw {
        case .null:
            return nil
        case .string(let text):
            switch binary {
            case .hex: decoded = BinaryText.bytes(fromHex: text)
            case .base64: decoded = BinaryText.bytes(fromBase64: text)
            }
            guard let decoded else {
                throw EventDecodingError.invalid(field, raw.preview, binary == .hex ? "not a hex string" : "not base64")
            }
            guard decoded.count <= maxBytes else {
                throw EventDecodingError(
                    .oversized, field: field, value: "\(decoded.count) bytes", detail: "exceeds the limit of \(maxBytes) bytes")
            }
            return decoded
        case .object(let o) where o["$binary"] != nil:
            // Extended JSON v2 {"$binary": {"base64": …, "subType": …}} or v1 {"$binary": …, "$type": …}
            var text: JSONValue? = o["$binary"]
            if case .object(let inner)? = text { text = inner["base64"] }
            guard case .string(let b64)? = text else {
                throw EventDecodingError.invalid(field, raw.preview, "unreadable $binary")
            }
            return try bytes(.string(b64), binary: .base64, maxBytes: maxBytes, field: field)
        default:
            throw EventDecodingError.wrongType(
                field, expected: binary == .hex ? "a hex string or null" : "a base64 string, a {\"$binary\": …} object or null", got: raw)
        }
    }
}
