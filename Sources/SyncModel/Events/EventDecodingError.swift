/// Why a Kafka message could not become a `Change`. Names the field and the offending value.
public struct EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case malformedJSON = "malformed-json"
        case missingField = "missing-field"
        case wrongType = "wrong-type"
        case invalidValue = "invalid-value"
        /// The topic names no valid plant (and no `--topic-plant` mapping or Debezium source does).
        case invalidPlant = "invalid-plant"
        case oversized
        case unsupported
        /// A change by producer `_id` whose `_id` the consumer store does not know (dead-lettered only
        /// when StreamSync runs without gap detection; else a gap, docs/design.md §2).
        case unknownSourceID = "unknown-source-id"
    }

    public let kind: Kind
    public let field: String?
    public let value: String?
    public let detail: String

    public init(_ kind: Kind, field: String?, value: String?, detail: String) {
        self.kind = kind
        self.field = field
        self.value = value
        self.detail = detail
    }

    static func wrongType(_ field: String, expected: String, got value: JSONValue) -> EventDecodingError {
        EventDecodingError(
            .wrongType, field: field, value: value.preview, detail: "expected \(expected), got \(value.typeName)")
    }

    static func invalid(_ field: String, _ value: String, _ detail: String) -> EventDecodingError {
        EventDecodingError(.invalidValue, field: field, value: value, detail: detail)
    }

    static func missing(_ field: String) -> EventDecodingError {
        EventDecodingError(.missingField, field: field, value: nil, detail: "required field is absent")
    }

    public var description: String {
        var text = kind.rawValue
        if let field { text += " in field '\(field)'" }
        if let value { text += " (value \(value))" }
        return text + ": " + detail
    }
}
