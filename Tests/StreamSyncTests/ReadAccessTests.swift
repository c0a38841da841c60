import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresStore
import StreamSyncCore
import SyncModel
import Synchronization
import Testing

/// The guard of /image-plant/*: the bearer-token check, the per-client rate limit (with a clock the
/// test advances by hand: no sleeping, no timing thresholds), the client address, and what the
/// responses reveal.
@Suite struct ReadAccessTests {
    static let token = "s3cret-token-0123456789abcdef"

    /// A monotonic clock that moves only when told to.
    final class ManualClock: Sendable {
        private let origin = ContinuousClock.now
        private let offset = Mutex(Duration.zero)
        func advance(by duration: Duration) { offset.withLock { $0 += duration } }
        @Sendable func now() -> ContinuousClock.Instant { origin + offset.withLock { $0 } }
    }

    // MARK: The comparison

    @Test func constantTimeEqualsComparesContentsAndLengths() {
        let secret = Array("abcdefghijklmnop".utf8)
        #expect(constantTimeEquals(secret, secret))
        #expect(constantTimeEquals([UInt8](), [UInt8]()))
        #expect(!constantTimeEquals(secret, Array("Xbcdefghijklmnop".utf8)), "differs in the first byte")
        #expect(!constantTimeEquals(secret, Array("abcdefghijklmnoX".utf8)), "differs in the last byte")
        #expect(!constantTimeEquals(secret, Array("abcdefghijklmno".utf8)), "a prefix")
        #expect(!constantTimeEquals(secret, secret + [0]), "the same bytes plus a zero (the padding value)")
        #expect(!constantTimeEquals(secret, [UInt8]()))
        #expect(!constantTimeEquals([UInt8](), secret))
        let long = [UInt8](repeating: 0x61, count: ReadToken.maxLength + 10)
        #expect(constantTimeEquals(long, long), "wider than the fixed width")
        #expect(!constantTimeEquals(long, long.dropLast() + [0x62]))
    }

    @Test func tokenMatchesOnlyItself() throws {
        let token = try ReadToken(Self.token)
        #expect(token.matches(Array(Self.token.utf8)))
        #expect(!token.matches(Array(Self.token.dropLast().utf8) + [UInt8(ascii: "X")]), "same length, other bytes")
        #expect(!token.matches(Array((Self.token + "x").utf8)), "longer")
        #expect(!token.matches(Array(Self.token.dropLast().utf8)), "shorter")
        #expect(!token.matches([UInt8](repeating: 0x61, count: ReadToken.maxLength + 1)))
    }

    // MARK: The token file

    func file(_ contents: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("plantsync-token-\(UUID().uuidString)")
        try Data(contents.utf8).write(to: url)
        return url.path
    }

    @Test func tokenFileIsReadWithoutItsTrailingNewline() throws {
        for contents in [Self.token, Self.token + "\n", Self.token + "\r\n", Self.token + "\n\n"] {
            let path = try file(contents)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let token = try ReadToken.load(file: path)
            #expect(token.matches(Array(Self.token.utf8)), "\(contents.debugDescription)")
            #expect(!token.matches(Array((Self.token + "\n").utf8)))
        }
    }

    @Test(arguments: [
        ("", "empty"), ("\n", "empty"), ("\r\n\n", "empty"), ("short-token", "needs 16"),
        ("two words in one token", "visible ASCII"), ("line\none-of-a-longer-token", "visible ASCII"),
        ("tøken-with-a-non-ascii-char", "visible ASCII"),
    ])
    func unusableTokenFileIsAClearError(contents: String, mentions: String) throws {
        let path = try file(contents)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: StreamSyncError.self) { try ReadToken.load(file: path) }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("--read-token-file") && message.contains(path) && message.contains(mentions), "\(message)")
    }

    @Test func missingOrDirectoryTokenFileIsAClearError() {
        let missing = #expect(throws: StreamSyncError.self) { try ReadToken.load(file: "/nonexistent/plantsync/token") }
        #expect(missing.map { "\($0)" }?.contains("--read-token-file \"/nonexistent/plantsync/token\": no such file") == true)
        let directory = #expect(throws: StreamSyncError.self) { try ReadToken.load(file: NSTemporaryDirectory()) }
        #expect(directory.map { "\($0)" }?.contains("cannot read") == true)
    }

    // MARK: Settings

    @Test(arguments: [
        (ReadAccessSettings(rateLimit: -1), "--read-rate-limit"),
        (ReadAccessSettings(rateLimit: .nan), "--read-rate-limit"),
        (ReadAccessSettings(rateLimit: .infinity), "--read-rate-limit"),
        (ReadAccessSettings(rateBurst: 0), "--read-rate-burst"),
        (ReadAccessSettings(forwardedForEntries: 0), "--forwarded-for-entries"),
    ])
    func badSettingsNameTheirFlag(settings: ReadAccessSettings, flag: String) {
        let error = #expect(throws: StreamSyncError.self) { try settings.validate() }
        #expect(error.map { "\($0)" }?.contains(flag) == true)
    }

    @Test func defaultsAreValidAndOpen() throws {
        let defaults = ReadAccessSettings()
        try defaults.validate()
        #expect(defaults.token == nil && !defaults.trustForwardedFor && defaults.rateLimit > 0)
        #expect(ReadAccess(ReadAccessSettings(rateLimit: 0)).limiter == nil, "0 turns the limit off")
    }

    // MARK: The client address

    @Test func clientAddressComesFromThePeerUnlessForwardedForIsTrusted() {
        let forged = ["6.6.6.6, 203.0.113.7, 130.211.0.9"]
        #expect(ClientAddressRule.peer.client(peer: "10.0.0.5", forwardedFor: forged) == "10.0.0.5")
        #expect(ClientAddressRule.peer.client(peer: nil, forwardedFor: []) == "unknown")
        let gke = ClientAddressRule.forwardedFor(appendedEntries: 2)
        #expect(gke.client(peer: "35.191.0.1", forwardedFor: ["203.0.113.7, 130.211.0.9"]) == "203.0.113.7")
        #expect(gke.client(peer: "35.191.0.1", forwardedFor: forged) == "203.0.113.7", "what the client sent is ignored")
        #expect(gke.client(peer: "35.191.0.1", forwardedFor: ["6.6.6.6", "203.0.113.7,130.211.0.9"]) == "203.0.113.7")
        #expect(gke.client(peer: "35.191.0.1", forwardedFor: ["203.0.113.7"]) == "35.191.0.1", "not through the proxies")
        #expect(gke.client(peer: "35.191.0.1", forwardedFor: []) == "35.191.0.1")
        #expect(gke.client(peer: "35.191.0.1", forwardedFor: [" , 130.211.0.9"]) == "35.191.0.1", "empty entry")
        #expect(ClientAddressRule.forwardedFor(appendedEntries: 1).client(peer: nil, forwardedFor: forged) == "130.211.0.9")
        #expect(ReadAccessSettings(trustForwardedFor: true).clientAddress == gke)
        #expect(ReadAccessSettings().clientAddress == .peer)
    }

    // MARK: The rate limiter alone

    @Test func bucketAllowsTheBurstThenTheRate() {
        let clock = ManualClock()
        let limiter = RateLimiter(rate: 2, burst: 3, maxClients: 100, now: clock.now)
        for _ in 0..<3 { #expect(limiter.admit("a") == .allowed) }
        #expect(limiter.admit("a") == .limited(retryAfterSeconds: 1))
        #expect(limiter.admit("b") == .allowed, "buckets are per client")
        clock.advance(by: .milliseconds(500))
        #expect(limiter.admit("a") == .allowed, "one token after 1/rate s")
        #expect(limiter.admit("a") == .limited(retryAfterSeconds: 1))
        clock.advance(by: .seconds(60))
        for _ in 0..<3 { #expect(limiter.admit("a") == .allowed) }
        #expect(limiter.admit("a") != .allowed, "refills up to the burst, not beyond")
        let slow = RateLimiter(rate: 0.25, burst: 1, maxClients: 100, now: clock.now)
        #expect(slow.admit("a") == .allowed)
        #expect(slow.admit("a") == .limited(retryAfterSeconds: 4))
        clock.advance(by: .seconds(3))
        #expect(slow.admit("a") == .limited(retryAfterSeconds: 1))
    }

    @Test func trackedClientsStayBoundedIdleOnesGoFirstThenTheOldest() {
        let clock = ManualClock()
        let limiter = RateLimiter(rate: 0.001, burst: 1, maxClients: 10, now: clock.now)
        for i in 0..<10 {
            #expect(limiter.admit("c\(i)") == .allowed)
            clock.advance(by: .milliseconds(1))
        }
        #expect(limiter.trackedClients == 10)
        // Table full, nobody idle long enough to have refilled: the least recently seen (c0) goes.
        #expect(limiter.admit("c10") == .allowed)
        #expect(limiter.trackedClients == 10)
        #expect(limiter.admit("c0") == .allowed, "c0 was forgotten: a fresh bucket")
        #expect(limiter.admit("c9") != .allowed, "recent clients are kept, with their empty bucket")
        #expect(limiter.trackedClients <= 10)
        for i in 11..<1_000 { _ = limiter.admit("c\(i)") }
        #expect(limiter.trackedClients <= 10, "a flood of new addresses cannot grow the table")
        // Everyone idle until refilled: all of them are dropped, forgetting them changes nothing.
        clock.advance(by: .seconds(2_000))
        #expect(limiter.admit("new") == .allowed)
        #expect(limiter.trackedClients == 1)
    }

    // MARK: Through the router (HummingbirdTesting)

    func withRouter(
        access: ReadAccess, metrics: StreamMetrics = StreamMetrics(),
        _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withStore { store in
            _ = try await store.apply([.upsert(record(.potato, 7))])
            let router = StreamSyncHTTP.router(store: store, metrics: metrics, access: access) { true }
            try await Application(router: router).test(.router) { client in try await body(client) }
        }
    }

    @Test func tokenIsRequiredOnImageEndpointsOnly() async throws {
        let metrics = StreamMetrics()
        let access = ReadAccess(token: try ReadToken(Self.token))
        try await withRouter(access: access, metrics: metrics) { client in
            let sameLength = String(Self.token.dropLast()) + "X"
            let attempts: [(String, HTTPFields)] = [
                ("no header", [:]),
                ("wrong token, same length", [.authorization: "Bearer \(sameLength)"]),
                ("wrong token, shorter", [.authorization: "Bearer \(Self.token.dropLast(5))"]),
                ("wrong token, longer", [.authorization: "Bearer \(Self.token)-and-more"]),
                ("token as another scheme", [.authorization: "Basic \(Self.token)"]),
                ("scheme without token", [.authorization: "Bearer "]),
                ("token without scheme", [.authorization: Self.token]),
            ]
            for (what, headers) in attempts {
                for uri in ["/image-plant/potato/7", "/image-plant/potato/total", "/image-plant/potato/999999"] {
                    try await client.execute(uri: uri, method: .get, headers: headers) { response in
                        #expect(response.status == .unauthorized, "\(what) \(uri)")
                        #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(what)")
                        #expect(!String(buffer: response.body).contains("potato"), "a 401 shows nothing of the store")
                    }
                }
            }
            var twoHeaders = HTTPFields()
            twoHeaders.append(HTTPField(name: .authorization, value: "Bearer \(Self.token)"))
            twoHeaders.append(HTTPField(name: .authorization, value: "Bearer \(sameLength)"))
            try await client.execute(uri: "/image-plant/potato/7", method: .get, headers: twoHeaders) { response in
                #expect(response.status == .unauthorized, "two Authorization headers")
            }
            for scheme in ["Bearer", "bearer", "BEARER"] {
                try await client.execute(
                    uri: "/image-plant/potato/7", method: .get, headers: [.authorization: "\(scheme) \(Self.token)"]
                ) { response in
                    #expect(response.status == .ok, "\(scheme)")
                    #expect(String(buffer: response.body).contains("\"id\":7"))
                }
            }
            try await client.execute(
                uri: "/image-plant/potato/total", method: .get, headers: [.authorization: "Bearer \(Self.token)"]
            ) { response in
                #expect(response.status == .ok)
            }
            // Probes, metrics and /ping stay open (the cluster's own callers, and prod's Ingress only
            // routes /ping besides /image-plant).
            for uri in ["/ping", "/healthz", "/readyz", "/metrics"] {
                try await client.execute(uri: uri, method: .get) { response in #expect(response.status == .ok, "\(uri)") }
            }
        }
        let exposition = metrics.exposition()
        #expect(exposition.contains(#"plantsync_http_rejected_total{job="streamsync",reason="unauthorized"} 22"#), "\(exposition)")
    }

    @Test func rateLimitAnswers429AfterTheBurstPerClient() async throws {
        let clock = ManualClock()
        let metrics = StreamMetrics()
        let settings = ReadAccessSettings(token: try ReadToken(Self.token), rateLimit: 1, rateBurst: 3, trustForwardedFor: true)
        try await withRouter(access: ReadAccess(settings, now: clock.now), metrics: metrics) { client in
            func get(_ forwardedFor: String, token: String = Self.token) async throws -> TestResponse {
                try await client.execute(
                    uri: "/image-plant/potato/7", method: .get,
                    headers: [.authorization: "Bearer \(token)", ClientAddressRuleTests.forwardedFor: forwardedFor]
                ) { $0 }
            }
            let alice = "203.0.113.7, 130.211.0.9"
            let bob = "198.51.100.4, 130.211.0.9"
            // Wrong tokens use up the budget too: guessing is throttled.
            #expect(try await get(alice, token: "not-the-token-but-long-enough").status == .unauthorized)
            for _ in 0..<2 { #expect(try await get(alice).status == .ok) }
            let limited = try await get(alice)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] == "1")
            #expect(!String(buffer: limited.body).contains("potato"))
            // Forging a first X-Forwarded-For entry does not make Alice someone else.
            #expect(try await get("192.0.2.1, " + alice).status == .tooManyRequests)
            #expect(try await get(bob).status == .ok, "another client has its own bucket")
            // The limit is on /image-plant only.
            try await client.execute(uri: "/ping", method: .get) { #expect($0.status == .ok) }
            clock.advance(by: .seconds(1))
            #expect(try await get(alice).status == .ok, "one more after 1/rate s")
            #expect(try await get(alice).status == .tooManyRequests)
        }
        #expect(metrics.exposition().contains(#"plantsync_http_rejected_total{job="streamsync",reason="rate_limited"} 3"#))
    }

    @Test func untrustedForwardedForIsIgnored() async throws {
        let clock = ManualClock()
        let settings = ReadAccessSettings(rateLimit: 1, rateBurst: 2)
        try await withRouter(access: ReadAccess(settings, now: clock.now)) { client in
            // In-process requests have no peer address: every one is the same client, whatever it claims.
            for (i, claimed) in ["203.0.113.7, 130.211.0.9", "198.51.100.4, 130.211.0.9", "192.0.2.1, 130.211.0.9"].enumerated() {
                try await client.execute(
                    uri: "/image-plant/potato/7", method: .get, headers: [ClientAddressRuleTests.forwardedFor: claimed]
                ) { response in
                    #expect(response.status == (i < 2 ? .ok : .tooManyRequests), "\(claimed)")
                }
            }
        }
    }

    @Test func storeErrorsAnswer500WithoutDetails() async throws {
        try await withStore { store in
            let failing = FailingReadStore()
            let router = StreamSyncHTTP.router(store: failing, metrics: StreamMetrics()) { true }
            try await Application(router: router).test(.router) { client in
                for uri in ["/image-plant/potato/7", "/image-plant/potato/total"] {
                    try await client.execute(uri: uri, method: .get) { response in
                        #expect(response.status == .internalServerError)
                        let body = String(buffer: response.body)
                        #expect(!body.contains("postgresql") && !body.contains("secret-schema"), "\(body)")
                    }
                }
            }
        }
    }

    @Test func readAPIReturnsNoListsSoFar() async throws {
        // Every route and what it returns: one record, one count, or a probe. A route added here that
        // returns several records must cap them at StreamSyncHTTP.maxPageSize.
        let routes = try await withStore { store in
            let router = StreamSyncHTTP.router(store: store, metrics: StreamMetrics()) { true }
            return Set(router.routes.map { "\($0.method) \($0.path)" })
        }
        #expect(
            routes == [
                "GET /ping", "GET /readyz", "GET /healthz", "GET /metrics", "GET /image-plant/{plant}/total",
                "GET /image-plant/{plant}/{id}",
            ], "\(routes.sorted())")
        #expect(StreamSyncHTTP.maxPageSize > 0 && StreamSyncHTTP.maxPageSize <= 1_000)
    }
}

enum ClientAddressRuleTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}

/// A store whose reads fail with an error that names the database (what must not reach a client).
struct FailingReadStore: RecordReader {
    struct Leak: Error, CustomStringConvertible {
        var description: String { "cannot reach postgresql://user:pw@db:5432/plantsync schema secret-schema" }
    }

    func record(_ key: RecordKey) async throws -> ImageRecord? { throw Leak() }
    func count(of plant: Plant) async throws -> Int { throw Leak() }
}
