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

    /// Decodes hex (either case); `nil` if the length is odd or a character is not a hex digit.
    public static func bytes(fromHex text: String) -> [UInt8]? {
        var utf8 = text.utf8
        if utf8.starts(with: "\\x".utf8) { utf8 = String(text.dropFirst(2)).utf8 }  // PostgreSQL style
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8? = nil
        for c in utf8 {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
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
