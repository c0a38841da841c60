import LibPQ
import SyncModel

/// A column of `image_record`: its name, type, DDL constraint, role and how a write fills it.
struct PostgresColumn: Sendable {
    enum Role: Sendable, Equatable {
        /// `(plant, id)`.
        case key
        /// A record column; `kept` names the `KeptFields` member that can keep it ([] if none can).
        case record(kept: KeptFields)
        /// `version_ts`, `version_tb`: the record's version.
        case version
        /// `data`: the bytes register's value.
        case data
        /// `data_hash`, `data_ts`, `data_tb`: the bytes register's hash and version.
        case dataBookkeeping
        /// `source_id`: the producer's `_id` (`SourceID`, docs/design.md §2). Provenance, outside both
        /// version rules: a write that carries one sets it, one that does not leaves the stored one.
        case source
    }

    let name: String
    /// SQL type, for the DDL and for casts in `VALUES` lists outside `INSERT`.
    let type: String
    /// What follows the type in `CREATE TABLE`.
    let constraint: String
    let role: Role
    /// The column's value in a write: one `PGParameter`, bound or `COPY`-ed by the same encoder.
    let value: @Sendable (PostgresRow) -> PGParameter

    var isReadByRecordQueries: Bool {
        switch role {
        case .key, .record, .data: return true
        // `source_id` is not read back: record reads then work on a table `prepareSchema` has not yet
        // migrated (a rolling upgrade), and `keys(of:sourceIDs:)` is its one reader.
        case .version, .dataBookkeeping, .source: return false
        }
    }
}
