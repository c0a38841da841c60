import Observability
import Prometheus
import SyncModel
import Synchronization

/// The gap metrics of docs/design.md §8 and §6: per plant, children made on first use.
final class GapMetrics: Sendable {
    let registry: SyncMetrics
    let healSeconds: ValueHistogram
    let healFailures: Counter
    private let detected = Mutex<[String: Counter]>([:])
    private let lost = Mutex<[Plant: Counter]>([:])
    private let open = Mutex<[Plant: (count: Gauge, oldest: Gauge)]>([:])

    /// Heal durations from detection to closed: seconds to ten minutes.
    static let healBuckets: [Double] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

    init(_ registry: SyncMetrics) {
        self.registry = registry
        healSeconds = registry.histogram(
            "stream_gap_heal_seconds", help: "Stream gaps: from detection to closed by a repair, seconds.", buckets: Self.healBuckets)
        healFailures = registry.counter(
            "stream_gap_heal_failures_total", help: "Repairs of stream gaps that failed (retried with backoff; the gaps stay open).")
    }

    func detected(_ gap: StreamGap) {
        detectedCounter(gap.plant, gap.reason).increment()
        lostCounter(gap.plant).increment(by: gap.reason == .deadLetter ? 1 : gap.lostOffsets)
    }

    /// Shows a plant's gap series at 0 before its first gap (dashboards and alerts see them).
    func expect(_ plant: Plant) {
        for reason in GapReason.allCases { _ = detectedCounter(plant, reason) }
        _ = lostCounter(plant)
        open.withLock { gauges in _ = gaugePair(plant, in: &gauges) }
    }

    private func detectedCounter(_ plant: Plant, _ reason: GapReason) -> Counter {
        detected.withLock { counters in
            let key = "\(plant)/\(reason)"
            let counter =
                counters[key]
                ?? registry.counter(
                    "stream_gaps_total", help: "Stream gaps detected: changes StreamSync will never read from Kafka, by reason.",
                    labels: [("plant", plant.rawValue), ("reason", reason.rawValue)])
            counters[key] = counter
            return counter
        }
    }

    private func lostCounter(_ plant: Plant) -> Counter {
        lost.withLock { counters in
            let counter =
                counters[plant]
                ?? registry.counter(
                    "stream_offsets_lost_total", help: "Kafka offsets of stream gaps (unknown ranges count 0).",
                    labels: [("plant", plant.rawValue)])
            counters[plant] = counter
            return counter
        }
    }

    /// Sets the open-gap gauges from the ledger's open gaps (plants seen before and now healed go to 0).
    func open(_ gaps: [StreamGap]) {
        let byPlant = Dictionary(grouping: gaps, by: \.plant)
        open.withLock { gauges in
            for plant in Set(gauges.keys).union(byPlant.keys) {
                let pair = gaugePair(plant, in: &gauges)
                let open = byPlant[plant] ?? []
                pair.count.set(Double(open.count))
                pair.oldest.set(open.map(\.detectedAt.secondsSinceEpoch).min() ?? 0)
            }
        }
    }

    /// A plant's open-gap gauges, made at 0 on first use (under `open`'s lock).
    private func gaugePair(_ plant: Plant, in gauges: inout [Plant: (count: Gauge, oldest: Gauge)]) -> (count: Gauge, oldest: Gauge) {
        if let pair = gauges[plant] { return pair }
        let pair = (
            count: registry.gauge("stream_gaps_open", help: "Stream gaps not yet healed.", labels: [("plant", plant.rawValue)]),
            oldest: registry.gauge(
                "stream_gap_oldest_open_timestamp_seconds",
                help: "Unix time the oldest open stream gap of the plant was detected; 0 when none is open.",
                labels: [("plant", plant.rawValue)])
        )
        gauges[plant] = pair
        return pair
    }

    func healed(_ gaps: [StreamGap], at now: Timestamp) {
        for gap in gaps { healSeconds.record(max(0, now.secondsSinceEpoch - gap.detectedAt.secondsSinceEpoch)) }
    }
}
