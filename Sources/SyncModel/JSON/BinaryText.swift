import ExtrasBase64

/// Hexadecimal and base64 codecs for image bytes (LIMS sends hex; Debezium sends base64).
public enum BinaryText {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    public static func hex(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: bytes.count * 2)
        for (i, byte) in bytes.enumerated() {
            out[2 * i] = hexDigits[Int(byte >> 4)]
            out[2 * i + 1] = hexDigits[Int(byte & 0x0F)]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex digit values by byte; 0xFF marks a byte that is not a hex digit.
    static let hexValues: [UInt8] = (0..<256).map { c in
        switch c {
        case 48...57: return UInt8(c - 48)
        case 97...102: return UInt8(c - 87)
        case 65...70: return UInt8(c - 55)
        default: return 0xFF
        }
    }

    /// Decodes hex (either case, optionally `\x`-prefixed as PostgreSQL writes it); `nil` if the length
    /// is odd or a character is not a hex digit. The hot path of LIMS events: one table lookup per digit
    /// over the string's contiguous UTF-8.
    public static func bytes(fromHex text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { bytes(fromHex: $0) }
    }

    /// Decodes hex from UTF-8 bytes (see `bytes(fromHex: String)`).
    public static func bytes(fromHex utf8: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var digits = utf8[...]
        if digits.count >= 2, digits[digits.startIndex] == 92, digits[digits.startIndex + 1] == 120 {  // \x
            digits = digits.dropFirst(2)
        }
        guard digits.count % 2 == 0 else { return nil }
        let count = digits.count / 2
        var valid = true
        let out = hexValues.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                var i = digits.startIndex
                var bad: UInt8 = 0
                for n in 0..<count {
                    let high = table[Int(digits[i])]
                    let low = table[Int(digits[i + 1])]
                    bad |= high | low
                    buffer[n] = high << 4 | (low & 0x0F)
                    i += 2
                }
                valid = bad & 0xF0 == 0
                initialized = count
            }
        }
        return valid ? out : nil
    }

    public static func base64(_ bytes: [UInt8]) -> String { Base64.encodeToString(bytes: bytes) }

    /// Decodes standard or URL-safe base64, padded or not; `nil` on any other character or a misplaced
    /// padding character. (swift-extras-base64 does the decoding; this only picks its alphabet and
    /// restores the padding that unpadded producers omit.)
    public static func bytes(fromBase64 text: String) -> [UInt8]? {
        let utf8 = text.utf8
        // Padding only at the end, at most two (the library is lenient about a '=' inside).
        if let pad = utf8.firstIndex(of: UInt8(ascii: "=")) {
            let tail = utf8[pad...]
            guard tail.count <= 2, tail.allSatisfy({ $0 == UInt8(ascii: "=") }) else { return nil }
        }
        let urlSafe = utf8.contains(UInt8(ascii: "-")) || utf8.contains(UInt8(ascii: "_"))
        var padded = text
        switch utf8.count % 4 {
        case 2: padded += "=="
        case 3: padded += "="
        case 1: return nil
        default: break
        }
        return try? Base64.decode(string: padded, options: urlSafe ? [.base64UrlAlphabet] : [])
    }
}
