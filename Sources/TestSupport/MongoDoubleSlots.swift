import Foundation
import Synchronization

/// Bounds how many tests use the MongoDB TEST DOUBLE at once (issue #23). The double serves every
/// connection on a thread of its own but runs data commands one at a time (one lock around mongomock's
/// state, docs/mongodb.md), so with every suite of the process at it — some writing 40 MB — a test's
/// command could queue for a minute behind the others', and a test whose wait has a deadline failed
/// although nothing was wrong (MongoConsumerTests: "done" false after 60 s, the state right after the
/// drain). Holding one of `slots` places for a whole test keeps each command's queue short; the time a
/// test waits for its place is spent before its own clock starts. A real server (PLANTSYNC_MONGO_URI set
/// by the user, no PLANTSYNC_MONGO_DOUBLE) is not limited.
public enum MongoDoubleSlots {
    /// Tests at the double at once.
    public static let slots = 2
    @TaskLocal static var held = false
    static let semaphore = AsyncSemaphore(permits: slots)
    static var limited: Bool { ProcessInfo.processInfo.environment["PLANTSYNC_MONGO_DOUBLE"] == "1" }
}

/// Runs `body` holding a place at the MongoDB test double (reentrant: nested calls of one task share it).
public func withMongoDouble<T>(_ body: () async throws -> T) async throws -> T {
    guard MongoDoubleSlots.limited, !MongoDoubleSlots.held else { return try await body() }
    await MongoDoubleSlots.semaphore.wait()
    defer { MongoDoubleSlots.semaphore.signal() }
    return try await MongoDoubleSlots.$held.withValue(true) { try await body() }
}

/// A counting semaphore for tasks: `wait` suspends (never blocks a thread) until a permit is free.
final class AsyncSemaphore: Sendable {
    private struct State {
        var permits: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(permits: Int) { state = Mutex(State(permits: permits)) }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { s -> Bool in
                guard s.permits > 0 else {
                    s.waiters.append(continuation)
                    return false
                }
                s.permits -= 1
                return true
            }
            if granted { continuation.resume() }
        }
    }

    func signal() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.waiters.isEmpty else {
                s.permits += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
