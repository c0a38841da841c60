import Foundation

/// The shared secret `/image-plant/*` requires as `Authorization: Bearer <token>` (`--read-token-file`).
/// Visible ASCII without spaces (what a header carries unchanged), 16 to 4096 bytes.
public struct ReadToken: Sendable {
    public static let minLength = 16
    /// Also the width of the constant-time comparison: presented tokens longer than this never match.
    public static let maxLength = 4096

    let bytes: [UInt8]

    /// - Throws: `StreamSyncError.configuration` naming `field` when the token cannot be used.
    public init(_ text: String, field: String = "--read-token-file", source: String = "<token>") throws(StreamSyncError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else {
            throw .configuration(field: field, value: source, detail: "the token is empty")
        }
        guard bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .configuration(
                field: field, value: source,
                detail: "the token must be visible ASCII without spaces or line breaks inside (e.g. `openssl rand -hex 32`)")
        }
        guard (Self.minLength...Self.maxLength).contains(bytes.count) else {
            throw .configuration(
                field: field, value: source,
                detail: "the token has \(bytes.count) characters; it needs \(Self.minLength)…\(Self.maxLength)")
        }
        self.bytes = bytes
    }

    /// Reads the token from `path` once (at start): trailing line breaks are dropped (`echo … > file`,
    /// a Secret created from such a file); an empty or unreadable file is an error naming the flag.
    public static func load(file path: String, field: String = "--read-token-file") throws(StreamSyncError) -> ReadToken {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .configuration(field: field, value: path, detail: "no such file")
        }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw .configuration(field: field, value: path, detail: "cannot read the file")
        }
        var bytes = [UInt8](data)
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else {
            throw .configuration(field: field, value: path, detail: "the file is empty (it must hold the token)")
        }
        // Not UTF-8 becomes U+FFFD, which the visible-ASCII check rejects.
        return try ReadToken(String(decoding: bytes, as: UTF8.self), field: field, source: path)
    }

    /// Whether `presented` is this token, in time independent of where they differ and of either
    /// length (see `constantTimeEquals`).
    public func matches(_ presented: some Collection<UInt8>) -> Bool {
        guard presented.count <= Self.maxLength else { return false }
        return constantTimeEquals(bytes, presented)
    }
}

/// Byte-string equality without an early exit: both sides are copied into zero-padded buffers of one
/// fixed width (`ReadToken.maxLength`, or the longer side if that is longer), every byte pair is
/// XORed into one accumulator, and the lengths' difference is folded in too. The work is the same
/// whether the inputs differ in their first byte, their last, only in length, or not at all, so the
/// response time tells an attacker nothing about the secret's contents or length.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    let width = max(ReadToken.maxLength, a.count, b.count)
    var left = [UInt8](repeating: 0, count: width)
    var right = [UInt8](repeating: 0, count: width)
    left.replaceSubrange(0..<a.count, with: a)
    right.replaceSubrange(0..<b.count, with: b)
    var difference = UInt64(truncatingIfNeeded: a.count ^ b.count)
    for index in 0..<width {
        difference |= UInt64(left[index] ^ right[index])
    }
    return difference == 0
}
