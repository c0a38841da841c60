/// The producer's own identity of a record: its MongoDB `_id` (docs/design.md §2, "Deletes by `_id`").
///
/// A MongoDB change stream's delete, and Debezium MongoDB's `op: d` without a pre-image, name the
/// document by `_id` alone, not by the business key `(plant, id)`. The consumer stores keep each record's
/// `SourceID` (PostgreSQL column `source_id`, MongoDB field `_ps.sid`, indexed) so that such a delete
/// finds its record.
///
/// The canonical text is the same whichever JSON form carried the `_id`: an ObjectId
/// (`{"$oid": "5d505…"}` in the connectors' default and canonical Extended JSON, a bare 24-digit hex
/// string in their simplified JSON, a BSON ObjectId read by BatchSync) is its 24 lower-case hex digits;
/// a string `_id` is the string; an integer `_id` (`5`, `{"$numberLong": "5"}`, `{"$numberInt": "5"}`)
/// is its decimal digits.
public struct SourceID: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let rawValue: String

    /// The longest accepted text (bytes); longer `_id`s are refused, as they cannot be indexed everywhere.
    public static let maxLength = 512

    public init?(rawValue: String) {
        guard !rawValue.isEmpty, rawValue.utf8.count <= Self.maxLength else { return nil }
        self.rawValue = Self.isObjectIDHex(rawValue) ? rawValue.lowercased() : rawValue
    }

    /// An ObjectId from its 12 bytes (BSON).
    public init(objectID bytes: some Collection<UInt8>) {
        precondition(bytes.count == 12, "an ObjectId has 12 bytes")
        rawValue = BinaryText.hex(Array(bytes))
    }

    /// The `_id` as any of the connectors' JSON forms carry it (see the type's documentation); `nil` for
    /// null, an empty string, and anything that is not an ObjectId, a string or an integer.
    public init?(json: JSONValue) {
        switch RecordJSON.unwrapNumber(json) {
        case .string(let text):
            self.init(rawValue: text)
        case .integer(let value):
            self.init(rawValue: String(value))
        case .object(let fields) where fields.count == 1:
            guard case .string(let hex)? = fields["$oid"], Self.isObjectIDHex(hex) else { return nil }
            self.init(rawValue: hex)
        default:
            return nil
        }
    }

    /// 24 hex digits: an ObjectId's text.
    static func isObjectIDHex(_ text: String) -> Bool {
        text.utf8.count == 24 && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 102) }
    }

    public var description: String { rawValue }

    public static func < (lhs: SourceID, rhs: SourceID) -> Bool { lhs.rawValue < rhs.rawValue }
}
