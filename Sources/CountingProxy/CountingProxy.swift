import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy that counts every byte it forwards, per direction (docs/design.md §5: bytes moved are measured
/// outside the job). A job is pointed at the proxy's loopback port; the proxy connects each accepted
/// connection to the real peer (TCP or a unix socket, e.g. PostgreSQL's) and relays bytes both ways,
/// with backpressure, adding nothing of its own.
///
/// It can also inject network faults that never close the job's socket (scripts/chaos): `silenceExisting()`
/// (a failover: the connections open at that instant pass nothing ever again, new ones work) and
/// `freeze()`/`thaw()` (a partition: every connection, open or new, passes nothing until the thaw). The
/// job's kernel still acknowledges what it sends (the proxy's socket receives it), so only the job's own
/// deadlines notice — not TCP keepalives or `tcp_user_timeout`, which a silent remote host would trip.
/// An optional `ConnectionRewriter` may change bytes as they pass (Chaos rewrites Kafka broker ports).
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
    private let links: Links

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

    /// Starts listening on `127.0.0.1:port` (0 = any free port). `rewriter`, when given, makes one
    /// `ConnectionRewriter` per accepted connection.
    public static func start(
        name: String, upstream: Upstream, port: Int = 0, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        rewriter: (@Sendable () -> any ConnectionRewriter)? = nil
    ) async throws -> CountingProxy {
        let counter = Counter()
        let links = Links()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                Self.connect(inbound, to: upstream, counter: counter, links: links, rewriter: rewriter)
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        return CountingProxy(
            name: name, upstream: upstream, port: server.localAddress?.port ?? port, server: server, counter: counter, links: links)
    }

    private init(name: String, upstream: Upstream, port: Int, server: any Channel, counter: Counter, links: Links) {
        self.name = name
        self.upstream = upstream
        self.port = port
        self.server = server
        self.counter = counter
        self.links = links
    }

    /// Stops accepting. Connections already relayed stay until either end closes them, except silenced
    /// ones, whose client side only the client can close (`silenceExisting()`): this closes those too.
    public func stop() async throws {
        try await server.close()
        for link in links.removeAll() {
            try? await link.eventLoop.submit { link.client.value.closeSilenced() }.get()
        }
    }

    // MARK: Faults

    /// A failover as the job sees it: every connection open now stops passing bytes for good, in both
    /// directions, and is never closed towards the job; the upstream side is closed (the old server's
    /// sessions end, releasing their locks). Connections accepted afterwards are relayed as usual.
    /// Returns how many connections went silent.
    @discardableResult
    public func silenceExisting() async -> Int {
        let silenced = links.moveOpenToSilenced()
        for link in silenced {
            try? await link.eventLoop.submit {
                link.client.value.silence()
                link.upstream.value.silence()
            }.get()
        }
        return silenced.count
    }

    /// A partition: from now until `thaw()` every connection, open or accepted meanwhile, passes
    /// nothing, closes included; nothing is dropped. Returns how many connections were open.
    @discardableResult
    public func freeze() async -> Int {
        let open = links.setFrozen(true)
        for link in open {
            try? await link.eventLoop.submit {
                link.client.value.hold()
                link.upstream.value.hold()
            }.get()
        }
        return open.count
    }

    /// Ends a `freeze()`: what was held back passes, and relaying goes on.
    public func thaw() async {
        for link in links.setFrozen(false) {
            try? await link.eventLoop.submit {
                link.client.value.release()
                link.upstream.value.release()
            }.get()
        }
    }

    /// Connections relayed and not yet closed by either end (silenced ones excluded).
    public var openConnections: Int { links.openCount }

    /// The relayed connections: both glue handlers of each, for the fault calls (made on its event loop).
    final class Links: Sendable {
        struct Link: Sendable {
            let eventLoop: any EventLoop
            let client: NIOLoopBound<GlueHandler>
            let upstream: NIOLoopBound<GlueHandler>
        }

        private struct State {
            var open: [ObjectIdentifier: Link] = [:]
            var silenced: [ObjectIdentifier: Link] = [:]
            var frozen = false
        }

        private let state = Mutex(State())

        /// Registers a new connection; true when it must start held (a freeze is on).
        func add(_ id: ObjectIdentifier, _ link: Link) -> Bool {
            state.withLock {
                $0.open[id] = link
                return $0.frozen
            }
        }

        func remove(_ id: ObjectIdentifier) { state.withLock { _ = $0.open.removeValue(forKey: id) } }

        func moveOpenToSilenced() -> [Link] {
            state.withLock {
                let moved = $0.open
                $0.open = [:]
                $0.silenced.merge(moved) { $1 }
                return Array(moved.values)
            }
        }

        /// Sets the freeze flag; returns the open connections to hold or release.
        func setFrozen(_ frozen: Bool) -> [Link] {
            state.withLock {
                $0.frozen = frozen
                return Array($0.open.values)
            }
        }

        /// Forgets every connection; returns the silenced ones (only those are left to close).
        func removeAll() -> [Link] {
            state.withLock { state in
                let silenced = Array(state.silenced.values)
                state.open = [:]
                state.silenced = [:]
                return silenced
            }
        }

        var openCount: Int { state.withLock { $0.open.count } }
    }

    private static func connect(
        _ inbound: any Channel, to upstream: Upstream, counter: Counter, links: Links,
        rewriter: (@Sendable () -> any ConnectionRewriter)?
    ) -> EventLoopFuture<Void> {
        let bootstrap = ClientBootstrap(group: inbound.eventLoop)
        let connected: EventLoopFuture<any Channel>
        switch upstream {
        case .tcp(let host, let port): connected = bootstrap.connect(host: host, port: port)
        case .unixSocket(let path): connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        return connected.flatMap { outbound in
            counter.add(connections: 1)
            let (toUpstream, toClient) = GlueHandler.matchedPair(
                countInbound: { counter.add(sent: $0) }, countOutbound: { counter.add(received: $0) }, rewriter: rewriter?())
            do {
                try inbound.pipeline.syncOperations.addHandler(toUpstream)
                try outbound.pipeline.syncOperations.addHandler(toClient)
            } catch {
                outbound.close(promise: nil)
                return inbound.eventLoop.makeFailedFuture(error)
            }
            let id = ObjectIdentifier(inbound)
            let link = Links.Link(
                eventLoop: inbound.eventLoop, client: NIOLoopBound(toUpstream, eventLoop: inbound.eventLoop),
                upstream: NIOLoopBound(toClient, eventLoop: inbound.eventLoop))
            if links.add(id, link) {
                toUpstream.hold()
                toClient.hold()
            }
            inbound.closeFuture.whenComplete { _ in links.remove(id) }
            // Reading was held off until both ends were glued together; from now on the glue handlers
            // pace it (they pass `read` on only while the other side is writable).
            return inbound.setOption(.autoRead, value: true)
        }.flatMapErrorThrowing { error in
            inbound.close(promise: nil)
            throw error
        }
    }
}

/// Changes the bytes of one proxied connection as they pass, e.g. addresses inside a protocol's
/// responses. One instance per connection, called only on that connection's event loop (so it need not
/// be Sendable), in order, with every byte read. It may hold back an incomplete message and return it
/// with a later call; what it returns is forwarded as is.
public protocol ConnectionRewriter: AnyObject {
    /// Bytes the client sent; returns the bytes to pass upstream now.
    func fromClient(_ bytes: [UInt8]) -> [UInt8]
    /// Bytes the upstream peer sent; returns the bytes to pass to the client now.
    func fromUpstream(_ bytes: [UInt8]) -> [UInt8]
}

/// Relays bytes between two channels on the same event loop, reading from one only while the other
/// is writable (the glue pattern of SwiftNIO's proxy examples), counting what passes.
///
/// While held (`hold()`, a freeze) it reads nothing and keeps back what it had read and any close of
/// its channel, until `release()`; once silenced (`silence()`) it holds for good and drops what it
/// keeps, and the upstream side's channel is closed.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Side { case client, upstream }

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let count: @Sendable (Int) -> Void
    private let side: Side
    private let rewriter: (any ConnectionRewriter)?
    private var held = false
    private var silenced = false
    /// What was read, or happened to this channel, while held: passed on at `release()`.
    private var heldData: [ByteBuffer] = []
    private var heldEOF = false
    private var heldInactive = false

    private init(count: @escaping @Sendable (Int) -> Void, side: Side, rewriter: (any ConnectionRewriter)?) {
        self.count = count
        self.side = side
        self.rewriter = rewriter
    }

    /// `countInbound` counts bytes read by the first handler's channel (client → upstream);
    /// `countOutbound` those read by the second's (upstream → client). `rewriter` sees both directions.
    static func matchedPair(
        countInbound: @escaping @Sendable (Int) -> Void, countOutbound: @escaping @Sendable (Int) -> Void,
        rewriter: (any ConnectionRewriter)? = nil
    ) -> (GlueHandler, GlueHandler) {
        let first = GlueHandler(count: countInbound, side: .client, rewriter: rewriter)
        let second = GlueHandler(count: countOutbound, side: .upstream, rewriter: rewriter)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    // MARK: Faults (on the event loop)

    func hold() { held = true }

    func release() {
        guard held, !silenced else { return }
        held = false
        let data = heldData
        heldData = []
        if let context {
            for buffer in data { forward(buffer, context: context) }
            if !data.isEmpty { partner?.partnerFlush() }
        }
        if heldInactive {
            partner?.partnerCloseFull()
        } else if heldEOF {
            partner?.partnerWriteEOF()
        }
        if pendingRead, partner?.partnerWritable ?? false {
            pendingRead = false
            context?.read()
        }
    }

    /// Holds for good. The upstream side also closes its channel (the peer's session ends); the client
    /// side keeps its channel open and unread, so the client sees a peer that never answers.
    func silence() {
        held = true
        silenced = true
        heldData = []
        if side == .upstream { context?.close(promise: nil) }
    }

    /// Closes a silenced client-side channel (when the proxy stops).
    func closeSilenced() {
        if silenced { context?.close(promise: nil) }
    }

    private func forward(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        count(buffer.readableBytes)
        guard let rewriter else {
            partner?.partnerWrite(NIOAny(buffer))
            return
        }
        let bytes = Array(buffer.readableBytesView)
        let out = side == .client ? rewriter.fromClient(bytes) : rewriter.fromUpstream(bytes)
        if !out.isEmpty { partner?.partnerWrite(NIOAny(context.channel.allocator.buffer(bytes: out))) }
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
        if pendingRead, !held {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if held {
            if !silenced { heldData.append(buffer) }
            return
        }
        forward(buffer, context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !held { partner?.partnerFlush() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if held {
            heldInactive = true
            return
        }
        partner?.partnerCloseFull()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            if held {
                heldEOF = true
                return
            }
            partner?.partnerWriteEOF()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A silenced client side stays open whatever happens; anything else ends the connection.
        if !silenced { context.close(promise: nil) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
    }

    func read(context: ChannelHandlerContext) {
        if held {
            pendingRead = true
            return
        }
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
