import Hummingbird

/// The guard in front of `/image-plant/*`, built once from `ReadAccessSettings`: first the
/// per-client rate limit (so token guessing is throttled too), then the bearer-token check.
public struct ReadAccess: Sendable {
    public var token: ReadToken?
    public var limiter: RateLimiter?
    public var clientAddress: ClientAddressRule

    public init(token: ReadToken? = nil, limiter: RateLimiter? = nil, clientAddress: ClientAddressRule = .peer) {
        self.token = token
        self.limiter = limiter
        self.clientAddress = clientAddress
    }

    /// From validated settings; `now` is the limiter's clock (tests inject one).
    public init(
        _ settings: ReadAccessSettings,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.init(
            token: settings.token,
            limiter: settings.rateLimit > 0
                ? RateLimiter(rate: settings.rateLimit, burst: settings.rateBurst, maxClients: settings.maxTrackedClients, now: now)
                : nil,
            clientAddress: settings.clientAddress)
    }

    /// Why a request was turned away (the `reason` label of `plantsync_http_rejected_total`).
    public enum Rejection: String, Sendable, CaseIterable {
        case unauthorized
        case rateLimited = "rate_limited"
    }
}

/// Applies `ReadAccess` to the routes of the group it is added to.
struct ReadAccessMiddleware: RouterMiddleware {
    typealias Context = StreamSyncRequestContext

    let access: ReadAccess
    let rejected: @Sendable (ReadAccess.Rejection) -> Void

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let limiter = access.limiter {
            let client = access.clientAddress.client(
                peer: context.peerAddress, forwardedFor: ClientAddressRule.forwardedFor(in: request.headers))
            if case .limited(let seconds) = limiter.admit(client) {
                rejected(.rateLimited)
                var response = StreamSyncHTTP.detail(.tooManyRequests, "Too many requests")
                response.headers[.retryAfter] = String(seconds)
                return response
            }
        }
        if let token = access.token {
            let authorization = request.headers[values: .authorization]
            guard authorization.count == 1, let presented = Self.bearer(authorization[0]) else {
                rejected(.unauthorized)
                return Self.unauthorized("Bearer realm=\"plantsync\"")
            }
            guard token.matches(presented.utf8) else {
                rejected(.unauthorized)
                return Self.unauthorized("Bearer realm=\"plantsync\", error=\"invalid_token\"")
            }
        }
        return try await next(request, context)
    }

    /// The credentials of `Bearer <token>` (scheme case-insensitive, RFC 7235), or nil.
    static func bearer(_ value: String) -> Substring? {
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let credentials = parts[1].drop(while: { $0 == " " })
        return credentials.isEmpty ? nil : credentials
    }

    private static func unauthorized(_ challenge: String) -> Response {
        var response = StreamSyncHTTP.detail(.unauthorized, "Not authenticated")
        response.headers[.wwwAuthenticate] = challenge
        return response
    }
}
