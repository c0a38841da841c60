/// How long one database call of a store may run before it is interrupted and reported as a transient
/// error, which the callers' retries handle (docs/design.md §4, "Timeouts"). StreamSync and BatchSync
/// set it with `--db-timeout`; these are their defaults.
public enum StoreCallTimeout {
    /// StreamSync's: its calls are small batches, point reads and counts; a silent connection must not
    /// stall the stream for long.
    public static let stream: Duration = .seconds(30)
    /// BatchSync's, and a store's when none is given: a diff's checksum or cell query reads a whole plant
    /// (about a second per million rows on one core).
    public static let batch: Duration = .seconds(300)
    /// Schema preparation, whatever the call timeout: adding the stored `row_digest` column to an earlier
    /// release's table rewrites the table once.
    public static let schema: Duration = .seconds(3600)
}
