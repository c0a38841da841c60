import Synchronization

/// A single-consumer queue between the poll thread (producer side) and one Swift task (consumer side),
/// with a soft capacity the poll thread watches to pause fetching (bounded memory).
final class EventBuffer<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var head = 0
        var weight = 0
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterID = 0
    }

    private let state = Mutex(State())
    private let weigh: @Sendable (Element) -> Int

    init(weigh: @escaping @Sendable (Element) -> Int) {
        self.weigh = weigh
    }

    /// Total weight of the queued elements.
    var weight: Int { state.withLock { $0.weight } }

    /// Appends `element`; with `wake == false` a waiting consumer is not resumed yet (the producer
    /// calls `wake()` after a run of pushes, so a burst costs one task wake-up, not one each).
    func push(_ element: Element, wake: Bool = true) {
        let w = weigh(element)
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.finished else { return nil }
            s.items.append(element)
            s.weight += w
            guard wake else { return nil }
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Resumes a waiting consumer if anything is queued.
    func wake() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.head < s.items.count else { return nil }
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// No more elements will come; a waiting consumer wakes up.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// The next element without waiting; nil if none is queued.
    func pop() -> Element? {
        state.withLock { s -> Element? in
            guard s.head < s.items.count else { return nil }
            let element = s.items[s.head]
            s.weight -= weigh(element)
            s.head += 1
            if s.head == s.items.count {
                s.items.removeAll(keepingCapacity: true)
                s.head = 0
            } else if s.head >= 4096 && s.head * 2 >= s.items.count {
                s.items.removeFirst(s.head)
                s.head = 0
            }
            return element
        }
    }

    /// The next element, waiting at most `timeout` (forever if nil). Nil on timeout, cancellation or
    /// when the buffer is finished and empty.
    func next(timeout: Duration?) async -> Element? {
        while true {
            if let element = pop() { return element }
            if state.withLock({ $0.finished }) || Task.isCancelled { return nil }
            let id = state.withLock { s -> Int in
                s.waiterID += 1
                return s.waiterID
            }
            let timer = timeout.map { timeout in
                Task {
                    try? await Task.sleep(for: timeout)
                    self.wake(id: id)
                }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { s -> Bool in
                        if s.head < s.items.count || s.finished || s.waiterID != id { return true }
                        s.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                self.wake(id: id)
            }
            timer?.cancel()
            if let element = pop() { return element }
            if timeout != nil { return nil }
        }
    }

    /// Resumes the waiter registered as `id`, if it is still waiting.
    private func wake(id: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.waiterID == id else { return nil }
            s.waiterID += 1  // a later registration under `id` resumes at once
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}
