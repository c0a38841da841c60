import CountingProxy
import Foundation
import NIOCore
import NIOPosix
import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

@Suite struct CountingProxyTests {
    /// An echo server behind the proxy: a known payload is counted exactly, both ways.
    @Test func countsExactlyTheBytesSentThroughIt() async throws {
        let echo = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.pipeline.addHandler(EchoHandler()) }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = try await CountingProxy.start(name: "echo", upstream: .tcp(host: "127.0.0.1", port: echo.localAddress!.port!))

        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let received = try await roundTrip(payload, port: proxy.port)
        #expect(received == payload)
        #expect(proxy.counts.sent == payload.count)
        #expect(proxy.counts.received == payload.count)
        #expect(proxy.counts.connections == 1)
        try await proxy.stop()
        try await echo.close()
    }

    /// PostgreSQL through the proxy (TCP in, the server's unix socket out): the store works unchanged
    /// and the bytes of a 20 KB image show up in the count of what was sent.
    @Test func relaysPostgresOverItsUnixSocket() async throws {
        let uri = try postgresURI()
        guard let components = URLComponents(string: uri),
            let host = components.queryItems?.first(where: { $0.name == "host" })?.value
        else { throw SetupError("PLANTSYNC_PG_URI has no host socket directory: \(uri)") }
        let proxy = try await CountingProxy.start(name: "postgres", upstream: .unixSocket(path: host + "/.s.PGSQL.5432"))
        let schema = uniqueSchema()
        let store = try PostgresStore(
            .init(conninfo: "postgresql://plantsync@127.0.0.1:\(proxy.port)/postgres?sslmode=disable", schema: schema))
        try await store.prepareSchema()
        let before = proxy.counts
        var rng = SplitMix64(seed: 4)
        let record = randomRecord(plant: .tomato, id: 1, rng: &rng, dataBytes: 20_000)
        _ = try await store.apply([.upsert(record)])
        let afterWrite = proxy.counts
        // The image's 20,000 bytes in binary (hex would double them), plus one statement: its text (a
        // CASE per column, since the bytes register has its own version rule: ~2.2 KB) and parameters.
        #expect(afterWrite.sent - before.sent >= 20_000)
        #expect(afterWrite.sent - before.sent < 24_000)
        #expect(try await store.record(record.key) == record)
        #expect(proxy.counts.received - afterWrite.received >= 20_000)
        try await proxy.stop()
        try await dropSchema(schema)
    }

    func roundTrip(_ payload: [UInt8], port: Int) async throws -> [UInt8] {
        let collector = Collector(expected: payload.count)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { $0.pipeline.addHandler(collector) }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: payload))
        let bytes = try await collector.done.futureResult.get()
        try await channel.close()
        return bytes
    }
}

final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.writeAndFlush(data, promise: nil) }
}

final class Collector: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable is safe: `bytes` is only touched on the channel's event loop.
    typealias InboundIn = ByteBuffer
    let expected: Int
    var bytes: [UInt8] = []
    let done: EventLoopPromise<[UInt8]>

    init(expected: Int) {
        self.expected = expected
        self.done = MultiThreadedEventLoopGroup.singleton.next().makePromise()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytesView
        if bytes.count == expected { done.succeed(bytes) }
    }
}
