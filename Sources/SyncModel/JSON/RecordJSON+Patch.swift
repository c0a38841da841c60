extension RecordJSON {
    /// Builds a `RecordPatch` from a MongoDB update description — a change stream's
    /// `updateDescription` (`updatedFields`, `removedFields`, `truncatedArrays`), Debezium MongoDB's
    /// `updateDescription` or its legacy oplog `patch` (`$set`/`$unset`, `$v: 2` `diff`) — with the
    /// record readers above: the same rules and the same errors as a whole record, each naming the
    /// field by its path in the event (`updateDescription.updatedFields.percentage`).
    ///
    /// - A set path is a record field (`camera_id`, `data`, …) or an element of the coordinates
    ///   (`gps_coordinates.0` the latitude, `gps_coordinates.1` the longitude); `_id` (immutable) and
    ///   fields the record does not have are ignored; a path into a record field that is none of these
    ///   is refused.
    /// - `id` is the business key, which never changes: setting it is refused (`invalid-value`).
    /// - A removed field becomes null; removing a field every record has (`id`, `camera_id`,
    ///   `gps_coordinates`, `created_at`, `is_active`, `is_deleted`) is refused, naming it.
    /// - Truncating `gps_coordinates` is refused (it holds exactly two numbers).
    struct PatchReader {
        var patch = RecordPatch()
        let binary: BinaryEncoding
        let maxDataBytes: Int

        /// Fields every record has: a patch cannot remove them.
        static let requiredFields: Set<String> = ["id", "camera_id", "gps_coordinates", "created_at", "is_active", "is_deleted"]
        /// Every field of a record.
        static let recordFields: Set<String> = requiredFields.union(["data", "disease", "percentage", "updated_at"])

        init(binary: BinaryEncoding, maxDataBytes: Int) {
            self.binary = binary
            self.maxDataBytes = maxDataBytes
        }

        /// Sets every entry of `fields` (a path → value object); `field` names the object in errors.
        mutating func set(_ fields: [String: JSONValue], field: String) throws(EventDecodingError) {
            // Sorted: with several bad entries, the one an error names does not depend on hashing.
            for path in fields.keys.sorted() {
                try set(path, fields[path]!, field: field + "." + path)
            }
        }

        /// Sets `path` to `raw`; `field` is the path's name in the event, for errors.
        mutating func set(_ path: String, _ raw: JSONValue, field: String) throws(EventDecodingError) {
            switch path {
            case "_id":
                return  // immutable in MongoDB: never a change
            case "id":
                throw EventDecodingError.invalid(
                    field, raw.preview, "the business key 'id' never changes: an update that sets it is refused")
            case "camera_id":
                patch.cameraId = try RecordJSON.int(raw, field: field)
            case "data":
                patch.data = .some(try RecordJSON.bytes(raw, binary: binary, maxBytes: maxDataBytes, field: field))
            case "gps_coordinates":
                let (lat, lon) = try RecordJSON.coordinates(raw, field: field)
                patch.latitude = lat
                patch.longitude = lon
            case "gps_coordinates.0":
                patch.latitude = try RecordJSON.latitude(raw, field: field)
            case "gps_coordinates.1":
                patch.longitude = try RecordJSON.longitude(raw, field: field)
            case "disease":
                patch.disease = .some(try RecordJSON.optionalString(raw, field: field))
            case "percentage":
                patch.percentage = .some(try RecordJSON.optionalDouble(raw, field: field))
            case "created_at":
                guard raw != .null else { throw EventDecodingError.invalid(field, "null", "must not be null") }
                patch.createdAt = try RecordJSON.timestamp(raw, field: field)
            case "updated_at":
                patch.updatedAt = .some(try RecordJSON.optionalTimestamp(raw, field: field))
            case "is_active":
                patch.isActive = try RecordJSON.bool(raw, field: field)
            case "is_deleted":
                patch.isDeleted = try RecordJSON.bool(raw, field: field)
            default:
                let head = Self.head(path)
                guard Self.recordFields.contains(head) else { return }  // not a record field: ignored
                throw EventDecodingError.invalid(
                    field, raw.preview, "'\(path)' is a path into '\(head)' that no record field matches")
            }
        }

        /// Removes `path` (it becomes null); `field` names the list of removed paths, for errors.
        mutating func remove(_ path: String, field: String) throws(EventDecodingError) {
            let head = Self.head(path)
            if Self.requiredFields.contains(head) {
                throw EventDecodingError.invalid(
                    field, JSONValue.string(path).preview, "'\(head)' cannot be removed: every record has one")
            }
            switch path {
            case "data": patch.data = .some(nil)
            case "disease": patch.disease = .some(nil)
            case "percentage": patch.percentage = .some(nil)
            case "updated_at": patch.updatedAt = .some(nil)
            default:
                guard Self.recordFields.contains(head) else { return }
                throw EventDecodingError.invalid(
                    field, JSONValue.string(path).preview, "'\(path)' is a path into '\(head)' that no record field matches")
            }
        }

        /// Removes each path of a `removedFields` array (strings).
        mutating func remove(_ paths: JSONValue?, field: String) throws(EventDecodingError) {
            switch paths {
            case nil, .null?: return
            case .array(let items)?:
                for item in items {
                    guard case .string(let path) = item else {
                        throw EventDecodingError.wrongType(field, expected: "an array of field paths", got: item)
                    }
                    try remove(path, field: field)
                }
            case let other?:
                throw EventDecodingError.wrongType(field, expected: "an array of field paths", got: other)
            }
        }

        /// Checks a `truncatedArrays` array (`[{"field": …, "newSize": …}]`): truncating the coordinates
        /// is refused; other arrays are not record fields.
        func truncate(_ arrays: JSONValue?, field: String) throws(EventDecodingError) {
            switch arrays {
            case nil, .null?: return
            case .array(let items)?:
                for item in items {
                    guard case .string(let path)? = item["field"] else {
                        throw EventDecodingError.wrongType(field, expected: "an array of {\"field\", \"newSize\"} objects", got: item)
                    }
                    if Self.head(path) == "gps_coordinates" {
                        throw EventDecodingError.invalid(
                            field, JSONValue.string(path).preview, "'gps_coordinates' holds exactly two numbers: it cannot be truncated")
                    }
                }
            case let other?:
                throw EventDecodingError.wrongType(field, expected: "an array", got: other)
            }
        }

        /// A dotted path's first segment: the top-level field it changes.
        static func head(_ path: String) -> String {
            path.firstIndex(of: ".").map { String(path[..<$0]) } ?? path
        }
    }
}
