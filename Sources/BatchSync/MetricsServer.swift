import BatchSyncCore
import HTTPProbes
import Hummingbird
import Logging
import Observability

/// Loop mode's HTTP surface: `/healthz` and `/metrics` (the same exposition a run pushes).
enum MetricsServer {
    static func application(metrics: BatchMetrics, host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        HTTPProbes.add(to: router, exposition: { metrics.metrics.exposition() })
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "BatchSync"), logger: logger)
    }
}
