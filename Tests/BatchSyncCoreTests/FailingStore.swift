import StoreMetering
import Synchronization
import SyncModel

struct InjectedFailure: Error {}

/// A consumer store that fails every write after the first `failAfterWrites`: a run killed halfway.
final class FailingStore: ImageStore {
    let base: any ImageStore
    let failAfterWrites: Int
    private let count = Mutex(0)

    init(_ base: any ImageStore, failAfterWrites: Int) {
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

    func prepareSchema() async throws { try await base.prepareSchema() }
    func record(_ key: RecordKey) async throws -> ImageRecord? { try await base.record(key) }
    func count(of plant: Plant) async throws -> Int { try await base.count(of: plant) }
    func idBounds(of plant: Plant) async throws -> KeyRange? { try await base.idBounds(of: plant) }
    func summaries(of plant: Plant, in ranges: [KeyRange]) async throws -> [RangeSummary] { try await base.summaries(of: plant, in: ranges) }
    func versions(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<KeyVersion> { base.versions(of: plant, in: range, pageSize: pageSize) }
    func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> { base.records(of: plant, ids: ids, pageSize: pageSize) }
    func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> { base.records(of: plant, in: range, pageSize: pageSize) }
    func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        base.records(of: plant, changedSince: since, pageSize: pageSize)
    }
    func purgeTombstones(olderThan cutoff: Timestamp) async throws -> Int { try await base.purgeTombstones(olderThan: cutoff) }
    func syncState(_ name: String) async throws -> Int64? { try await base.syncState(name) }
}
