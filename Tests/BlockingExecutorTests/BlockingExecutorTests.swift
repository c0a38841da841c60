import BlockingExecutor
import Dispatch
import Foundation
import Synchronization
import Testing

/// The one bridge between async code and blocking C calls: order, results, deadlines, cancellation.
/// No timing assertion: a "blocked call" here waits on a semaphore that only an interruption signals, so
/// each test ends only if the behaviour is right (a wrong one hangs until the suite's time limit).
@Suite struct BlockingExecutorTests {
    /// A call that blocks until `release()`, as a read on a silent socket does until it is shut down.
    final class SilentPeer: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private let released = Mutex(false)
        func block() throws -> String {
            semaphore.wait()
            throw Failure(message: "connection shut down")
        }
        func release() {
            released.withLock { $0 = true }
            semaphore.signal()
        }
        var wasReleased: Bool { released.withLock { $0 } }
    }

    /// Waits for `semaphore` without blocking a cooperative thread.
    static func wait(for semaphore: DispatchSemaphore) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                semaphore.wait()
                c.resume()
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// What concurrently submitted calls saw.
    final class Tally: Sendable {
        private let state = Mutex((running: 0, overlapped: false, ran: [Int]()))
        func enter(_ i: Int) {
            state.withLock { s in
                s.running += 1
                if s.running > 1 { s.overlapped = true }
                s.ran.append(i)
            }
        }
        func leave() { state.withLock { $0.running -= 1 } }
        var overlapped: Bool { state.withLock { $0.overlapped } }
        var ran: [Int] { state.withLock { $0.ran } }
    }

    @Test func callsRunOneAtATimeInTheOrderTheyWereSubmitted() async throws {
        let executor = BlockingExecutor(label: "test.order")
        let tally = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                // Concurrent submissions: never two at once (order is checked sequentially below).
                group.addTask {
                    try await executor.run {
                        tally.enter(i)
                        usleep(200)  // a blocking call's duration: another call that started now would overlap
                        tally.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(!tally.overlapped)
        #expect(tally.ran.sorted() == Array(0..<50))
        var sequential: [Int] = []
        for i in 0..<20 { sequential.append(try await executor.run { i }) }
        #expect(sequential == Array(0..<20))
    }

    @Test func resultsAndErrorsReachTheCaller() async throws {
        let executor = BlockingExecutor(label: "test.results")
        #expect(try await executor.run { "value" } == "value")
        #expect(try await executor.run { Optional<Int>.none } == nil)
        let error = await #expect(throws: Failure.self) { try await executor.run { () throws -> Int in throw Failure(message: "boom") } }
        #expect(error?.message == "boom")
    }

    @Test func aCallPastItsDeadlineIsInterruptedAndReportsTheTimeout() async throws {
        let executor = BlockingExecutor(label: "test.deadline")
        let peer = SilentPeer()
        let error = await #expect(throws: BlockingCallTimeout.self) {
            try await executor.run(timeout: .milliseconds(200), interrupt: { peer.release() }) { try peer.block() }
        }
        #expect(peer.wasReleased)
        #expect(error?.executor == "test.deadline")
        #expect(error?.cause == "connection shut down")
        #expect(error?.description.contains("no answer within") == true)
        // The executor is free again.
        #expect(try await executor.run { 7 } == 7)
    }

    @Test func aCallThatFinishesInTimeIsNotInterrupted() async throws {
        let executor = BlockingExecutor(label: "test.in-time")
        let interrupted = Mutex(false)
        let value = try await executor.run(timeout: .seconds(600), interrupt: { interrupted.withLock { $0 = true } }) { 42 }
        #expect(value == 42)
        #expect(!interrupted.withLock { $0 })
    }

    @Test func cancellingTheCallerInterruptsARunningCall() async throws {
        let executor = BlockingExecutor(label: "test.cancel-running")
        let peer = SilentPeer()
        let started = DispatchSemaphore(value: 0)
        let task = Task {
            try await executor.run(interrupt: { peer.release() }) { () throws -> String in
                started.signal()
                return try peer.block()
            }
        }
        await Self.wait(for: started)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(peer.wasReleased)
    }

    @Test func aCallCancelledBeforeItStartsNeverRuns() async throws {
        let executor = BlockingExecutor(label: "test.cancel-queued")
        let gate = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let ran = Mutex(false)
        let first = Task {
            try await executor.run {  // holds the executor until the gate opens
                started.signal()
                gate.wait()
            }
        }
        await Self.wait(for: started)
        let queued = Task {
            try await executor.run { ran.withLock { $0 = true } }
        }
        queued.cancel()
        gate.signal()
        try await first.value
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(try await executor.run { ran.withLock { $0 } } == false)
    }

    @Test func aCallThatCannotBeInterruptedIsAbandonedAtItsDeadline() async throws {
        let executor = BlockingExecutor(label: "test.abandon")
        let peer = SilentPeer()
        // The caller is released at the deadline although the call still blocks.
        await #expect(throws: BlockingCallTimeout.self) {
            try await executor.run(timeout: .milliseconds(200)) { () throws -> String in
                do { return try peer.block() } catch { return "late" }
            }
        }
        #expect(!peer.wasReleased)
        // The call keeps the executor until it returns by itself; then the next call runs.
        peer.release()
        #expect(try await executor.run { "next" } == "next")
    }

    @Test func cancellingTheCallerOfACallThatCannotBeInterruptedReleasesIt() async throws {
        let executor = BlockingExecutor(label: "test.abandon-cancel")
        let peer = SilentPeer()
        let started = DispatchSemaphore(value: 0)
        let task = Task {
            try await executor.run { () throws -> String in
                started.signal()
                do { return try peer.block() } catch { return "late" }
            }
        }
        await Self.wait(for: started)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        peer.release()
        #expect(try await executor.run { 1 } == 1)
    }

    @Test func aTaskCancelledBeforeItCallsGetsCancellationWithoutWaiting() async throws {
        let executor = BlockingExecutor(label: "test.cancelled-first")
        let gate = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let first = Task {
            try await executor.run {
                started.signal()
                gate.wait()
            }
        }
        await Self.wait(for: started)
        // The executor is busy; a cancelled caller learns it at once, not when the executor is free.
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await executor.run { 5 }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        gate.signal()
        try await first.value
    }
}
