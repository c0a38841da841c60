import Dispatch
import Synchronization

/// Where PlantSync runs the blocking calls of its C clients (libpq, libmongoc, librdkafka): a serial
/// dispatch queue of its own, never Swift's cooperative thread pool, which a blocked call would take
/// away from every other task (two threads on a 2-core pod). docs/design.md, "Threads", lays out
/// which executor each client has.
///
/// The wrappers mark their blocking APIs `@available(*, noasync)`, so async code cannot call them
/// directly: it hands a synchronous closure to `run`, which is the one bridge between the two worlds.
///
/// `run` adds what a hand-written queue-and-continuation bridge lacks:
/// - **Deadlines**: with a `timeout`, a call still running when it expires is *interrupted*: the
///   caller's `interrupt` closure runs once, on another thread (a libpq connection shuts its socket
///   down, which makes the blocked call return at once), and a call that then fails ends with
///   `BlockingCallTimeout` (one that returned a result despite it keeps its result). A call that
///   cannot be interrupted (no `interrupt`) is *abandoned* at its deadline: the caller gets
///   `BlockingCallTimeout` at once, and the call keeps the executor until it returns by itself.
/// - **Cancellation**: a cancelled task's call that has not started is skipped (`CancellationError`);
///   one that is running is interrupted, or abandoned, the same way: a SIGTERM drain that runs out of
///   time never waits on a silent peer.
public final class BlockingExecutor: Sendable {
    public let label: String
    private let queue: DispatchQueue

    /// Watchdog timers of every executor: they only call `interrupt` closures, which must not block.
    private static let watchdog = DispatchQueue(label: "plantsync.blocking-executor.watchdog", attributes: .concurrent)

    public init(label: String) {
        self.label = label
        self.queue = DispatchQueue(label: label)
    }

    /// Runs `body` on the executor's queue, after every call submitted before it, and hands its result
    /// or error back to the awaiting task.
    ///
    /// - Parameters:
    ///   - timeout: how long `body` may run (the wait for earlier calls is not counted); nil: no limit.
    ///   - interrupt: makes a running `body` return early (called at most once, from another thread,
    ///     on timeout or cancellation). Without it, a call past its deadline or cancelled while it runs
    ///     is abandoned: the caller stops waiting, the call finishes on the executor and its result is
    ///     dropped.
    /// - Throws: what `body` throws; `BlockingCallTimeout` when the deadline interrupted or abandoned it;
    ///   `CancellationError` when the task was cancelled before `body` started or while it ran.
    public func run<T: Sendable>(
        timeout: Duration? = nil, interrupt: (@Sendable () -> Void)? = nil,
        _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        let call = Call<T>()
        let label = self.label
        let abandon: @Sendable (Call<T>.Interruption) -> Void = { reason in
            switch reason {
            case .deadline: call.resume(throwing: BlockingCallTimeout(executor: label, timeout: timeout ?? .zero, cause: nil))
            case .cancellation: call.resume(throwing: CancellationError())
            }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                call.setContinuation(continuation)
                queue.async {
                    guard call.start() else {
                        call.resume(throwing: CancellationError())
                        return
                    }
                    var timer: DispatchWorkItem?
                    if let timeout {
                        let item = DispatchWorkItem {
                            guard call.interrupt(.deadline) else { return }
                            if let interrupt { interrupt() } else { abandon(.deadline) }
                        }
                        Self.watchdog.asyncAfter(deadline: .now() + timeout.dispatchInterval, execute: item)
                        timer = item
                    }
                    let result = Result { try body() }
                    timer?.cancel()
                    let interruption = call.finish()
                    if case .success = result {
                        call.resume(with: result)  // it finished after all: its result stands (unless abandoned)
                        return
                    }
                    switch interruption {
                    case .deadline?:
                        call.resume(
                            throwing: BlockingCallTimeout(executor: label, timeout: timeout ?? .zero, cause: result.failureDescription))
                    case .cancellation?:
                        call.resume(throwing: CancellationError())
                    case nil:
                        call.resume(with: result)
                    }
                }
            }
        } onCancel: {
            switch call.cancel() {
            case .interruptRunning:
                if let interrupt { interrupt() } else { abandon(.cancellation) }
            case .skipWhenStarted:
                call.resume(throwing: CancellationError())  // no need to wait for the calls before it
            case .nothing:
                break
            }
        }
    }
}

/// A blocking call that was still running at its deadline and was interrupted.
public struct BlockingCallTimeout: Error, Sendable, CustomStringConvertible {
    /// The executor's label (which client's call it was).
    public let executor: String
    public let timeout: Duration
    /// What the interrupted call reported, if it failed.
    public let cause: String?

    public var description: String {
        "no answer within \(timeout) on \(executor); the call was interrupted" + (cause.map { " (\($0))" } ?? "")
    }
}

/// The life of one call: pending → running → finished, with at most one interruption, and the caller
/// resumed exactly once (by the result, or earlier by an abandonment).
private final class Call<T: Sendable>: Sendable {
    enum Interruption: Sendable { case deadline, cancellation }
    enum Cancellation { case interruptRunning, skipWhenStarted, nothing }
    private struct State {
        var started = false
        var finished = false
        var cancelledBeforeStart = false
        var interruption: Interruption?
        var continuation: CheckedContinuation<T, any Error>?
        var resumed = false
        var pending: Result<T, any Error>?
    }
    private let state = Mutex(State())

    /// Hands the caller's continuation over; resumes it at once if the call was settled before (a task
    /// cancelled before it got here).
    func setContinuation(_ continuation: CheckedContinuation<T, any Error>) {
        let settled = state.withLock { s -> Result<T, any Error>? in
            guard let pending = s.pending else {
                s.continuation = continuation
                return nil
            }
            s.pending = nil
            return pending
        }
        if let settled { continuation.resume(with: settled) }
    }

    /// Resumes the caller unless it was resumed already (kept for `setContinuation` if it has not come yet).
    func resume(with result: Result<T, any Error>) {
        let continuation = state.withLock { s -> CheckedContinuation<T, any Error>? in
            guard !s.resumed else { return nil }
            s.resumed = true
            guard let continuation = s.continuation else {
                s.pending = result
                return nil
            }
            s.continuation = nil
            return continuation
        }
        continuation?.resume(with: result)
    }

    func resume(throwing error: any Error) { resume(with: .failure(error)) }

    /// True if the call may start (it was not cancelled before).
    func start() -> Bool {
        state.withLock { s in
            s.started = true
            return !s.cancelledBeforeStart
        }
    }

    /// True if the deadline may interrupt now: the call is running and was not interrupted yet.
    func interrupt(_ reason: Interruption) -> Bool {
        state.withLock { s in
            guard s.started, !s.finished, s.interruption == nil else { return false }
            s.interruption = reason
            return true
        }
    }

    /// The caller's task was cancelled: what to do about the call.
    func cancel() -> Cancellation {
        state.withLock { s in
            guard !s.finished, s.interruption == nil else { return .nothing }
            guard s.started else {
                s.cancelledBeforeStart = true
                return .skipWhenStarted
            }
            s.interruption = .cancellation
            return .interruptRunning
        }
    }

    /// Ends the call; the interruption it suffered, if any.
    func finish() -> Interruption? {
        state.withLock { s in
            s.finished = true
            return s.interruption
        }
    }
}

extension Result where Failure == any Error {
    fileprivate var failureDescription: String? {
        if case .failure(let error) = self { return "\(error)" }
        return nil
    }
}

extension Duration {
    /// The duration as a dispatch interval (whole microseconds).
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        let micros = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !micros.overflow else { return .never }
        return .microseconds(Int(clamping: micros.partialValue + attoseconds / 1_000_000_000_000))
    }
}

/// Runs `body`, then `cleanup` whether `body` threw or not: an async `defer`, for releasing what must be
/// released on an executor (a `defer` block cannot await).
public func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
