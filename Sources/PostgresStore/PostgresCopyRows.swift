import SyncModel

/// Rows in PostgreSQL's binary `COPY … FROM STDIN (FORMAT binary)` format, for the staging path of
/// `PostgresStore.apply` — and for `StreamBench`'s COPY baseline, so both encode rows identically.
///
/// Binary rather than text: image bytes travel as they are (text COPY doubles them as hex and the
/// server has to parse it back). Layout (PostgreSQL docs, "COPY — Binary Format"): the 11-byte
/// signature, a 32-bit flags word and a 32-bit header-extension length; per row a 16-bit field count,
/// then per field a 32-bit length (-1 for NULL) and the value in the type's binary send format; a
/// 16-bit -1 trailer. All integers big-endian. The columns and their order are `PostgresRowCodec`'s;
/// every field is encoded by `PGParameter.appendCopyField`, the encoder of bound parameters too.
public enum PostgresCopyRows {
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    static let trailer: [UInt8] = [0xFF, 0xFF]

    /// `COPY <table> (<every column>) FROM STDIN (FORMAT binary)`: the command `chunks` are made for.
    /// `table` is a (schema-qualified) table name of the store's layout, never input.
    public static func copyCommand(into table: String) -> String {
        "COPY \(table) (\(PostgresRowCodec.columnList)) FROM STDIN (FORMAT binary)"
    }

    /// Encodes the upserts (`Change`s carrying a record; each with its own bytes, if it carries any)
    /// into chunks of about `chunkBytes` each: the first starts with the header, the last ends with the
    /// trailer.
    public static func chunks(_ changes: [Change], chunkBytes: Int = 1 << 20) -> [[UInt8]] {
        chunks(changes.filter { $0.record != nil }.map { PostgresRow($0, bytes: $0) }, chunkBytes: chunkBytes)
    }

    static func chunks(_ rows: [PostgresRow], chunkBytes: Int = 1 << 20) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var chunk = header
        chunk.reserveCapacity(chunkBytes + 4096)
        for row in rows {
            PostgresRowCodec.appendCopyRow(row, to: &chunk)
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
}
