/// Who may read `/image-plant/*` and how often: the optional shared-token check, the per-client rate
/// limit and where the client's address comes from. The defaults here are the documented ones; the
/// command line reads its defaults from this type.
public struct ReadAccessSettings: Sendable {
    /// The bearer token `/image-plant/*` requires (`--read-token-file`); `nil`: no token check (prod
    /// authenticates with Identity-Aware Proxy in front of the Service instead).
    public var token: ReadToken?
    /// Sustained requests per second each client may make to `/image-plant/*`; 0 turns the limit off.
    public var rateLimit: Double
    /// Requests a client may make at once before the sustained rate applies (the bucket's size).
    public var rateBurst: Int
    /// Take the client's address from `X-Forwarded-For` instead of the connection's peer. Only behind
    /// a proxy that appends to it (GKE's load balancer) and that nothing else can bypass.
    public var trustForwardedFor: Bool
    /// How many entries the trusted proxies append at the end of `X-Forwarded-For`; the client is the
    /// first of them. GKE's external Application Load Balancer appends `<client>, <load balancer>`: 2.
    /// Entries before those were sent by the client itself and are never trusted.
    public var forwardedForEntries: Int
    /// Most clients the rate limiter tracks at once (bounded memory); idle ones are evicted first.
    public var maxTrackedClients: Int

    public init(
        token: ReadToken? = nil, rateLimit: Double = 20, rateBurst: Int = 40, trustForwardedFor: Bool = false,
        forwardedForEntries: Int = 2, maxTrackedClients: Int = 10_000
    ) {
        self.token = token
        self.rateLimit = rateLimit
        self.rateBurst = rateBurst
        self.trustForwardedFor = trustForwardedFor
        self.forwardedForEntries = forwardedForEntries
        self.maxTrackedClients = maxTrackedClients
    }

    /// Checks every value; the error names the command-line flag that sets it.
    public func validate() throws(StreamSyncError) {
        guard rateLimit.isFinite, (0...100_000).contains(rateLimit) else {
            throw .configuration(
                field: "--read-rate-limit", value: "\(rateLimit)",
                detail: "must be within 0…100000 requests per second (0 turns the limit off)")
        }
        guard (1...100_000).contains(rateBurst) else {
            throw .configuration(field: "--read-rate-burst", value: String(rateBurst), detail: "must be within 1…100000")
        }
        guard (1...16).contains(forwardedForEntries) else {
            throw .configuration(
                field: "--forwarded-for-entries", value: String(forwardedForEntries), detail: "must be within 1…16")
        }
        guard maxTrackedClients >= 1 else {
            throw .configuration(field: "maxTrackedClients", value: String(maxTrackedClients), detail: "must be positive")
        }
    }

    /// The client-address rule these settings describe.
    public var clientAddress: ClientAddressRule {
        trustForwardedFor ? .forwardedFor(appendedEntries: forwardedForEntries) : .peer
    }
}
