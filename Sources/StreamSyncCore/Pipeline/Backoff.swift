/// Capped exponential backoff with jitter: `initial · 2^(attempt-1)`, at most `cap`, scaled by a random
/// factor in [0.5, 1].
public struct Backoff: Sendable {
    public var initial: Duration
    public var cap: Duration

    public init(initial: Duration, cap: Duration) {
        self.initial = initial
        self.cap = cap
    }

    /// The delay before retry number `attempt` (1-based).
    public func delay(attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let raw = initial * (1 << exponent)
        let capped = raw > cap ? cap : raw
        return capped * Double.random(in: 0.5...1.0)
    }
}
