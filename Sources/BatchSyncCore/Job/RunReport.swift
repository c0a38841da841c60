import Foundation
import StoreMetering
import SyncModel

/// What one BatchSync run did; printed as one JSON line per run.
public struct RunReport: Sendable, Codable, Equatable {
    public var strategy: SyncStrategy
    public var plants: [String]
    public var dryRun: Bool
    /// What the range checksums and key digests compared (docs/design.md §3, "Digest domains").
    public var digestDomain: DigestDomain = .plantsync
    /// Key ranges whose checksums were compared (merkle).
    public var rangesCompared = 0
    /// IBLT cells read from both stores (reconcile).
    public var cellsCompared = 0
    /// Reconcile: tables that did not peel (too small for the differences); after the last, merkle ran.
    public var peelFailures = 0
    /// Per-key versions compared.
    public var rowsCompared = 0
    /// Producer records fetched (with image bytes).
    public var rowsFetched = 0
    /// Differences found: keys that needed a write.
    public var differences = 0
    /// Changes that took effect in the consumer (upserts, tombstones, replacements).
    public var rowsWritten = 0
    /// Of those, tombstones for records the producer no longer has.
    public var rowsDeleted = 0
    /// Of those, compare-and-set rewrites of rows the consumer held with a version the producer lacks.
    public var rowsReplaced = 0
    /// Writes refused by the version rule (a newer version arrived concurrently, or, for `full`,
    /// records the consumer already had).
    public var rowsSkippedStale = 0
    /// Consumer rows left as they were because the producer lacks their version (`keepConsumerAhead`).
    public var conflictsKept = 0
    /// Consumer tombstones older than the retention, purged after the run (not in dry runs).
    public var tombstonesPurged = 0
    /// Stream gaps (docs/design.md §8) this run closed: open before it started, of a plant it covered.
    public var gapsClosed = 0
    public var producer = PeerTraffic()
    public var consumer = PeerTraffic()
    public var durationSeconds = 0.0

    public init(strategy: SyncStrategy, plants: [Plant], dryRun: Bool) {
        self.strategy = strategy
        self.plants = plants.map(\.rawValue)
        self.dryRun = dryRun
    }

    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}
