import Hummingbird
import NIOCore

/// Where the rate limiter finds the client of a request.
public enum ClientAddressRule: Sendable, Equatable {
    /// The TCP peer (a port-forward, a client in the cluster, a proxy that does not forward).
    case peer
    /// The first of the `appendedEntries` addresses that trusted proxies appended to
    /// `X-Forwarded-For`. Behind GKE's external Application Load Balancer the header reads
    /// `[what the client sent, …,] <client>, <load balancer>`, so with 2 the client is the entry
    /// second from the right; what the client sent itself (possibly forged) is ignored. A header with
    /// fewer entries did not come through those proxies: the peer is used.
    case forwardedFor(appendedEntries: Int)

    /// Every `X-Forwarded-For` value of `headers`, in order (a proxy may add a line of its own).
    public static func forwardedFor(in headers: HTTPFields) -> [String] {
        headers.filter { $0.name.canonicalName == "x-forwarded-for" }.map(\.value)
    }

    /// Longest client key kept (bounds the limiter's memory per client).
    static let maxKeyLength = 64

    /// The rate limiter's key for a request from `peer` with these `X-Forwarded-For` header values.
    public func client(peer: String?, forwardedFor values: [String]) -> String {
        let fallback = peer ?? "unknown"
        guard case .forwardedFor(let appended) = self else { return fallback }
        let entries = values.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map(Self.trimmed)
        guard entries.count >= appended else { return fallback }
        let client = entries[entries.count - appended]
        return client.isEmpty ? fallback : String(client.prefix(Self.maxKeyLength))
    }

    private static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}

/// StreamSync's request context: Hummingbird's basics plus the connection's peer address (for the
/// per-client rate limit).
public struct StreamSyncRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's IP address as text, if the connection has one.
    public var peerAddress: String? { remoteAddress?.ipAddress }
}
