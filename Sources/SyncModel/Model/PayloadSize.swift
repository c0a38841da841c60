/// Estimated payload size of what crosses the wire for each kind of row. These are the job's own
/// counters (docs/design.md §5: "each job also exports its own counters"); the harness measures the real
/// wire bytes with a counting TCP proxy.
public enum PayloadSize {
    /// Fixed fields of a record (key, camera, coordinates, percentage, timestamps, flags, version).
    public static let recordOverhead = 96
    public static let keyVersion = 32
    public static let rangeSummary = 24

    public static func of(_ record: ImageRecord) -> Int {
        recordOverhead + (record.data?.count ?? 0) + (record.disease?.utf8.count ?? 0)
    }

    public static func of(_ change: Change) -> Int {
        change.record.map(of) ?? keyVersion
    }
}
