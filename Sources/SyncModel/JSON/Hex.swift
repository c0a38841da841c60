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
                    let high = table[Int(digits[i])], low = table[Int(digits[i + 1])]
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

    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func base64(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i]
            let b1 = i + 1 < bytes.count ? bytes[i + 1] : 0
            let b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(base64Alphabet[Int(b0 >> 2)])
            out.append(base64Alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? base64Alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : 61)
            out.append(i + 2 < bytes.count ? base64Alphabet[Int(b2 & 0x3F)] : 61)
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard or URL-safe base64, padded or not; `nil` on any other character.
    public static func bytes(fromBase64 text: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 65...90: v = c - 65
            case 97...122: v = c - 71
            case 48...57: v = c + 4
            case 43, 45: v = 62
            case 47, 95: v = 63
            case 61: padding += 1; continue
            default: return nil
            }
            guard padding == 0 else { return nil }
            buffer = buffer << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        guard bits < 6, padding <= 2 else { return nil }
        return out
    }
}
