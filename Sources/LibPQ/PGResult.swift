import CLibPQ

/// The rows of one query, fetched in PostgreSQL's binary format.
///
/// Accessors decode the binary wire format of the column types PlantSync uses (`bigint`, `integer`,
/// `double precision`, `boolean`, `bytea`, `text`, `timestamp`) and throw a `PGError` naming the column
/// when the value has another shape, so a schema mismatch is an error, never a crash.
public final class PGResult {
    private let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    public var rowCount: Int { Int(PQntuples(handle)) }
    public var columnCount: Int { Int(PQnfields(handle)) }
    /// The command tag's row count (`INSERT 0 5` → 5), for statements without `RETURNING`.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    public func columnName(_ column: Int) -> String { String(cString: PQfname(handle, Int32(column))) }

    public func isNull(_ row: Int, _ column: Int) -> Bool {
        PQgetisnull(handle, Int32(row), Int32(column)) == 1
    }

    /// The raw binary value, or `nil` for SQL NULL.
    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        if isNull(row, column) { return nil }
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        guard length > 0, let base = PQgetvalue(handle, Int32(row), Int32(column)) else { return [] }
        return base.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    public func string(_ row: Int, _ column: Int) throws(PGError) -> String? {
        guard let raw = bytes(row, column) else { return nil }
        return String(decoding: raw, as: UTF8.self)
    }

    public func int64(_ row: Int, _ column: Int) throws(PGError) -> Int64? {
        guard let raw = bytes(row, column) else { return nil }
        switch raw.count {
        case 8: return Int64(bitPattern: bigEndian(raw))
        case 4: return Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: bigEndian(raw))))
        case 2: return Int64(Int16(bitPattern: UInt16(truncatingIfNeeded: bigEndian(raw))))
        default: throw shapeError(row, column, "an integer")
        }
    }

    public func double(_ row: Int, _ column: Int) throws(PGError) -> Double? {
        guard let raw = bytes(row, column) else { return nil }
        guard raw.count == 8 else { throw shapeError(row, column, "a double precision") }
        return Double(bitPattern: bigEndian(raw))
    }

    public func bool(_ row: Int, _ column: Int) throws(PGError) -> Bool? {
        guard let raw = bytes(row, column) else { return nil }
        guard raw.count == 1 else { throw shapeError(row, column, "a boolean") }
        return raw[0] != 0
    }

    /// A `timestamp` (without time zone) as microseconds since the Unix epoch.
    public func timestampMicros(_ row: Int, _ column: Int) throws(PGError) -> Int64? {
        guard let since2000 = try int64(row, column) else { return nil }
        return since2000 + PGResult.postgresEpochOffsetMicros
    }

    /// Microseconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
    public static let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000

    private func bigEndian(_ raw: [UInt8]) -> UInt64 {
        raw.reduce(0) { ($0 << 8) | UInt64($1) }
    }

    private func shapeError(_ row: Int, _ column: Int, _ expected: String) -> PGError {
        PGError(
            sqlState: nil,
            message: "column '\(columnName(column))' row \(row): expected \(expected) in binary format",
            isTransient: false)
    }
}
