import Foundation

/// A parsed JSON document that keeps integers and doubles apart and `null` distinct from absent.
public indirect enum JSONValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses UTF-8 JSON strictly (RFC 8259, see `JSONParser`); the error detail names the byte
    /// offset, for dead-letter headers. Unlike Foundation's `JSONDecoder`, which this replaced,
    /// it rejects trailing commas (`[1,]`), keeps the last of duplicate keys (not the first) and
    /// reads `1.0`/`1e2` as `.double`.
    public static func parse(_ bytes: [UInt8]) throws(EventDecodingError) -> JSONValue {
        try JSONParser.parse(bytes)
    }

    /// `parse`, with the top-level object's plain ASCII string value of `key` left in `bytes` (the
    /// value reads `.string("")`) and its range returned: a LIMS event's hex image is decoded from
    /// there, never made a `String`.
    public static func parse(_ bytes: [UInt8], capturing key: String) throws(EventDecodingError) -> (JSONValue, Range<Int>?) {
        try JSONParser.parse(bytes, capturing: key)
    }

    /// A short rendering of the value for error messages (long strings are cut).
    public var preview: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .integer(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return s.count > 40 ? "\"\(s.prefix(40))…\" (\(s.utf8.count) bytes)" : "\"\(s)\""
        case .array(let a): return "an array of \(a.count)"
        case .object(let o): return "an object with keys \(o.keys.sorted().prefix(6).joined(separator: ","))"
        }
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }
}

/// Writes JSON text with keys in the order given (LIMS's field order), for HTTP bodies and events.
public struct JSONWriter {
    public private(set) var text = ""

    public init() {}

    public static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A finite double in the shortest form that reads back to the same value.
    public static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(format: "%.1f", value) }
        return "\(value)"
    }
}
