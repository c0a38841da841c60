import Dispatch

/// The serial dispatch queue a store runs its blocking C client on (libpq, libmongoc): every call runs
/// there, one at a time, and never on Swift's cooperative thread pool, which blocking calls would
/// starve (README, "Decisions worth knowing"). A store keeps its connection state confined to the
/// blocks it runs here.
public final class BlockingQueue: Sendable {
    private let queue: DispatchQueue

    public init(label: String) { queue = DispatchQueue(label: label) }

    /// Runs `body` on the queue, after every block submitted before it, and hands its result or error
    /// back to the awaiting caller.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            queue.async {
                do {
                    continuation.resume(returning: try body())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
