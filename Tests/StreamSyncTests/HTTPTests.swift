import PostgresStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import StreamSyncCore
import SyncModel
import Testing

/// The HTTP routes, called in process (no socket): shapes and status codes.
@Suite struct HTTPTests {
    struct Reply {
        let status: HTTPResponse.Status
        let contentType: String?
        let body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: .fragmentsAllowed) }
    }

    final class Collector: ResponseBodyWriter {
        var buffer = ByteBuffer()
        func write(_ buffer: ByteBuffer) async throws {
            var b = buffer
            self.buffer.writeBuffer(&b)
        }
        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    func get(_ router: Router<StreamSyncRequestContext>, _ path: String) async throws -> Reply {
        let responder = router.buildResponder()
        let request = Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: path),
            body: RequestBody(buffer: ByteBuffer()))
        let context = StreamSyncRequestContext(source: .init(channel: NIOAsyncTestingChannel(), logger: Logger(label: "http-test")))
        let response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            return Reply(status: error.status, contentType: nil, body: "")
        }
        let collector = Collector()
        try await response.body.write(collector)
        return Reply(
            status: response.status, contentType: response.headers[.contentType], body: String(buffer: collector.buffer))
    }

    @Test func endpointsAnswerWithLIMSShapesAndCodes() async throws {
        try await withStore { store in
            let stored = record(.potato, 7, revision: 1)
            _ = try await store.apply([.upsert(stored), .upsert(record(.potato, 8))])
            let metrics = StreamMetrics()
            let readiness = Flag()
            let router = StreamSyncHTTP.router(store: store, metrics: metrics) { readiness.value }

            let ping = try await get(router, "/ping")
            #expect(ping.status == .ok)
            #expect(ping.json as? String == "Hello, I am alive")
            #expect(ping.contentType == "application/json")
            #expect(try await get(router, "/healthz").status == .ok)
            #expect(try await get(router, "/readyz").status == .serviceUnavailable)
            readiness.value = true
            #expect(try await get(router, "/readyz").status == .ok)

            let metricsReply = try await get(router, "/metrics")
            #expect(metricsReply.status == .ok)
            #expect(metricsReply.body.contains("plantsync_changes_applied_total"))
            #expect(metricsReply.contentType?.hasPrefix("text/plain") == true)

            let one = try await get(router, "/image-plant/potato/7")
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
                let missing = try await get(router, path)
                #expect(missing.status == .notFound, "\(path)")
                #expect(missing.body == #"{"detail":"Image not found"}"#, "\(path)")
            }
            let badPlant = try await get(router, "/image-plant/cabbage/7")
            #expect(badPlant.status == .badRequest)
            #expect((badPlant.json as? [String: Any])?["detail"] as? String != nil)
            #expect(try await get(router, "/image-plant/potato/abc").status == .badRequest)
            #expect(try await get(router, "/image-plant/potato/-1").status == .badRequest)

            for path in ["/image-plant/potato/total/", "/image-plant/potato/total"] {
                let total = try await get(router, path)
                #expect(total.status == .ok)
                #expect((total.json as? [String: Any])?["total_images"] as? Int == 2)
            }
            #expect(try await get(router, "/image-plant/cabbage/total/").status == .badRequest)
        }
    }
}

final class Flag: @unchecked Sendable {
    // @unchecked Sendable is safe: `stored` is only touched under `lock`.
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
