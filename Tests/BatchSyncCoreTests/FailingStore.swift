import StoreMetering
import SyncModel
import Synchronization

struct InjectedFailure: Error {}

/// A consumer store that fails every write after the first `failAfterWrites`: a run killed halfway.
final class FailingStore: DelegatingConsumerStore {
    let base: any ConsumerStore
    let failAfterWrites: Int
    private let count = Mutex(0)

    init(_ base: any ConsumerStore, failAfterWrites: Int) {
        self.base = base
        self.failAfterWrites = failAfterWrites
    }

    var writes: Int { count.withLock { $0 } }

    private func write() throws {
        let n = count.withLock { value -> Int in
            value += 1
            return value
        }
        if n > failAfterWrites { throw InjectedFailure() }
    }

    func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        try write()
        return try await base.apply(changes)
    }

    func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        try write()
        return try await base.replace(changes, expecting: expected)
    }

    func setSyncState(_ name: String, to value: Int64) async throws {
        try write()
        try await base.setSyncState(name, to: value)
    }
}
