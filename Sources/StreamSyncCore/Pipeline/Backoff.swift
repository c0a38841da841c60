/// Capped exponential backoff with jitter: `initial · 2^(attempt-1)`, at most `cap`, scaled by a random
/// factor in [0.5, 1]; and the one retry loop of the pipeline built on it.
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

    /// Runs `operation` until it succeeds, sleeping `delay(attempt:)` between tries. An error is retried
    /// while `shouldRetry` accepts it and fewer than `maxAttempts` tries were made (nil: no limit);
    /// otherwise it is rethrown. `CancellationError` is never retried. `onRetry` sees each retried error
    /// with the retry's number and delay (for logs and metrics); `onRecovered` the number of retries a
    /// success needed, when there were any.
    public func retry<T>(
        maxAttempts: Int? = nil,
        shouldRetry: (any Error) -> Bool = { _ in true },
        onRetry: (_ error: any Error, _ attempt: Int, _ delay: Duration) -> Void = { _, _, _ in },
        onRecovered: (_ retries: Int) -> Void = { _ in },
        _ operation: () async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            do {
                let value = try await operation()
                if attempt > 0 { onRecovered(attempt) }
                return value
            } catch {
                if error is CancellationError || !shouldRetry(error) { throw error }
                attempt += 1
                if let maxAttempts, attempt >= maxAttempts { throw error }
                let pause = delay(attempt: attempt)
                onRetry(error, attempt, pause)
                try await Task.sleep(for: pause)
            }
        }
    }
}
