/// String literals: UTF-8 validation, escapes, surrogate pairs.
extension JSONParser {
    /// Whether any byte of `v` is `"`, `\` or below 0x20 (the bytes that end a string's fast scan).
    @inline(__always)
    static func hasStringSpecial(_ v: SIMD16<UInt8>) -> Bool {
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
    static func hasNonASCII(_ v: SIMD16<UInt8>) -> Bool {
        let words = unsafeBitCast(v, to: SIMD2<UInt64>.self)
        return (words[0] | words[1]) & 0x8080_8080_8080_8080 != 0
    }

    /// Parses the string whose opening quote is at `index`; leaves `index` after the closing quote.
    mutating func parseString() throws(EventDecodingError) -> String {
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

    static func makeString(
        _ text: UnsafeBufferPointer<UInt8>, ascii: Bool, stringStart: Int
    ) throws(EventDecodingError) -> String {
        if ascii { return String(decoding: text, as: UTF8.self) }
        guard let string = String(validating: text, as: UTF8.self) else {
            throw malformed("invalid UTF-8 in the string at byte \(stringStart)")
        }
        return string
    }

    /// The slow path from the first backslash (at `index`) of the string opened at `open`.
    mutating func parseEscapedString(open: Int, start: Int) throws(EventDecodingError) -> String {
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
    mutating func parseEscape(into out: inout [UInt8], open: Int) throws(EventDecodingError) {
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
    mutating func parseHex4(escape: Int, open: Int) throws(EventDecodingError) -> UInt32 {
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

    static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
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
}
