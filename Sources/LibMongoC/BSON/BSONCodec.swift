/// BSON encoding and decoding in Swift (bsonspec.org 1.1), so no libbson iterator or builder (both
/// over-aligned C structs) is needed: documents cross into libmongoc as bytes.
public struct BSONDecodingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { "invalid BSON: \(message)" }
}

extension BSONDocument {
    /// The document's BSON bytes.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        Self.encode(self, into: &out)
        return out
    }

    static func encode(_ document: BSONDocument, into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: [0, 0, 0, 0])
        for element in document.elements { encode(element.key, element.value, into: &out) }
        out.append(0)
        patchLength(&out, at: start)
    }

    static func encode(array: [BSONValue], into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: [0, 0, 0, 0])
        for (index, value) in array.enumerated() { encode(String(index), value, into: &out) }
        out.append(0)
        patchLength(&out, at: start)
    }

    static func patchLength(_ out: inout [UInt8], at start: Int) {
        let length = UInt32(out.count - start)
        for i in 0..<4 { out[start + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
    }

    static func encode(_ key: String, _ value: BSONValue, into out: inout [UInt8]) {
        func cstring(_ s: String) {
            out.append(contentsOf: s.utf8.map { $0 == 0 ? 0xC0 : $0 })  // a NUL cannot occur in a key
            out.append(0)
        }
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) {
            let bytes = Array(s.utf8)
            le(Int32(bytes.count + 1))
            out.append(contentsOf: bytes)
            out.append(0)
        }
        switch value {
        case .double(let v):
            out.append(0x01)
            cstring(key)
            le(v.bitPattern)
        case .string(let v):
            out.append(0x02)
            cstring(key)
            string(v)
        case .document(let d):
            out.append(0x03)
            cstring(key)
            encode(d, into: &out)
        case .array(let a):
            out.append(0x04)
            cstring(key)
            encode(array: a, into: &out)
        case .binary(let subtype, let bytes):
            out.append(0x05)
            cstring(key)
            le(Int32(bytes.count))
            out.append(subtype)
            out.append(contentsOf: bytes)
        case .objectId(let b):
            out.append(0x07)
            cstring(key)
            out.append(contentsOf: b.prefix(12))
            out.append(contentsOf: [UInt8](repeating: 0, count: max(0, 12 - b.count)))
        case .bool(let v):
            out.append(0x08)
            cstring(key)
            out.append(v ? 1 : 0)
        case .datetime(let v):
            out.append(0x09)
            cstring(key)
            le(v)
        case .null:
            out.append(0x0A)
            cstring(key)
        case .int32(let v):
            out.append(0x10)
            cstring(key)
            le(v)
        case .int64(let v):
            out.append(0x12)
            cstring(key)
            le(v)
        case .other(let type, let raw):
            out.append(type)
            cstring(key)
            out.append(contentsOf: raw)
        }
    }

    /// Decodes one document from `bytes` (which must hold exactly one).
    public init(bson bytes: [UInt8]) throws(BSONDecodingError) {
        var reader = BSONReader(bytes: bytes, position: 0)
        self = try reader.document()
        guard reader.position == bytes.count else { throw BSONDecodingError(message: "trailing bytes after the document") }
    }
}

struct BSONReader {
    let bytes: [UInt8]
    var position: Int

    mutating func take(_ n: Int) throws(BSONDecodingError) -> ArraySlice<UInt8> {
        guard n >= 0, position + n <= bytes.count else { throw BSONDecodingError(message: "truncated at byte \(position)") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    mutating func int<T: FixedWidthInteger>(_: T.Type) throws(BSONDecodingError) -> T {
        let slice = try take(MemoryLayout<T>.size)
        var v: T = 0
        for (i, b) in slice.enumerated() { v |= T(truncatingIfNeeded: b) << (8 * i) }
        return v
    }

    mutating func cstring() throws(BSONDecodingError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0) else { throw BSONDecodingError(message: "unterminated key") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    mutating func string() throws(BSONDecodingError) -> String {
        let length = Int(try int(Int32.self))
        guard length >= 1 else { throw BSONDecodingError(message: "bad string length \(length)") }
        let body = try take(length)
        return String(decoding: body.dropLast(), as: UTF8.self)
    }

    mutating func document() throws(BSONDecodingError) -> BSONDocument {
        let start = position
        let length = Int(try int(Int32.self))
        guard length >= 5, start + length <= bytes.count else { throw BSONDecodingError(message: "bad document length \(length)") }
        var pairs: [(String, BSONValue)] = []
        while position < start + length - 1 {
            let type = try take(1).first!
            let key = try cstring()
            pairs.append((key, try value(type)))
        }
        guard position == start + length - 1, try take(1).first == 0 else {
            throw BSONDecodingError(message: "document does not end where its length says")
        }
        return BSONDocument(pairs)
    }

    mutating func value(_ type: UInt8) throws(BSONDecodingError) -> BSONValue {
        switch type {
        case 0x01: return .double(Double(bitPattern: try int(UInt64.self)))
        case 0x02: return .string(try string())
        case 0x03: return .document(try document())
        case 0x04: return .array(try document().elements.map(\.value))
        case 0x05:
            let length = Int(try int(Int32.self))
            let subtype = try take(1).first!
            return .binary(subtype: subtype, bytes: Array(try take(length)))
        case 0x07: return .objectId(Array(try take(12)))
        case 0x08: return .bool(try take(1).first! != 0)
        case 0x09: return .datetime(try int(Int64.self))
        case 0x0A: return .null
        case 0x10: return .int32(try int(Int32.self))
        case 0x12: return .int64(try int(Int64.self))
        default:
            let start = position
            try skip(type)
            return .other(type: type, raw: Array(bytes[start..<position]))
        }
    }

    mutating func skip(_ type: UInt8) throws(BSONDecodingError) {
        switch type {
        case 0x06, 0x7F, 0xFF: return
        case 0x0D, 0x0E: _ = try string()
        case 0x0B:
            _ = try cstring()
            _ = try cstring()
        case 0x0C:
            _ = try string()
            _ = try take(12)
        case 0x0F:
            let n = Int(try int(Int32.self))
            _ = try take(n - 4)
        case 0x11: _ = try take(8)
        case 0x13: _ = try take(16)
        default: throw BSONDecodingError(message: "unknown element type 0x\(String(type, radix: 16))")
        }
    }
}
