/// One BSON value. Integers keep their BSON width; the `…Value` accessors read numbers leniently,
/// because other writers (LIMS is Python) store small integers as int32 and servers return `$sum`
/// results in the narrowest type that fits.
public enum BSONValue: Sendable, Hashable {
    case double(Double)
    case string(String)
    case document(BSONDocument)
    case array([BSONValue])
    case binary(subtype: UInt8, bytes: [UInt8])
    case objectId([UInt8])
    case bool(Bool)
    /// Milliseconds since the Unix epoch, UTC.
    case datetime(Int64)
    case null
    case int32(Int32)
    case int64(Int64)
    /// Any other BSON type, kept as its type byte and raw value bytes so it survives a round trip.
    case other(type: UInt8, raw: [UInt8])

    /// Plain binary (subtype 0).
    public static func bytes(_ bytes: [UInt8]) -> BSONValue { .binary(subtype: 0, bytes: bytes) }

    /// The value as an integer if it is int32, int64, or a double holding an integer exactly.
    public var int64Value: Int64? {
        switch self {
        case .int32(let v): return Int64(v)
        case .int64(let v): return v
        case .double(let v): return Int64(exactly: v)
        default: return nil
        }
    }

    /// The value as a double if it is a number.
    public var doubleValue: Double? {
        switch self {
        case .double(let v): return v
        case .int32(let v): return Double(v)
        case .int64(let v): return Double(v)
        default: return nil
        }
    }

    public var stringValue: String? { if case .string(let v) = self { return v } else { return nil } }
    public var boolValue: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    public var documentValue: BSONDocument? { if case .document(let v) = self { return v } else { return nil } }
    public var arrayValue: [BSONValue]? { if case .array(let v) = self { return v } else { return nil } }
    public var datetimeValue: Int64? { if case .datetime(let v) = self { return v } else { return nil } }
    public var isNull: Bool { self == .null }

    /// The BSON type name (as `$type` spells it), for error messages.
    public var typeName: String {
        switch self {
        case .double: return "double"
        case .string: return "string"
        case .document: return "object"
        case .array: return "array"
        case .binary: return "binData"
        case .objectId: return "objectId"
        case .bool: return "bool"
        case .datetime: return "date"
        case .null: return "null"
        case .int32: return "int"
        case .int64: return "long"
        case .other(let type, _): return "type 0x\(String(type, radix: 16))"
        }
    }
}

extension BSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: BSONValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}

extension BSONValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral pairs: (String, BSONValue)...) { self = .document(BSONDocument(pairs)) }
}
