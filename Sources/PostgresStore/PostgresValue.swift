import LibPQ
import SyncModel

/// A value of one column, encodable both as a bound parameter and in `COPY`'s binary row format.
enum PostgresValue: Sendable {
    case null
    case text(String)
    case int64(Int64)
    case float8(Double)
    case bool(Bool)
    case bytes([UInt8])
    case timestamp(Timestamp)

    var parameter: PGParameter {
        switch self {
        case .null: return .null
        case .text(let value): return .text(value)
        case .int64(let value): return .int(value)
        case .float8(let value): return .double(value)
        case .bool(let value): return .bool(value)
        case .bytes(let value): return .bytes(value)
        case .timestamp(let value): return .text(value.sqlString)
        }
    }

    /// The field in `COPY … (FORMAT binary)`: a 32-bit length (-1 for NULL), then the value in the
    /// type's binary send format, big-endian.
    func appendCopyField(to out: inout [UInt8]) {
        switch self {
        case .null:
            PostgresCopyRows.int32(-1, &out)
        case .text(let value):
            PostgresCopyRows.int32(Int32(value.utf8.count), &out)
            out.append(contentsOf: value.utf8)
        case .int64(let value):
            PostgresCopyRows.int32(8, &out)
            PostgresCopyRows.int64(UInt64(bitPattern: value), &out)
        case .float8(let value):
            PostgresCopyRows.int32(8, &out)
            PostgresCopyRows.int64(value.bitPattern, &out)
        case .bool(let value):
            PostgresCopyRows.int32(1, &out)
            out.append(value ? 1 : 0)
        case .bytes(let value):
            PostgresCopyRows.int32(Int32(value.count), &out)
            out += value
        case .timestamp(let value):  // `timestamp` (without zone): int64 microseconds since 2000-01-01
            PostgresCopyRows.int32(8, &out)
            PostgresCopyRows.int64(UInt64(bitPattern: value.microsecondsSinceEpoch &- PGResult.postgresEpochOffsetMicros), &out)
        }
    }
}
