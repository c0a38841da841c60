import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresStore
import StreamSyncCore
import SyncModel
import Synchronization
import Testing

/// The HTTP routes through HummingbirdTesting's in-process client (no socket): shapes and status codes.
@Suite struct HTTPTests {
    struct Reply {
        let status: HTTPResponse.Status
        let contentType: String?
        let body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: .fragmentsAllowed) }
    }

    /// Runs `body` with a `get(path)` that sends a GET through the router.
    func withClient(
        _ router: Router<StreamSyncRequestContext>,
        _ body: @Sendable (_ get: @Sendable (String) async throws -> Reply) async throws -> Void
    ) async throws {
        try await Application(router: router).test(.router) { client in
            try await body { path in
                try await client.execute(uri: path, method: .get) { response in
                    Reply(
                        status: response.status, contentType: response.headers[.contentType],
                        body: String(buffer: response.body))
                }
            }
        }
    }

    @Test func endpointsAnswerWithLIMSShapesAndCodes() async throws {
        try await withStore { store in
            let stored = record(.potato, 7, revision: 1)
            _ = try await store.apply([.upsert(stored), .upsert(record(.potato, 8))])
            let metrics = StreamMetrics()
            let readiness = Flag()
            let router = StreamSyncHTTP.router(store: store, metrics: metrics) { readiness.value }
            try await withClient(router) { get in

                let ping = try await get("/ping")
                #expect(ping.status == .ok)
                #expect(ping.json as? String == "Hello, I am alive")
                #expect(ping.contentType == "application/json")
                #expect(try await get("/healthz").status == .ok)
                #expect(try await get("/readyz").status == .serviceUnavailable)
                readiness.value = true
                #expect(try await get("/readyz").status == .ok)

                let metricsReply = try await get("/metrics")
                #expect(metricsReply.status == .ok)
                #expect(metricsReply.body.contains("plantsync_batches_total"))
                #expect(metricsReply.contentType?.hasPrefix("text/plain") == true)

                let one = try await get("/image-plant/potato/7")
                #expect(one.status == .ok)
                let fields = try #require(one.json as? [String: Any])
                #expect(fields["id"] as? Int == 7)
                #expect(fields["data"] as? String == stored.data.map { $0.map { String(format: "%02x", $0) }.joined() })
                #expect(fields["created_at"] as? String == stored.createdAt.limsString)
                #expect((fields["gps_coordinates"] as? [Double])?.count == 2)

                // Unknown, deleted and other-plant ids: one 404 body that says nothing about the store.
                let deleted = record(.potato, 9)
                _ = try await store.apply([.upsert(deleted)])
                let later = Timestamp(microsecondsSinceEpoch: deleted.createdAt.microsecondsSinceEpoch + 10_000_000)
                _ = try await store.apply([.delete(deleted.key, at: later)])
                for path in ["/image-plant/potato/999", "/image-plant/tomato/7", "/image-plant/potato/9"] {
                    let missing = try await get(path)
                    #expect(missing.status == .notFound, "\(path)")
                    #expect(missing.body == #"{"detail":"Image not found"}"#, "\(path)")
                }
                // Any valid plant is served, as LIMS's API would answer for a plant it has: one nobody
                // wrote has no id and 0 images; a name that is no plant is a 400 saying why.
                let cabbage = try #require(Plant(rawValue: "cabbage"))
                _ = try await store.apply([.upsert(record(cabbage, 3))])
                #expect(try await get("/image-plant/cabbage/3").status == .ok)
                #expect(try await get("/image-plant/kale/7").body == #"{"detail":"Image not found"}"#)
                #expect(try await get("/image-plant/kale/7").status == .notFound)
                for (path, reason) in [
                    ("/image-plant/Cabbage/7", "'Cabbage': a plant name starts with a lower-case letter"),
                    ("/image-plant/imagecolplantpotato/7", "'imagecolplantpotato': a plant name does not start with 'imagecolplant'"),
                    ("/image-plant/cab-bage/total/", "'cab-bage': a plant name holds only lower-case letters"),
                    ("/image-plant/\(String(repeating: "k", count: 41))/7", "at most 40 characters"),
                ] {
                    let badPlant = try await get(path)
                    #expect(badPlant.status == .badRequest, "\(path)")
                    let detail = (badPlant.json as? [String: Any])?["detail"] as? String ?? ""
                    #expect(detail.hasPrefix("invalid plant '"), "\(path): \(detail)")
                    #expect(detail.contains(reason), "\(path): \(detail)")
                }
                #expect(try await get("/image-plant/potato/abc").status == .badRequest)
                #expect(try await get("/image-plant/potato/-1").status == .badRequest)

                for path in ["/image-plant/potato/total/", "/image-plant/potato/total"] {
                    let total = try await get(path)
                    #expect(total.status == .ok)
                    #expect((total.json as? [String: Any])?["total_images"] as? Int == 2)
                }
                let none = try await get("/image-plant/kale/total/")
                #expect(none.status == .ok)
                #expect((none.json as? [String: Any])?["total_images"] as? Int == 0)
                #expect((try await get("/image-plant/cabbage/total/").json as? [String: Any])?["total_images"] as? Int == 1)
                #expect(try await get("/image-plant/Kale/total/").status == .badRequest)
            }
        }
    }
}

final class Flag: Sendable {
    private let stored = Mutex(false)
    var value: Bool {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}
