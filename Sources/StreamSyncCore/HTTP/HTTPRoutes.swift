import Foundation
import HTTPProbes
import Hummingbird
import SyncModel

/// StreamSync's HTTP surface: LIMS's read API served from the consumer database, plus probes and
/// metrics. `/image-plant/*` passes through `ReadAccess` (rate limit, optional bearer token); `/ping`,
/// `/healthz`, `/readyz` and `/metrics` do not (the probes and Prometheus reach them inside the
/// cluster; prod's Ingress routes only `/ping` and `/image-plant` from outside).
public enum StreamSyncHTTP {
    /// The most records any response may hold. No endpoint returns a list today (one record by id,
    /// or a count), so nothing is paged yet; an endpoint that ever returns several records must cap
    /// them at this, whatever the client asks for. `HTTPTests` lists the routes, so a new one is seen.
    public static let maxPageSize = 100

    /// Builds the router. `ready` answers /readyz (store reachable and partitions assigned); `gaps`,
    /// when given, /status (the open stream gaps, docs/design.md §8).
    public static func router(
        store: any RecordReader, metrics: StreamMetrics, access: ReadAccess = ReadAccess(),
        gaps: (@Sendable () -> GapStatus)? = nil, ready: @escaping @Sendable () async -> Bool
    ) -> Router<StreamSyncRequestContext> {
        let router = Router(context: StreamSyncRequestContext.self)
        router.get("/ping") { _, _ in json(.ok, "\"Hello, I am alive\"") }
        router.get("/readyz") { _, _ in
            await ready() ? json(.ok, "{\"status\":\"ready\"}") : json(.serviceUnavailable, "{\"status\":\"not ready\"}")
        }
        if let gaps {
            router.get("/status") { _, _ in json(.ok, statusJSON(gaps(), ready: await ready())) }
        }
        HTTPProbes.add(to: router, exposition: { metrics.exposition() })
        let images = router.group("/image-plant")
            .add(middleware: ReadAccessMiddleware(access: access, rejected: { metrics.readRejected($0) }))
        // Any valid plant name is served (a plant nobody wrote has 0 images and no id); an invalid one is a 400.
        images.get(":plant/total") { _, context in
            let plant: Plant
            do throws(PlantNameError) { plant = try Self.plant(context) } catch { return invalidPlant(error) }
            let total = try await store.count(of: plant)
            return json(.ok, "{\"total_images\":\(total)}")
        }
        images.get(":plant/:id") { _, context in
            let plant: Plant
            do throws(PlantNameError) { plant = try Self.plant(context) } catch { return invalidPlant(error) }
            let text = context.parameters.get("id") ?? ""
            guard let id = Int64(text), id > 0 else {
                return detail(.badRequest, "invalid id \(quoted(text)): must be a positive integer")
            }
            // Absent, deleted or never written: one answer that says nothing more about the store.
            guard let record = try await store.record(RecordKey(plant: plant, id: id)) else {
                return detail(.notFound, "Image not found")
            }
            return json(.ok, RecordJSON.encode(record))
        }
        return router
    }

    /// `/status`: readiness and the open stream gaps (at most `maxPageSize` listed, oldest first).
    public static func statusJSON(_ status: GapStatus, ready: Bool, now: Timestamp = .now) -> String {
        let oldest = status.open.map(\.detectedAt).min()
        var object: [String: Any] = [
            "ready": ready, "gaps_known": status.known, "open_gaps": status.open.count,
            "healing": status.healing ? "streamsync" : "batchsync", "gaps_healed": status.healed,
            "oldest_open_gap_age_seconds": oldest.map { max(0, now.secondsSinceEpoch - $0.secondsSinceEpoch) } ?? 0,
            "gaps": status.open.prefix(maxPageSize).map { gap -> [String: Any] in
                [
                    "plant": gap.plant.rawValue, "topic": gap.partition.topic, "partition": Int(gap.partition.partition),
                    "first_offset": gap.firstOffset, "end_offset": gap.endOffset.map { $0 as Any } ?? NSNull(),
                    "id": gap.recordID.map { $0 as Any } ?? NSNull(), "reason": gap.reason.rawValue,
                    "detected_at": gap.detectedAt.limsString,
                ]
            },
        ]
        if let error = status.lastError { object["last_error"] = error }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The plant a path names: exactly a valid name (no collection prefix stripped: a URL has one spelling).
    private static func plant(_ context: StreamSyncRequestContext) throws(PlantNameError) -> Plant {
        try Plant(validating: context.parameters.get("plant") ?? "", field: "plant", collectionNames: false)
    }

    private static func invalidPlant(_ error: PlantNameError) -> Response {
        detail(.badRequest, "invalid plant \(quoted(error.value)): \(error.reason)")
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
