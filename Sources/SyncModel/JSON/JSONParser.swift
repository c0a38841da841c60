/// A strict RFC 8259 parser from UTF-8 bytes to `JSONValue`, the Kafka consumer's hot path.
///
/// - Numbers: a literal without fraction or exponent that fits `Int64` is `.integer`; any other
///   number is `.double`, correctly rounded. A number that is not finite as a `Double` (`1e400`)
///   is rejected.
/// - Strings must be valid UTF-8 without raw control characters; `\uXXXX` escapes must pair
///   surrogates.
/// - Duplicate object keys: the last one wins. Nesting deeper than `maxDepth` is rejected.
/// - Errors are `.malformedJSON` with a detail naming the byte offset (counted from 0).
struct JSONParser {
    static let maxDepth = 512

    static func parse(_ bytes: [UInt8]) throws(EventDecodingError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(EventDecodingError) -> JSONValue in
            guard let base = buffer.baseAddress, !buffer.isEmpty else {
                throw malformed("unexpected end of input at byte 0 (empty document)")
            }
            var parser = JSONParser(base: base, count: buffer.count)
            return try parser.parseDocument()
        }
    }

    /// Parses like `parse`, except that a plain string value of `key` in the top-level object (ASCII,
    /// no escape: what a hex image is) is not made a `String`: its value is `.string("")` and its
    /// characters' range in `bytes` is returned, for the caller to decode in place. (`nil`: no such
    /// value; the last of duplicate keys counts, as for every key.)
    static func parse(_ bytes: [UInt8], capturing key: String) throws(EventDecodingError) -> (JSONValue, Range<Int>?) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(EventDecodingError) -> (JSONValue, Range<Int>?) in
            guard let base = buffer.baseAddress, !buffer.isEmpty else {
                throw malformed("unexpected end of input at byte 0 (empty document)")
            }
            var parser = JSONParser(base: base, count: buffer.count)
            parser.captureKey = key
            let value = try parser.parseDocument()
            return (value, parser.captured)
        }
    }

    let base: UnsafePointer<UInt8>
    let count: Int
    var index = 0
    var depth = 0
    var captureKey: String?
    var captured: Range<Int>?

    private init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    mutating func parseDocument() throws(EventDecodingError) -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        if index < count {
            throw Self.malformed("unexpected character \(Self.show(base[index])) at byte \(index) after the top-level value")
        }
        return value
    }

    // MARK: Values

    mutating func parseValue() throws(EventDecodingError) -> JSONValue {
        skipWhitespace()
        guard index < count else { throw endOfInput() }
        switch base[index] {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case let byte:
            throw unexpected(byte, expecting: "a value")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(EventDecodingError) {
        let text = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount {
            guard index < count else { throw endOfInput() }
            guard base[index] == text[k] else { throw unexpected(base[index], expecting: "'\(literal)'") }
            index += 1
        }
    }

    mutating func enterContainer() throws(EventDecodingError) {
        depth += 1
        if depth > Self.maxDepth {
            throw Self.malformed("nesting deeper than \(Self.maxDepth) levels at byte \(index)")
        }
    }

    mutating func parseArray() throws(EventDecodingError) -> JSONValue {
        try enterContainer()
        index += 1  // '['
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < count, base[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue())
            if try closes(UInt8(ascii: "]")) { return .array(elements) }
        }
    }

    /// After a container's element: consumes a ',' (false) or the closing byte (true, leaving the
    /// container).
    mutating func closes(_ close: UInt8) throws(EventDecodingError) -> Bool {
        skipWhitespace()
        guard index < count else { throw endOfInput() }
        let byte = base[index]
        guard byte == UInt8(ascii: ",") || byte == close else {
            throw unexpected(byte, expecting: "',' or '\(Character(Unicode.Scalar(close)))'")
        }
        index += 1
        if byte == close { depth -= 1 }
        return byte == close
    }

    mutating func parseObject() throws(EventDecodingError) -> JSONValue {
        try enterContainer()
        index += 1  // '{'
        skipWhitespace()
        if index < count, base[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object([:])
        }
        // Pairs first, then one dictionary of the right size (cheaper than growing one).
        var pairs: [(String, JSONValue)] = []
        while true {
            skipWhitespace()
            guard index < count else { throw endOfInput() }
            guard base[index] == UInt8(ascii: "\"") else { throw unexpected(base[index], expecting: "a string key") }
            let key = try parseString()
            skipWhitespace()
            guard index < count else { throw endOfInput() }
            guard base[index] == UInt8(ascii: ":") else { throw unexpected(base[index], expecting: "':'") }
            index += 1
            if depth == 1, let captureKey, key == captureKey {
                captured = captureASCIIString()
                if captured != nil {
                    pairs.append((key, .string("")))
                    if try closes(UInt8(ascii: "}")) { return .object(Dictionary(pairs, uniquingKeysWith: { _, last in last })) }
                    continue
                }
            }
            pairs.append((key, try parseValue()))
            if try closes(UInt8(ascii: "}")) {
                // A duplicate key: the last one wins.
                return .object(Dictionary(pairs, uniquingKeysWith: { _, last in last }))
            }
        }
    }

    /// The range of the characters of a string value at `index` that is ASCII without escapes, leaving
    /// `index` after its closing quote; `nil` (and `index` where the value starts) for any other value.
    mutating func captureASCIIString() -> Range<Int>? {
        skipWhitespace()
        guard index < count, base[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var i = start
        // 16 bytes at a time, as `parseString` scans, up to the first byte that needs a look.
        while i &+ 16 <= count {
            let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt8>.self)
            if Self.hasStringSpecial(v) || Self.hasNonASCII(v) { break }
            i &+= 16
        }
        while i < count {
            let byte = base[i]
            if byte == UInt8(ascii: "\"") {
                index = i + 1
                return start..<i
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { return nil }
            i += 1
        }
        return nil
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < count {
            switch base[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }
}
