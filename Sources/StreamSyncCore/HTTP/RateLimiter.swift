import Synchronization

/// A token bucket per client: each holds up to `burst` requests and refills at `rate` per second.
/// Memory is bounded: at most `maxClients` buckets. When a new client would exceed that, buckets
/// that have refilled completely are dropped first (forgetting them changes nothing: a new bucket
/// starts full), then, if the table is still full, the least recently seen ones down to 90 % of the
/// cap (one sort per tenth of the cap's worth of new clients, so amortized O(log n) per request).
/// Evicting an active client only hands it a full bucket again: the limiter errs towards allowing.
public final class RateLimiter: Sendable {
    public enum Decision: Equatable, Sendable {
        case allowed
        /// Rejected; the client may try again after this many whole seconds (`Retry-After`).
        case limited(retryAfterSeconds: Int)
    }

    public typealias Instant = ContinuousClock.Instant

    public let rate: Double
    public let burst: Int
    public let maxClients: Int
    private let now: @Sendable () -> Instant

    private struct Bucket {
        var tokens: Double
        var updated: Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    /// - Parameter now: the monotonic clock; tests pass one they advance by hand.
    public init(
        rate: Double, burst: Int, maxClients: Int, now: @escaping @Sendable () -> Instant = { ContinuousClock.now }
    ) {
        precondition(rate > 0 && rate.isFinite && burst >= 1 && maxClients >= 1, "validated by ReadAccessSettings")
        self.rate = rate
        self.burst = burst
        self.maxClients = maxClients
        self.now = now
    }

    /// Takes one request from `client`'s bucket, or says how long until it holds one again.
    public func admit(_ client: String) -> Decision {
        let instant = now()
        return buckets.withLock { buckets in
            var bucket: Bucket
            if let existing = buckets[client] {
                bucket = existing
                bucket.tokens = min(Double(burst), bucket.tokens + rate * seconds(instant - bucket.updated))
            } else {
                if buckets.count >= maxClients { evict(&buckets, at: instant) }
                bucket = Bucket(tokens: Double(burst), updated: instant)
            }
            bucket.updated = instant
            let decision: Decision
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                decision = .allowed
            } else {
                decision = .limited(retryAfterSeconds: max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))))
            }
            buckets[client] = bucket
            return decision
        }
    }

    /// How many clients have a bucket now.
    public var trackedClients: Int { buckets.withLock { $0.count } }

    private func evict(_ buckets: inout [String: Bucket], at instant: Instant) {
        let full = Double(burst)
        buckets = buckets.filter { _, bucket in bucket.tokens + rate * seconds(instant - bucket.updated) < full }
        let target = maxClients - max(1, maxClients / 10)
        if buckets.count > target {
            let oldestFirst = buckets.sorted { $0.value.updated < $1.value.updated }
            for (client, _) in oldestFirst.prefix(buckets.count - target) { buckets[client] = nil }
        }
    }

    private func seconds(_ duration: Duration) -> Double {
        let (whole, atto) = duration.components
        return max(0, Double(whole) + Double(atto) / 1e18)
    }
}
