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

    private let base: UnsafePointer<UInt8>
    private let count: Int
    private var index = 0
    private var depth = 0

    private init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    private mutating func parseDocument() throws(EventDecodingError) -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        if index < count {
            throw Self.malformed("unexpected character \(Self.show(base[index])) at byte \(index) after the top-level value")
        }
        return value
    }

    // MARK: Values

    private mutating func parseValue() throws(EventDecodingError) -> JSONValue {
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

    private mutating func expectLiteral(_ literal: StaticString) throws(EventDecodingError) {
        let text = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount {
            guard index < count else { throw endOfInput() }
            guard base[index] == text[k] else { throw unexpected(base[index], expecting: "'\(literal)'") }
            index += 1
        }
    }

    private mutating func enterContainer() throws(EventDecodingError) {
        depth += 1
        if depth > Self.maxDepth {
            throw Self.malformed("nesting deeper than \(Self.maxDepth) levels at byte \(index)")
        }
    }

    private mutating func parseArray() throws(EventDecodingError) -> JSONValue {
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
    private mutating func closes(_ close: UInt8) throws(EventDecodingError) -> Bool {
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

    private mutating func parseObject() throws(EventDecodingError) -> JSONValue {
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
            pairs.append((key, try parseValue()))
            if try closes(UInt8(ascii: "}")) {
                // A duplicate key: the last one wins.
                return .object(Dictionary(pairs, uniquingKeysWith: { _, last in last }))
            }
        }
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while index < count {
            switch base[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    // MARK: Strings

    /// Whether any byte of `v` is `"`, `\` or below 0x20 (the bytes that end a string's fast scan).
    @inline(__always)
    private static func hasStringSpecial(_ v: SIMD16<UInt8>) -> Bool {
        // Typed constants, so that the concrete (vector) operators are chosen over the generic
        // lane-by-lane ones.
        let quote = SIMD16<UInt8>(repeating: UInt8(ascii: "\""))
        let backslash = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
        let space = SIMD16<UInt8>(repeating: 0x20)
        let hits = SIMD16<UInt8>().replacing(with: 0xFF, where: v .== quote .| v .== backslash .| v .< space)
        // Not `any(_:)`, which does not compile to a vector test.
        let words = unsafeBitCast(hits, to: SIMD2<UInt64>.self)
        return words[0] | words[1] != 0
    }

    /// Whether some byte of `v` is not ASCII.
    @inline(__always)
    private static func hasNonASCII(_ v: SIMD16<UInt8>) -> Bool {
        let words = unsafeBitCast(v, to: SIMD2<UInt64>.self)
        return (words[0] | words[1]) & 0x8080_8080_8080_8080 != 0
    }

    /// Parses the string whose opening quote is at `index`; leaves `index` after the closing quote.
    private mutating func parseString() throws(EventDecodingError) -> String {
        let open = index
        index += 1
        let start = index
        // 16 bytes at a time up to the first byte that needs a look (usually the closing quote).
        var seen = SIMD16<UInt8>()  // OR of the bytes scanned, to tell ASCII from not
        while index &+ 16 <= count {
            let v = UnsafeRawPointer(base + index).loadUnaligned(as: SIMD16<UInt8>.self)
            if Self.hasStringSpecial(v) { break }
            seen |= v
            index &+= 16
        }
        var ascii = !Self.hasNonASCII(seen)
        while index < count {
            let byte = base[index]
            switch byte {
            case UInt8(ascii: "\""):
                let text = UnsafeBufferPointer(start: base + start, count: index - start)
                index += 1
                return try Self.makeString(text, ascii: ascii, stringStart: open)
            case UInt8(ascii: "\\"):
                return try parseEscapedString(open: open, start: start)
            case 0..<0x20:
                throw controlCharacter(byte)
            default:
                if byte >= 0x80 { ascii = false }
                index += 1
            }
        }
        throw Self.malformed("unterminated string at byte \(open)")
    }

    private static func makeString(
        _ text: UnsafeBufferPointer<UInt8>, ascii: Bool, stringStart: Int
    ) throws(EventDecodingError) -> String {
        if ascii { return String(decoding: text, as: UTF8.self) }
        guard let string = String(validating: text, as: UTF8.self) else {
            throw malformed("invalid UTF-8 in the string at byte \(stringStart)")
        }
        return string
    }

    /// The slow path from the first backslash (at `index`) of the string opened at `open`.
    private mutating func parseEscapedString(open: Int, start: Int) throws(EventDecodingError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(index - start + 32)
        out.append(contentsOf: UnsafeBufferPointer(start: base + start, count: index - start))
        var runStart = index
        while index < count {
            let byte = base[index]
            switch byte {
            case UInt8(ascii: "\""):
                out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: index - runStart))
                index += 1
                return try out.withUnsafeBufferPointer { (text) throws(EventDecodingError) -> String in
                    try Self.makeString(text, ascii: false, stringStart: open)
                }
            case UInt8(ascii: "\\"):
                out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: index - runStart))
                try parseEscape(into: &out, open: open)
                runStart = index
                while index &+ 16 <= count {  // skip plain stretches, as `parseString` does
                    if Self.hasStringSpecial(UnsafeRawPointer(base + index).loadUnaligned(as: SIMD16<UInt8>.self)) { break }
                    index &+= 16
                }
            case 0..<0x20:
                throw controlCharacter(byte)
            default:
                index += 1
            }
        }
        throw Self.malformed("unterminated string at byte \(open)")
    }

    /// Decodes the escape whose backslash is at `index` (in the string opened at `open`),
    /// appending its UTF-8.
    private mutating func parseEscape(into out: inout [UInt8], open: Int) throws(EventDecodingError) {
        let escape = index
        guard index + 1 < count else { throw Self.malformed("unterminated string at byte \(open)") }
        let kind = base[index + 1]
        index += 2
        switch kind {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(kind)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4(escape: escape, open: open)
            var scalar: UInt32
            switch unit {
            case 0xD800...0xDBFF:
                guard index + 1 < count, base[index] == UInt8(ascii: "\\"), base[index + 1] == UInt8(ascii: "u") else {
                    throw Self.malformed("lone surrogate \\u\(Self.hex(unit)) at byte \(escape)")
                }
                let lowEscape = index
                index += 2
                let low = try parseHex4(escape: lowEscape, open: open)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw Self.malformed("lone surrogate \\u\(Self.hex(unit)) at byte \(escape)")
                }
                scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw Self.malformed("lone surrogate \\u\(Self.hex(unit)) at byte \(escape)")
            default:
                scalar = unit
            }
            Self.appendUTF8(scalar, to: &out)
        default:
            throw Self.malformed("invalid escape '\\\(Self.printable(kind))' at byte \(escape)")
        }
    }

    /// Reads the 4 hex digits at `index` of the `\u` escape that starts at `escape`.
    private mutating func parseHex4(escape: Int, open: Int) throws(EventDecodingError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard index < count else { throw Self.malformed("unterminated string at byte \(open)") }
            let digit = BinaryText.hexValues[Int(base[index])]
            guard digit != 0xFF else { throw Self.malformed("invalid \\u escape at byte \(escape)") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    // MARK: Numbers

    /// Exact powers of ten (10^0 ... 10^22 are all representable in a Double).
    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    private mutating func parseNumber() throws(EventDecodingError) -> JSONValue {
        let start = index
        let negative = base[index] == UInt8(ascii: "-")
        if negative { index += 1 }

        // Integer part: `0` or a non-zero digit followed by digits.
        guard index < count, Self.isDigit(base[index]) else { throw invalidNumber(start) }
        let digitsStart = index
        if base[index] == UInt8(ascii: "0") {
            index += 1
            if index < count, Self.isDigit(base[index]) { throw invalidNumber(start) }
        } else {
            while index < count, Self.isDigit(base[index]) { index += 1 }
        }
        let integerDigits = index - digitsStart

        var fractionDigits = 0
        if index < count, base[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            while index < count, Self.isDigit(base[index]) { index += 1 }
            fractionDigits = index - fractionStart
            if fractionDigits == 0 { throw invalidNumber(start) }
        }
        var hasExponent = false
        var exponent = 0
        if index < count, base[index] | 0x20 == UInt8(ascii: "e") {
            hasExponent = true
            index += 1
            var exponentNegative = false
            if index < count, base[index] == UInt8(ascii: "+") || base[index] == UInt8(ascii: "-") {
                exponentNegative = base[index] == UInt8(ascii: "-")
                index += 1
            }
            let exponentStart = index
            while index < count, Self.isDigit(base[index]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(base[index] &- UInt8(ascii: "0")) }
                index += 1
            }
            if index == exponentStart { throw invalidNumber(start) }
            if exponentNegative { exponent = -exponent }
        }

        if fractionDigits == 0 && !hasExponent {
            if let value = integerValue(digitsStart, digits: integerDigits, negative: negative) {
                return .integer(value)
            }
            return .double(try slowDouble(start))
        }

        // Clinger's fast path: at most 15 significant digits and |10-exponent| <= 22, so the
        // mantissa and the power of ten are exact and one IEEE operation rounds correctly.
        let significantDigits = integerDigits + fractionDigits
        if significantDigits <= 15 {
            var mantissa: Int64 = 0
            for k in digitsStart..<(digitsStart + integerDigits) { mantissa = mantissa * 10 + Int64(base[k] &- 48) }
            let fractionStart = digitsStart + integerDigits + 1
            for k in fractionStart..<(fractionStart + fractionDigits) { mantissa = mantissa * 10 + Int64(base[k] &- 48) }
            let scale = exponent - fractionDigits
            if scale >= -22 && scale <= 22 {
                var value = Double(mantissa)
                value = scale < 0 ? value / Self.powersOfTen[-scale] : value * Self.powersOfTen[scale]
                return .double(negative ? -value : value)
            }
        }
        return .double(try slowDouble(start))
    }

    /// The integer of `digits` digits at `digitsStart`, or nil when it does not fit `Int64`.
    private func integerValue(_ digitsStart: Int, digits: Int, negative: Bool) -> Int64? {
        if digits <= 18 {  // cannot overflow
            var value: Int64 = 0
            for k in digitsStart..<(digitsStart + digits) { value = value &* 10 &+ Int64(base[k] &- 48) }
            return negative ? -value : value
        }
        // Accumulate negatively so Int64.min fits.
        var value: Int64 = 0
        for k in digitsStart..<(digitsStart + digits) {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(base[k] &- 48))
            if overflow1 || overflow2 { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    /// The correctly rounded Double of the literal from `start` to `index`; rejects non-finite.
    private func slowDouble(_ start: Int) throws(EventDecodingError) -> Double {
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw Self.malformed("number '\(text.prefix(40))' out of range at byte \(start)")
        }
        return value
    }

    @inline(__always) private static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    // MARK: Errors

    static func malformed(_ detail: String) -> EventDecodingError {
        EventDecodingError(.malformedJSON, field: nil, value: nil, detail: detail)
    }

    private func endOfInput() -> EventDecodingError {
        Self.malformed("unexpected end of input at byte \(index)")
    }

    private func unexpected(_ byte: UInt8, expecting: String) -> EventDecodingError {
        Self.malformed("unexpected character \(Self.show(byte)) at byte \(index), expected \(expecting)")
    }

    private func controlCharacter(_ byte: UInt8) -> EventDecodingError {
        Self.malformed("unescaped control character \(Self.show(byte)) in a string at byte \(index)")
    }

    /// The offending literal: the run of number-like characters from `start`.
    private func invalidNumber(_ start: Int) -> EventDecodingError {
        var end = start
        while end < count, end - start < 40, Self.isNumberLike(base[end]) { end += 1 }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: end - start), as: UTF8.self)
        return Self.malformed("invalid number '\(text)' at byte \(start)")
    }

    private static func isNumberLike(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    /// `'x'` for printable ASCII, `0x0A` otherwise.
    private static func show(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + hex2(byte)
    }

    private static func printable(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? String(Character(Unicode.Scalar(byte))) : "0x" + hex2(byte)
    }

    private static func hex2(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0" + digits : digits
    }

    private static func hex(_ unit: UInt32) -> String {
        let digits = String(unit, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
