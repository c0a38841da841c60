/// An ordered BSON document (keys keep their order: command names must come first).
public struct BSONDocument: Sendable, Hashable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public struct Element: Sendable, Hashable {
        public var key: String
        public var value: BSONValue
    }

    public private(set) var elements: [Element]

    public init() { elements = [] }

    public init(_ pairs: [(String, BSONValue)]) { elements = pairs.map { Element(key: $0.0, value: $0.1) } }

    public init(dictionaryLiteral pairs: (String, BSONValue)...) {
        elements = pairs.map { Element(key: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { elements.isEmpty }
    public var keys: [String] { elements.map(\.key) }

    /// The first value under `key`; setting replaces it in place or appends.
    public subscript(key: String) -> BSONValue? {
        get { elements.first { $0.key == key }?.value }
        set {
            if let index = elements.firstIndex(where: { $0.key == key }) {
                if let newValue { elements[index].value = newValue } else { elements.remove(at: index) }
            } else if let newValue {
                elements.append(Element(key: key, value: newValue))
            }
        }
    }

    /// Follows a dotted path through subdocuments (`"_ps.ts"`).
    public subscript(path path: String) -> BSONValue? {
        var current: BSONValue = .document(self)
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .document(let doc) = current, let next = doc[String(part)] else { return nil }
            current = next
        }
        return current
    }

    public mutating func append(_ key: String, _ value: BSONValue) {
        elements.append(Element(key: key, value: value))
    }

    /// A short rendering for logs and error messages (binary shown by length only).
    public var description: String {
        "{" + elements.map { "\($0.key): \(Self.render($0.value))" }.joined(separator: ", ") + "}"
    }

    static func render(_ value: BSONValue) -> String {
        switch value {
        case .double(let v): return "\(v)"
        case .string(let v): return "\"\(v)\""
        case .document(let d): return d.description
        case .array(let a): return "[" + a.map(render).joined(separator: ", ") + "]"
        case .binary(_, let b): return "<\(b.count) bytes>"
        case .objectId(let b): return "ObjectId(" + b.map { String(format2: $0) }.joined() + ")"
        case .bool(let v): return "\(v)"
        case .datetime(let v): return "Date(\(v))"
        case .null: return "null"
        case .int32(let v): return "\(v)"
        case .int64(let v): return "NumberLong(\(v))"
        case .other(let t, _): return "<type 0x\(String(t, radix: 16))>"
        }
    }
}

extension String {
    fileprivate init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
