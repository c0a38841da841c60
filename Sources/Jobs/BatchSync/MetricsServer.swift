import BatchSyncCore
import Hummingbird
import Logging

/// Loop mode's HTTP surface: `/healthz` and `/metrics` (the same exposition a run pushes).
enum MetricsServer {
    static func application(metrics: BatchMetrics, host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"alive\"}")))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.metrics.exposition())))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "BatchSync"), logger: logger)
    }
}
