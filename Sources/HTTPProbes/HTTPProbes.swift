import Hummingbird

/// The HTTP endpoints both jobs serve the same way: `/healthz` (the process is alive) and `/metrics`
/// (Prometheus text exposition).
public enum HTTPProbes {
    /// Adds `/healthz` and `/metrics` to `router`; `exposition` renders the metrics on each scrape.
    public static func add<Context: RequestContext>(
        to router: Router<Context>, exposition: @escaping @Sendable () -> String
    ) {
        router.get("/healthz") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"alive\"}")))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: exposition())))
        }
    }
}
