/// Debezium's unavailable-value placeholder (docs/design.md §2): what its PostgreSQL connector sends,
/// under the default `REPLICA IDENTITY`, in place of an unchanged TOASTed column value of an update.
/// `__debezium_unavailable_value` unless the connector sets `unavailable.value.placeholder`.
///
/// The value is "not carried": the decoder marks the field kept (`KeptFields`), so the store keeps what
/// it holds instead of storing the placeholder. It arrives as the raw string in a text column, as the
/// raw string (or an array holding it) in an array column, and in a `bytea` column as the bytes of the
/// string encoded like every binary value: base64 by default, hex with `binary.handling.mode=hex`, or
/// the raw string.
public struct UnavailableValuePlaceholder: Sendable, Hashable, CustomStringConvertible {
    /// The connector's default `unavailable.value.placeholder`.
    public static let debeziumDefault = "__debezium_unavailable_value"

    public let text: String
    private let bytes: [UInt8]
    /// Longest encoded form (hex): a longer `data` string cannot be the placeholder, so image bytes are
    /// never decoded twice.
    private let longestEncoding: Int

    /// `nil` for an empty placeholder (it would match every empty string).
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        self.text = text
        bytes = Array(text.utf8)
        longestEncoding = max(bytes.count * 2, (bytes.count + 2) / 3 * 4)
    }

    public var description: String { text }

    /// The placeholder in a text column.
    public func matches(_ value: String) -> Bool { value == text }

    /// The placeholder in a `bytea` column: the raw string, or its bytes in base64 (padded or not,
    /// standard or URL-safe) or hex (either case).
    public func matches(encodedBytes value: String) -> Bool {
        if value == text { return true }
        guard value.utf8.count <= longestEncoding else { return false }
        return BinaryText.bytes(fromBase64: value) == bytes || BinaryText.bytes(fromHex: value) == bytes
    }

    /// The placeholder in an array column: the raw string, or an array holding it.
    public func matches(array value: JSONValue) -> Bool {
        switch value {
        case .string(let s): return matches(s)
        case .array(let items): return items.contains { if case .string(let s) = $0 { matches(s) } else { false } }
        default: return false
        }
    }
}
