import Foundation
import HTTPProbes
import Hummingbird
import SyncModel

/// StreamSync's HTTP surface: LIMS's read API served from the consumer database, plus probes and
/// metrics.
public enum StreamSyncHTTP {
    /// Builds the router. `ready` answers /readyz (store reachable and partitions assigned).
    public static func router(
        store: any ImageStore, metrics: StreamMetrics, ready: @escaping @Sendable () async -> Bool
    ) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/ping") { _, _ in json(.ok, "\"Hello, I am alive\"") }
        router.get("/readyz") { _, _ in
            await ready() ? json(.ok, "{\"status\":\"ready\"}") : json(.serviceUnavailable, "{\"status\":\"not ready\"}")
        }
        HTTPProbes.add(to: router, exposition: { metrics.exposition() })
        router.get("/image-plant/:plant/total") { _, context in
            guard let plant = plant(context) else { return unknownPlant(context) }
            let total = try await store.count(of: plant)
            return json(.ok, "{\"total_images\":\(total)}")
        }
        router.get("/image-plant/:plant/:id") { _, context in
            guard let plant = plant(context) else { return unknownPlant(context) }
            let text = context.parameters.get("id") ?? ""
            guard let id = Int64(text), id > 0 else {
                return detail(.badRequest, "invalid id \(quoted(text)): must be a positive integer")
            }
            guard let record = try await store.record(RecordKey(plant: plant, id: id)) else {
                return detail(.notFound, "Image not found")
            }
            return json(.ok, RecordJSON.encode(record))
        }
        return router
    }

    private static func plant(_ context: BasicRequestContext) -> Plant? {
        context.parameters.get("plant").flatMap { Plant(rawValue: $0) }
    }

    private static func unknownPlant(_ context: BasicRequestContext) -> Response {
        detail(.badRequest, "unknown plant \(quoted(context.parameters.get("plant") ?? "")): expected potato, tomato or pepper")
    }

    private static func quoted(_ text: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [String(text.prefix(100))])
        let array = data.map { String(decoding: $0, as: UTF8.self) } ?? "[\"?\"]"
        return String(array.dropFirst().dropLast()).replacingOccurrences(of: "\"", with: "'")
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A FastAPI-style error body: `{"detail": "…"}`.
    static func detail(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: ["detail": message])) ?? Data("{}".utf8)
        return json(status, String(decoding: data, as: UTF8.self))
    }
}
