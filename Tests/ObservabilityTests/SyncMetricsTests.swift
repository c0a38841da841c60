import Observability
import Prometheus
import Testing

@Suite struct SyncMetricsTests {
    @Test func namesArePrefixedAndCarryTheJobLabel() {
        let metrics = SyncMetrics(job: "batchsync")
        metrics.counter("changes_applied_total", help: "Changes applied.", labels: [("plant", "potato")]).increment(by: Int64(3))
        metrics.gauge("last_success_timestamp_seconds", help: "Last success.").set(42.0)
        metrics.histogram("freshness_seconds", help: "Freshness.", buckets: SyncMetrics.freshnessBuckets).record(0.3)
        let text = metrics.exposition()
        #expect(text.contains("# HELP plantsync_changes_applied_total Changes applied."))
        #expect(text.contains(#"plantsync_changes_applied_total{job="batchsync",plant="potato"} 3"#))
        #expect(text.contains(#"plantsync_last_success_timestamp_seconds{job="batchsync"} 42"#))
        #expect(text.contains(#"plantsync_freshness_seconds_bucket{job="batchsync",le="0.5"} 1"#))
    }
}
