/// A bound parameter of a query. Values are never spliced into SQL text.
public enum PGParameter: Sendable, Equatable {
    case null
    /// Sent in PostgreSQL's text format; the server casts it to the parameter's type.
    case text(String)
    /// Sent in binary format; use for `bytea` so image bytes travel unencoded.
    case bytes([UInt8])

    public static func int(_ value: Int64) -> PGParameter { .text(String(value)) }
    public static func int(_ value: Int) -> PGParameter { .text(String(value)) }
    public static func double(_ value: Double) -> PGParameter { .text("\(value)") }
    public static func bool(_ value: Bool) -> PGParameter { .text(value ? "t" : "f") }

    /// A one-dimensional `bigint[]` in text array syntax (digits only: nothing to escape).
    public static func int64Array(_ values: [Int64]) -> PGParameter {
        .text("{" + values.map(String.init).joined(separator: ",") + "}")
    }
}
