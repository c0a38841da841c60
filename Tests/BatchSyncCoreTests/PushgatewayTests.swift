import BatchSyncCore
import Foundation
import Observability
import SyncModel
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Pushes to a real Prometheus Pushgateway (Debian's `prometheus-pushgateway`, which `scripts/test`
/// installs), started on a loopback port for this test.
@Suite struct PushgatewayTests {
    @Test func pushedMetricsAreServedByThePushgateway() async throws {
        let port = Int.random(in: 20_000...40_000)
        let gateway = Process()
        gateway.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus-pushgateway")
        gateway.arguments = ["--web.listen-address=127.0.0.1:\(port)"]
        gateway.standardOutput = FileHandle.nullDevice
        gateway.standardError = FileHandle.nullDevice
        try gateway.run()
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }

        let metrics = BatchMetrics(metrics: SyncMetrics(job: "batchsync"))
        var report = RunReport(strategy: .merkle, plants: [.potato], dryRun: false)
        report.rowsWritten = 7
        metrics.record(report, succeeded: true)
        let pushgateway = try Pushgateway(url: "http://127.0.0.1:\(port)")

        // The gateway needs a moment to listen: retry the push until it is up (bounded).
        var pushed = false
        for _ in 0..<50 where !pushed {
            do {
                try await pushgateway.push(metrics.metrics.exposition(), job: "batchsync")
                pushed = true
            } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(pushed)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#"plantsync_changes_applied_total{"#))
        #expect(text.contains(#"job="batchsync""#))
        #expect(text.contains(#"strategy="merkle""#))
    }

    @Test func rejectsURLsThatAreNotHTTP() {
        for url in ["pushgateway:9091", "ftp://x", "", "http://"] {
            #expect(throws: PushgatewayError.self) { try Pushgateway(url: url) }
        }
    }

    @Test func unreachableGatewayIsAClearError() async throws {
        let pushgateway = try Pushgateway(url: "http://127.0.0.1:1")
        let error = await #expect(throws: PushgatewayError.self) { try await pushgateway.push("", job: "batchsync") }
        #expect(error?.message.contains("127.0.0.1:1") == true)
    }
}
