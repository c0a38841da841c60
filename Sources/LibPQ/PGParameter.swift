/// A bound parameter of a query. Values are never spliced into SQL text.
///
/// Every value is sent in PostgreSQL's binary format with its type's OID, encoded by `appendBinary` —
/// the one per-type encoder, which `COPY … (FORMAT binary)` rows use too (`appendCopyField`): the
/// server parses nothing, and a parameter's type is what its case says (write an explicit cast in
/// the SQL where a value of another type is wanted, e.g. `$1::text::timestamp`).
public enum PGParameter: Sendable, Equatable {
    /// SQL NULL, of a type the server infers from the statement (OID 0).
    case null
    /// `text` (OID 25): the UTF-8 bytes.
    case text(String)
    /// `bytea` (OID 17): the bytes as they are.
    case bytes([UInt8])
    /// `bigint` (OID 20).
    case int64(Int64)
    /// `double precision` (OID 701).
    case float8(Double)
    /// `boolean` (OID 16).
    case bool(Bool)
    /// `timestamp` without time zone (OID 1114), microseconds since 1970-01-01 00:00 UTC.
    case timestamp(microsecondsSinceEpoch: Int64)
    /// A one-dimensional `bigint[]` (OID 1016) without NULLs.
    case int64Array([Int64])
    /// A one-dimensional `double precision[]` (OID 1022) without NULLs.
    case float8Array([Double])

    public static func int(_ value: Int64) -> PGParameter { .int64(value) }
    public static func int(_ value: Int) -> PGParameter { .int64(Int64(value)) }
    public static func double(_ value: Double) -> PGParameter { .float8(value) }

    /// The parameter's type OID (`pg_type.oid`), as `PQexecParams`'s `paramTypes` takes it.
    public var oid: UInt32 {
        switch self {
        case .null: return 0
        case .text: return 25
        case .bytes: return 17
        case .int64: return 20
        case .float8: return 701
        case .bool: return 16
        case .timestamp: return 1114
        case .int64Array: return 1016
        case .float8Array: return 1022
        }
    }

    /// The length of the binary value (-1 for NULL), as `COPY` and `paramLengths` state it.
    public var binaryLength: Int {
        switch self {
        case .null: return -1
        case .text(let value): return value.utf8.count
        case .bytes(let value): return value.count
        case .int64, .float8, .timestamp: return 8
        case .bool: return 1
        case .int64Array(let values): return Self.arrayLength(values.count)
        case .float8Array(let values): return Self.arrayLength(values.count)
        }
    }

    /// Appends the value in its type's binary send format (nothing for NULL). All integers big-endian.
    public func appendBinary(to out: inout [UInt8]) {
        switch self {
        case .null: return
        case .text(let value): out.append(contentsOf: value.utf8)
        case .bytes(let value): out.append(contentsOf: value)
        case .int64(let value): PGBinary.append(value, to: &out)
        case .float8(let value): PGBinary.append(Int64(bitPattern: value.bitPattern), to: &out)
        case .bool(let value): out.append(value ? 1 : 0)
        case .timestamp(let micros): PGBinary.append(micros &- PGResult.postgresEpochOffsetMicros, to: &out)
        case .int64Array(let values):
            Self.appendArrayHeader(count: values.count, elementOID: 20, to: &out)
            for value in values {
                PGBinary.append(Int32(8), to: &out)
                PGBinary.append(value, to: &out)
            }
        case .float8Array(let values):
            Self.appendArrayHeader(count: values.count, elementOID: 701, to: &out)
            for value in values {
                PGBinary.append(Int32(8), to: &out)
                PGBinary.append(Int64(bitPattern: value.bitPattern), to: &out)
            }
        }
    }

    /// The field in `COPY … (FORMAT binary)`: a 32-bit length (-1 for NULL), then `appendBinary`.
    public func appendCopyField(to out: inout [UInt8]) {
        PGBinary.append(Int32(binaryLength), to: &out)
        appendBinary(to: &out)
    }

    /// `array_send`'s layout: dimensions, has-NULL flag, element OID, then per dimension its length and
    /// lower bound (an empty array has no dimension); each element a 32-bit length and its value.
    private static func arrayLength(_ count: Int) -> Int { count == 0 ? 12 : 20 + 12 * count }

    private static func appendArrayHeader(count: Int, elementOID: Int32, to out: inout [UInt8]) {
        PGBinary.append(Int32(count == 0 ? 0 : 1), to: &out)
        PGBinary.append(Int32(0), to: &out)
        PGBinary.append(elementOID, to: &out)
        if count > 0 {
            PGBinary.append(Int32(count), to: &out)
            PGBinary.append(Int32(1), to: &out)
        }
    }
}

/// Big-endian words, as every field of PostgreSQL's binary formats is written.
public enum PGBinary {
    public static func append(_ value: Int16, to out: inout [UInt8]) {
        let v = UInt16(bitPattern: value)
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    public static func append(_ value: Int32, to out: inout [UInt8]) {
        let v = UInt32(bitPattern: value)
        out.append(UInt8(truncatingIfNeeded: v >> 24))
        out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    public static func append(_ value: Int64, to out: inout [UInt8]) {
        let v = UInt64(bitPattern: value)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}
