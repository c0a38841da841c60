import Kafka
import Observability
import Prometheus
import SyncModel
import Synchronization

/// The StreamSync metrics of docs/design.md §6 (job label `streamsync`, added by `SyncMetrics`).
public final class StreamMetrics: Sendable {
    public let registry: SyncMetrics
    let kafkaRowsRead: Counter
    let kafkaBytesRead: Counter
    let kafkaRowsWritten: Counter
    let kafkaBytesWritten: Counter
    let consumerRowsWritten: Counter
    let consumerBytesWritten: Counter
    let batches: Counter
    let storeRetries: Counter
    let tombstonesPurged: Counter
    /// Per field (`data`, `gps_coordinates`, `disease`): Debezium unavailable-value placeholders decoded.
    let debeziumPlaceholders: [String: Counter]
    let freshness: ValueHistogram
    let readRejections: [ReadAccess.Rejection: Counter]
    let gaps: GapMetrics
    private let deadLettered = Mutex<[String: Counter]>([:])
    private let sourceResolutions: [SourceResolutionPath: Counter]
    /// Per plant, created at its first batch: any plant the topics name, none listed here.
    private let perPlant = Mutex<[Plant: (applied: Counter, skippedStale: Counter)]>([:])
    private let lag = Mutex<[TopicPartition: Gauge]>([:])
    /// librdkafka's byte totals per client, to turn them into counter increments.
    private let lastTotals = Mutex<[String: (rx: Int64, tx: Int64)]>([:])

    public init(_ registry: SyncMetrics = SyncMetrics(job: "streamsync")) {
        self.registry = registry
        kafkaRowsRead = registry.counter("rows_read_total", help: "Rows read per peer.", labels: [("peer", "kafka")])
        kafkaBytesRead = registry.counter("bytes_read_total", help: "Bytes read per peer.", labels: [("peer", "kafka")])
        kafkaRowsWritten = registry.counter("rows_written_total", help: "Rows written per peer.", labels: [("peer", "kafka")])
        kafkaBytesWritten = registry.counter("bytes_written_total", help: "Bytes written per peer.", labels: [("peer", "kafka")])
        consumerRowsWritten = registry.counter("rows_written_total", help: "Rows written per peer.", labels: [("peer", "consumer")])
        consumerBytesWritten = registry.counter("bytes_written_total", help: "Bytes written per peer.", labels: [("peer", "consumer")])
        batches = registry.counter("batches_total", help: "Batches applied and committed.")
        storeRetries = registry.counter("store_retries_total", help: "Store operations retried after a transient error.")
        tombstonesPurged = registry.counter(
            "tombstones_purged_total", help: "Consumer tombstones purged after the retention.")
        var placeholders: [String: Counter] = [:]
        for (_, name) in KeptFields.named {
            placeholders[name] = registry.counter(
                "debezium_placeholders_total",
                help: "Debezium unavailable-value placeholders decoded, by field: the value was not carried and the stored one stays.",
                labels: [("field", name)])
        }
        debeziumPlaceholders = placeholders
        var resolutions: [SourceResolutionPath: Counter] = [:]
        for path in SourceResolutionPath.allCases {
            resolutions[path] = registry.counter(
                "changes_by_id_total",
                help: "Changes that name their record by the producer's _id only (docs/design.md §2), by how they resolved: from the cache, from the consumer store (after the batches before them), a patch of a deleted record (nothing to do), or not at all (a gap).",
                labels: [("resolved", path.rawValue)])
        }
        sourceResolutions = resolutions
        freshness = registry.histogram(
            "freshness_seconds", help: "Kafka record timestamp to applied-and-visible in the store, seconds.",
            buckets: SyncMetrics.freshnessBuckets)
        var rejections: [ReadAccess.Rejection: Counter] = [:]
        for reason in ReadAccess.Rejection.allCases {
            rejections[reason] = registry.counter(
                "http_rejected_total", help: "Requests to /image-plant turned away (no or wrong token, rate limit).",
                labels: [("reason", reason.rawValue)])
        }
        readRejections = rejections
        gaps = GapMetrics(registry)
        // Every decoding error kind from the start, at 0, so dashboards and alerts see the series.
        for kind in EventDecodingError.Kind.allCases { _ = deadLetterCounter(kind.rawValue) }
    }

    func deadLettered(_ reason: String) { deadLetterCounter(reason).increment() }

    func gapDetected(_ gap: StreamGap) { gaps.detected(gap) }

    /// Counts a plant's applied and skipped-stale changes (`plant` label, children made on first use).
    func applied(_ outcome: ApplyOutcome.PlantCounts, plant: Plant) {
        let counters = counters(of: plant)
        counters.applied.increment(by: Int64(outcome.applied))
        counters.skippedStale.increment(by: Int64(outcome.skippedStale))
    }

    /// Shows a plant's counters at 0 before its first change (the plants the subscribed topics name).
    func expect(_ plant: Plant) {
        _ = counters(of: plant)
        gaps.expect(plant)
    }

    private func counters(of plant: Plant) -> (applied: Counter, skippedStale: Counter) {
        perPlant.withLock { counters in
            if let known = counters[plant] { return known }
            let made = (
                applied: registry.counter(
                    "changes_applied_total", help: "Changes that took effect in the store.", labels: [("plant", plant.rawValue)]),
                skippedStale: registry.counter(
                    "changes_skipped_stale_total", help: "Changes not newer than the stored version (duplicates, replays, reorderings).",
                    labels: [("plant", plant.rawValue)])
            )
            counters[plant] = made
            return made
        }
    }

    func readRejected(_ reason: ReadAccess.Rejection) { readRejections[reason]?.increment() }

    /// Counts the fields of one decoded event that held Debezium's unavailable-value placeholder.
    func resolvedByID(_ path: SourceResolutionPath) { sourceResolutions[path]?.increment() }

    func decodedPlaceholders(_ fields: KeptFields) {
        for name in fields.names { debeziumPlaceholders[name]?.increment() }
    }

    private func deadLetterCounter(_ reason: String) -> Counter {
        deadLettered.withLock { counters in
            if let c = counters[reason] { return c }
            let c = registry.counter(
                "changes_dead_lettered_total", help: "Messages sent to the dead-letter topic, by error kind.",
                labels: [("reason", reason)])
            counters[reason] = c
            return c
        }
    }

    /// Partitions this member no longer owns: their lag is another member's to report, so this one's
    /// goes to 0 (a stale value would keep a max-over-pods lag alert firing).
    func released(_ partitions: [TopicPartition]) {
        lag.withLock { gauges in for tp in partitions { gauges[tp]?.set(Double(0)) } }
    }

    /// Folds a librdkafka statistics report of client `client` into the byte counters and lag gauges.
    public func record(_ statistics: KafkaStatistics, client: String) {
        let (rx, tx) = lastTotals.withLock { totals -> (Int64, Int64) in
            let last = totals[client] ?? (0, 0)
            totals[client] = (statistics.rxBytes, statistics.txBytes)
            return (max(0, statistics.rxBytes - last.rx), max(0, statistics.txBytes - last.tx))
        }
        if rx > 0 { kafkaBytesRead.increment(by: rx) }
        if tx > 0 { kafkaBytesWritten.increment(by: tx) }
        for (tp, value) in statistics.consumerLag {
            let gauge = lag.withLock { gauges in
                if let g = gauges[tp] { return g }
                let g = registry.gauge(
                    "consumer_lag", help: "Messages behind the partition's high watermark (librdkafka statistics).",
                    labels: [("topic", tp.topic), ("partition", String(tp.partition))])
                gauges[tp] = g
                return g
            }
            gauge.set(Double(value))
        }
    }

    /// The text exposition for `/metrics`.
    public func exposition() -> String { registry.exposition() }
}
