import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy that counts every byte it forwards, per direction (docs/design.md §5: bytes moved are measured
/// outside the job). A job is pointed at the proxy's loopback port; the proxy connects each accepted
/// connection to the real peer (TCP or a unix socket, e.g. PostgreSQL's) and relays bytes both ways,
/// with backpressure, adding nothing of its own.
public final class CountingProxy: Sendable {
    public enum Upstream: Sendable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): return "\(host):\(port)"
            case .unixSocket(let path): return path
            }
        }
    }

    /// Bytes forwarded so far: client → upstream (what the job sent) and upstream → client (what it got).
    public struct Counts: Sendable, Hashable, Codable {
        public var sent = 0
        public var received = 0
        public var connections = 0
        public init() {}
    }

    public let name: String
    public let upstream: Upstream
    public let port: Int
    private let server: any Channel
    private let counter: Counter

    final class Counter: Sendable {
        let value = Mutex(Counts())
        func add(sent: Int = 0, received: Int = 0, connections: Int = 0) {
            value.withLock {
                $0.sent += sent
                $0.received += received
                $0.connections += connections
            }
        }
    }

    public var counts: Counts { counter.value.withLock { $0 } }

    /// Starts listening on `127.0.0.1:port` (0 = any free port).
    public static func start(
        name: String, upstream: Upstream, port: Int = 0, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> CountingProxy {
        let counter = Counter()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                Self.connect(inbound, to: upstream, counter: counter)
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        return CountingProxy(name: name, upstream: upstream, port: server.localAddress?.port ?? port, server: server, counter: counter)
    }

    private init(name: String, upstream: Upstream, port: Int, server: any Channel, counter: Counter) {
        self.name = name
        self.upstream = upstream
        self.port = port
        self.server = server
        self.counter = counter
    }

    public func stop() async throws {
        try await server.close()
    }

    private static func connect(_ inbound: any Channel, to upstream: Upstream, counter: Counter) -> EventLoopFuture<Void> {
        let bootstrap = ClientBootstrap(group: inbound.eventLoop)
        let connected: EventLoopFuture<any Channel>
        switch upstream {
        case .tcp(let host, let port): connected = bootstrap.connect(host: host, port: port)
        case .unixSocket(let path): connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        return connected.flatMap { outbound in
            counter.add(connections: 1)
            let (toUpstream, toClient) = GlueHandler.matchedPair(
                countInbound: { counter.add(sent: $0) }, countOutbound: { counter.add(received: $0) })
            do {
                try inbound.pipeline.syncOperations.addHandler(toUpstream)
                try outbound.pipeline.syncOperations.addHandler(toClient)
            } catch {
                outbound.close(promise: nil)
                return inbound.eventLoop.makeFailedFuture(error)
            }
            // Reading was held off until both ends were glued together; from now on the glue handlers
            // pace it (they pass `read` on only while the other side is writable).
            return inbound.setOption(.autoRead, value: true)
        }.flatMapErrorThrowing { error in
            inbound.close(promise: nil)
            throw error
        }
    }
}

/// Relays bytes between two channels on the same event loop, reading from one only while the other
/// is writable (the glue pattern of SwiftNIO's proxy examples), counting what passes.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let count: @Sendable (Int) -> Void

    private init(count: @escaping @Sendable (Int) -> Void) { self.count = count }

    /// `countInbound` counts bytes read by the first handler's channel (client → upstream);
    /// `countOutbound` those read by the second's (upstream → client).
    static func matchedPair(countInbound: @escaping @Sendable (Int) -> Void, countOutbound: @escaping @Sendable (Int) -> Void) -> (
        GlueHandler, GlueHandler
    ) {
        let first = GlueHandler(count: countInbound)
        let second = GlueHandler(count: countOutbound)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    private func partnerWrite(_ data: NIOAny) { context?.write(data, promise: nil) }
    private func partnerFlush() { context?.flush() }
    private func partnerWriteEOF() { context?.close(mode: .output, promise: nil) }
    private func partnerCloseFull() { context?.close(promise: nil) }
    private var partnerWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count(unwrapInboundIn(data).readableBytes)
        partner?.partnerWrite(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.partnerFlush() }

    func channelInactive(context: ChannelHandlerContext) { partner?.partnerCloseFull() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.partnerWriteEOF()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
