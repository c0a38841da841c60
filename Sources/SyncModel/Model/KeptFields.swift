/// The fields an upsert does not carry, so that the values the store holds stay (docs/design.md §1, §2):
/// a LIMS event without the `data` key, or Debezium's unavailable-value placeholder in a column.
///
/// - `data`: the image bytes. They are a register of their own (`KeyWinners.bytes`): a change that
///   keeps them leaves the stored bytes exactly as they are, whatever order changes arrive in.
/// - `disease`, `gpsCoordinates`: record fields. An upsert that keeps one does not know its whole
///   content, so its version is `Version.keepingFields(ts:)` (below every whole record of the same
///   `ts`); it updates a live stored record only, taking the kept fields from it, and never creates or
///   resurrects a record (README, "Kept record fields").
public struct KeptFields: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8

    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let data = KeptFields(rawValue: 1)
    public static let disease = KeptFields(rawValue: 2)
    public static let gpsCoordinates = KeptFields(rawValue: 4)

    /// The record fields that can be kept (everything but the bytes).
    public static let recordFields: KeptFields = [.disease, .gpsCoordinates]

    /// Every field, in LIMS's order, with its LIMS name.
    public static let named: [(field: KeptFields, name: String)] = [
        (.data, "data"), (.gpsCoordinates, "gps_coordinates"), (.disease, "disease"),
    ]

    /// LIMS's names of the fields in this set, in LIMS's order.
    public var names: [String] { Self.named.filter { contains($0.field) }.map(\.name) }

    public var description: String { "[" + names.joined(separator: ", ") + "]" }
}
