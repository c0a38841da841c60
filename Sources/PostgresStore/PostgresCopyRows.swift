import SyncModel

/// Rows in PostgreSQL's binary `COPY … FROM STDIN (FORMAT binary)` format, for the staging path of
/// `PostgresStore.apply` — and for `StreamBench`'s COPY baseline, so both encode rows identically.
///
/// Binary rather than text: image bytes travel as they are (text COPY doubles them as hex and the
/// server has to parse it back). Layout (PostgreSQL docs, "COPY — Binary Format"): the 11-byte
/// signature, a 32-bit flags word and a 32-bit header-extension length; per row a 16-bit field count,
/// then per field a 32-bit length (-1 for NULL) and the value in the type's binary send format; a
/// 16-bit -1 trailer. All integers big-endian. Columns are those of `PostgresSchema.stagedColumns`.
public enum PostgresCopyRows {
    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00).
    static let postgresEpochOffset: Int64 = 946_684_800_000_000

    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    static let trailer: [UInt8] = [0xFF, 0xFF]

    /// Encodes the upserts (`Change`s carrying a record) into chunks of about `chunkBytes` each: the
    /// first starts with the header, the last ends with the trailer.
    public static func chunks(_ changes: [Change], chunkBytes: Int = 1 << 20) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var chunk = header
        chunk.reserveCapacity(chunkBytes + 4096)
        for change in changes {
            guard let record = change.record else { continue }
            append(record, version: change.version, to: &chunk)
            if chunk.count >= chunkBytes {
                chunks.append(chunk)
                chunk = []
                chunk.reserveCapacity(chunkBytes + 4096)
            }
        }
        chunk += trailer
        chunks.append(chunk)
        return chunks
    }

    static func append(_ r: ImageRecord, version: Version, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + 160 + (r.data?.count ?? 0) + (r.disease?.utf8.count ?? 0))
        int16(15, &out)
        text(r.plant.rawValue, &out)
        int64(r.id, &out)
        int64(r.cameraId, &out)
        if let data = r.data {
            int32(Int32(data.count), &out)
            out += data
        } else {
            null(&out)
        }
        float8(r.latitude, &out)
        float8(r.longitude, &out)
        if let disease = r.disease { text(disease, &out) } else { null(&out) }
        if let percentage = r.percentage { float8(percentage, &out) } else { null(&out) }
        timestamp(r.createdAt, &out)
        if let updatedAt = r.updatedAt { timestamp(updatedAt, &out) } else { null(&out) }
        bool(r.isActive, &out)
        bool(r.isDeleted, &out)
        int64(version.ts, &out)
        int64(version.storedTiebreak, &out)
        int64(Int64(bitPattern: r.dataHash), &out)
    }

    // MARK: Fields (length word + value)

    private static func null(_ out: inout [UInt8]) { int32(-1, &out) }

    private static func text(_ value: String, _ out: inout [UInt8]) {
        int32(Int32(value.utf8.count), &out)
        out.append(contentsOf: value.utf8)
    }

    private static func int64(_ value: Int64, _ out: inout [UInt8]) {
        int32(8, &out)
        bigEndian(UInt64(bitPattern: value), &out)
    }

    private static func float8(_ value: Double, _ out: inout [UInt8]) {
        int32(8, &out)
        bigEndian(value.bitPattern, &out)
    }

    /// `timestamp` (without zone): microseconds since 2000-01-01, as an int64.
    private static func timestamp(_ value: Timestamp, _ out: inout [UInt8]) {
        int64(value.microsecondsSinceEpoch &- postgresEpochOffset, &out)
    }

    private static func bool(_ value: Bool, _ out: inout [UInt8]) {
        int32(1, &out)
        out.append(value ? 1 : 0)
    }

    // MARK: Raw big-endian words

    private static func int16(_ value: Int16, _ out: inout [UInt8]) {
        let v = UInt16(bitPattern: value)
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    private static func int32(_ value: Int32, _ out: inout [UInt8]) {
        let v = UInt32(bitPattern: value)
        out.append(UInt8(truncatingIfNeeded: v >> 24))
        out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    private static func bigEndian(_ v: UInt64, _ out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}
