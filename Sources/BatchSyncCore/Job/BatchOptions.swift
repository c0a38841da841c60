import Foundation
import SyncModel

/// How BatchSync finds differences.
public enum SyncStrategy: String, Sendable, CaseIterable, Codable {
    /// The LIMS baseline: read every producer record (with bytes) and upsert all of them.
    case full
    /// Records whose version is newer than the last run's high-water mark, plus a key-set check for
    /// hard deletes.
    case watermark
    /// Recursive key-range checksums computed in each database; only differing records move.
    case merkle
    /// Set reconciliation: invertible Bloom lookup tables computed in each database, subtracted and
    /// peeled into exactly the differing keys, sized by the last run's findings or a strata estimate;
    /// `merkle` when peeling fails.
    case reconcile
}

/// What BatchSync does with records the producer no longer has.
public enum DeletePolicy: String, Sendable, CaseIterable, Codable {
    /// Leave a tombstone in the consumer (at the time the key was observed missing).
    case propagate
    /// Keep the consumer's row.
    case ignore
}

/// The plants a run syncs (`--plants`): a list, LIMS's three by default, or `all` — the plants the
/// producer has united with those the consumer holds (`DiffSource.plants()`), asked at every run, so a
/// plant LIMS adds is synced with no change here and one the producer lost is reconciled too.
public enum PlantSelection: Sendable, Hashable, CustomStringConvertible, ExpressibleByArrayLiteral {
    case listed([Plant])
    case all

    public init(arrayLiteral plants: Plant...) { self = .listed(plants) }

    /// `all`, or a comma-separated list of plant names (`Plant.list`); errors name `field`.
    public static func parse(_ text: String, field: String) throws(PlantNameError) -> PlantSelection {
        text.trimmingCharacters(in: .whitespaces) == "all" ? .all : .listed(try Plant.list(text, field: field))
    }

    /// The plants listed (none for `all`, whose plants are known only when a run asks the stores).
    public var listed: [Plant] {
        if case .listed(let plants) = self { return plants }
        return []
    }

    public var description: String {
        switch self {
        case .all: return "all"
        case .listed(let plants): return plants.map(\.rawValue).joined(separator: ",")
        }
    }
}

public struct BatchOptions: Sendable {
    public var strategy: SyncStrategy = .merkle
    public var plants: PlantSelection = .listed(Plant.lims)
    public var dryRun = false
    public var deletes: DeletePolicy = .propagate
    /// Children per mismatching range (merkle).
    public var fanout = 16
    /// Ranges holding at most this many rows (on either side) are compared key by key (merkle).
    public var leafSize = 256
    /// Rows per read page and per write batch.
    public var pageSize = 500
    /// Seconds re-read before the high-water mark, for clock skew and in-flight transactions (watermark).
    public var watermarkOverlapSeconds = 30
    /// Keep consumer rows whose version the producer does not have (not even on a fresh re-read)
    /// instead of rewriting them compare-and-set to the producer's state.
    public var keepConsumerAhead = false
    /// Reconcile: cells of the IBLT (`nil`: sized from the last run's findings or the strata estimate,
    /// grown once if peeling fails). A fixed size is tried once, then `merkle` takes over.
    public var ibltCells: Int?
    /// Consumer tombstones older than this are purged after each run that writes.
    public var tombstoneRetention = TombstoneRetention.default

    public init() {}

    /// Checks ranges; the error names the option and value.
    public func validate() throws(BatchOptionsError) {
        guard (2...1024).contains(fanout) else { throw BatchOptionsError("fanout", fanout, "must be within 2…1024") }
        guard (1...1_000_000).contains(leafSize) else { throw BatchOptionsError("leaf-size", leafSize, "must be within 1…1000000") }
        guard (1...50_000).contains(pageSize) else { throw BatchOptionsError("page-size", pageSize, "must be within 1…50000") }
        guard (0...86_400).contains(watermarkOverlapSeconds) else {
            throw BatchOptionsError("watermark-overlap", watermarkOverlapSeconds, "must be within 0…86400 seconds")
        }
        guard plants != .listed([]) else { throw BatchOptionsError("plants", "", "name at least one plant, or all") }
        if let ibltCells, !(3...10_000_000).contains(ibltCells) {
            throw BatchOptionsError("iblt-cells", ibltCells, "must be within 3…10000000")
        }
    }
}

/// How BatchSync runs: once (a CronJob) or in a loop, and what the loop serves. Defaults are the
/// documented ones; the command line reads its defaults from this type.
public struct BatchRunSettings: Sendable {
    /// Seconds between the starts of runs; `nil` = one run.
    public var interval: Int?
    /// Loop mode: serve /healthz and /metrics on this port (0 = off).
    public var httpPort = 0
    public var httpHost = "0.0.0.0"
    /// PostgreSQL schemas of the two stores (PlantSync's own layout).
    public var producerSchema = "plantsync"
    public var consumerSchema = "plantsync"
    /// The producer is foreign — LIMS's MongoDB, the application's PostgreSQL tables — by default:
    /// that is what users have (docs/design.md §3).
    public var producerLayout = ProducerLayout.lims
    /// Where a foreign producer keeps its records.
    public var foreignLayout = ForeignLayout.lims
    /// A foreign MongoDB producer's digest mode (`auto`, `hashed`, `client`).
    public var mongoDigest = MongoDigestMode.auto
    /// How long one database call may run before it is interrupted (a silent connection); the run then
    /// fails with an error naming it, and the next run starts afresh (docs/design.md §4).
    public var dbTimeout = StoreCallTimeout.batch

    public init() {}

    /// Checks every value; the error names the option and value.
    public func validate() throws(BatchOptionsError) {
        if let interval, !(1...86_400).contains(interval) {
            throw BatchOptionsError("interval", interval, "must be within 1…86400 seconds")
        }
        guard dbTimeout > .zero else { throw BatchOptionsError("db-timeout", Int(dbTimeout.components.seconds), "must be positive") }
        guard (0...65_535).contains(httpPort) else { throw BatchOptionsError("http-port", httpPort, "must be within 0…65535") }
        if httpPort != 0 && interval == nil {
            throw BatchOptionsError("http-port", httpPort, "only with --interval (a single run exits before a scrape)")
        }
    }
}

public struct BatchOptionsError: Error, CustomStringConvertible, Equatable {
    public let option: String
    public let value: String
    public let reason: String

    init(_ option: String, _ value: Int, _ reason: String) {
        self.init(option, String(value), reason)
    }

    public init(_ option: String, _ value: String, _ reason: String) {
        self.option = option
        self.value = value
        self.reason = reason
    }

    public var description: String { "--\(option) \(value): \(reason)" }
}
