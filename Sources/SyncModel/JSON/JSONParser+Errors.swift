/// `.malformedJSON` errors that name the byte offset and the offending character.
extension JSONParser {
    static func malformed(_ detail: String) -> EventDecodingError {
        EventDecodingError(.malformedJSON, field: nil, value: nil, detail: detail)
    }

    func endOfInput() -> EventDecodingError {
        Self.malformed("unexpected end of input at byte \(index)")
    }

    func unexpected(_ byte: UInt8, expecting: String) -> EventDecodingError {
        Self.malformed("unexpected character \(Self.show(byte)) at byte \(index), expected \(expecting)")
    }

    func controlCharacter(_ byte: UInt8) -> EventDecodingError {
        Self.malformed("unescaped control character \(Self.show(byte)) in a string at byte \(index)")
    }

    /// The offending literal: the run of number-like characters from `start`.
    func invalidNumber(_ start: Int) -> EventDecodingError {
        var end = start
        while end < count, end - start < 40, Self.isNumberLike(base[end]) { end += 1 }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: end - start), as: UTF8.self)
        return Self.malformed("invalid number '\(text)' at byte \(start)")
    }

    static func isNumberLike(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    /// `'x'` for printable ASCII, `0x0A` otherwise.
    static func show(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + hex2(byte)
    }

    static func printable(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? String(Character(Unicode.Scalar(byte))) : "0x" + hex2(byte)
    }

    static func hex2(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0" + digits : digits
    }

    static func hex(_ unit: UInt32) -> String {
        let digits = String(unit, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
