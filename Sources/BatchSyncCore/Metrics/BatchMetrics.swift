import Foundation
import Observability
import Prometheus
import StoreMetering

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// BatchSync's Prometheus metrics (docs/design.md §6), updated from each run's report.
public final class BatchMetrics: Sendable {
    public let metrics: SyncMetrics

    public init(metrics: SyncMetrics = SyncMetrics(job: "batchsync")) { self.metrics = metrics }

    public func record(_ report: RunReport, succeeded: Bool, at time: Date = Date()) {
        let strategy = [("strategy", report.strategy.rawValue)]
        metrics.counter("runs_total", help: "BatchSync runs.", labels: strategy + [("outcome", succeeded ? "success" : "failure")])
            .increment()
        guard succeeded else { return }
        metrics.counter("changes_applied_total", help: "Changes that took effect in the consumer.", labels: strategy).increment(
            by: Int64(report.rowsWritten))
        metrics.counter("changes_skipped_stale_total", help: "Changes refused by the version rule.", labels: strategy).increment(
            by: Int64(report.rowsSkippedStale))
        metrics.counter("differences_total", help: "Keys found different.", labels: strategy).increment(by: Int64(report.differences))
        metrics.counter("rows_compared_total", help: "Per-key versions compared.", labels: strategy).increment(
            by: Int64(report.rowsCompared))
        for (peer, traffic) in [("producer", report.producer), ("consumer", report.consumer)] {
            let labels = strategy + [("peer", peer)]
            metrics.counter("rows_read_total", help: "Rows read from a peer.", labels: labels).increment(by: Int64(traffic.rowsRead))
            metrics.counter("bytes_read_total", help: "Payload bytes read from a peer.", labels: labels).increment(
                by: Int64(traffic.bytesRead))
            metrics.counter("rows_written_total", help: "Rows written to a peer.", labels: labels).increment(by: Int64(traffic.rowsWritten))
            metrics.counter("bytes_written_total", help: "Payload bytes written to a peer.", labels: labels).increment(
                by: Int64(traffic.bytesWritten))
        }
        metrics.counter("stream_gaps_closed_total", help: "Stream gaps closed by BatchSync runs (docs/design.md §8).", labels: strategy)
            .increment(by: Int64(report.gapsClosed))
        metrics.gauge("run_duration_seconds", help: "Duration of the last successful run.", labels: strategy).set(report.durationSeconds)
        metrics.gauge("last_success_timestamp_seconds", help: "Unix time of the last successful run.", labels: strategy)
            .set(time.timeIntervalSince1970)
    }
}

/// Pushes the exposition to a Prometheus Pushgateway (`PUT <url>/metrics/job/<job>`), as a CronJob run
/// must: it ends before Prometheus could scrape it.
public struct Pushgateway: Sendable {
    public let url: URL

    public init(url: String) throws(PushgatewayError) {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
            throw PushgatewayError(message: "--pushgateway '\(url)': expected an http(s) URL such as http://pushgateway:9091")
        }
        self.url = parsed
    }

    public func push(_ exposition: String, job: String) async throws(PushgatewayError) {
        var request = URLRequest(url: url.appendingPathComponent("metrics/job/\(job)"))
        request.httpMethod = "PUT"
        request.setValue("text/plain; version=0.0.4", forHTTPHeaderField: "Content-Type")
        request.timeoutInterval = 10
        do {
            let (body, response) = try await URLSession.shared.upload(for: request, from: Data(exposition.utf8))
            guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                throw PushgatewayError(
                    message: "Pushgateway \(url) answered \(status): \(String(decoding: body.prefix(200), as: UTF8.self))")
            }
        } catch let error as PushgatewayError {
            throw error
        } catch {
            throw PushgatewayError(message: "cannot push to Pushgateway \(url): \(error.localizedDescription)")
        }
    }
}

public struct PushgatewayError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
