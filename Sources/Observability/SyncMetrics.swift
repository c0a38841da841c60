import Prometheus

/// The Prometheus metrics of one PlantSync job (docs/design.md §6): every name starts with `plantsync_` and
/// every series carries a `job` label (`streamsync`, `batchsync`, …).
///
/// A thin layer over swift-prometheus's registry: it fixes the prefix and the label so that no call
/// site can forget them, and renders the text exposition for `/metrics` or a Pushgateway.
public final class SyncMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let job: String

    public static let prefix = "plantsync"

    public init(job: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.job = job
        self.registry = registry
    }

    /// `plantsync_<name>` with labels `job` plus `labels`.
    public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: descriptor(name, help), labels: [("job", job)] + labels)
    }

    public func gauge(_ name: String, help: String, labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: descriptor(name, help), labels: [("job", job)] + labels)
    }

    public func histogram(_ name: String, help: String, buckets: [Double], labels: [(String, String)] = []) -> ValueHistogram {
        registry.makeValueHistogram(descriptor: descriptor(name, help), labels: [("job", job)] + labels, buckets: buckets)
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric registered so far.
    public func exposition() -> String { registry.emitToString() }

    private func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: Self.prefix, metricName: name, unitName: "", helpText: help)
    }

    /// Freshness buckets in seconds, from 10 ms to 20 min (batch runs every 600 s by default).
    public static let freshnessBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200]
}
