import SyncModel
import Synchronization

/// Rows and payload bytes a job exchanged with one peer store, by direction.
public struct PeerTraffic: Sendable, Hashable, Codable {
    public var rowsRead = 0
    public var bytesRead = 0
    public var rowsWritten = 0
    public var bytesWritten = 0

    public init() {}
}

/// An `ImageStore` decorator that counts rows and payload bytes read from and written to the store.
public final class MeteredStore: DelegatingImageStore {
    public let base: any ImageStore
    private let counters = Mutex(PeerTraffic())

    public init(_ base: any ImageStore) { self.base = base }

    public var traffic: PeerTraffic { counters.withLock { $0 } }

    func read(rows: Int, bytes: Int) {
        counters.withLock {
            $0.rowsRead += rows
            $0.bytesRead += bytes
        }
    }

    func wrote(_ changes: [Change]) {
        let bytes = changes.reduce(0) { $0 + PayloadSize.of($1) }
        counters.withLock {
            $0.rowsWritten += changes.count
            $0.bytesWritten += bytes
        }
    }

    public func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        wrote(changes)
        return try await base.apply(changes)
    }

    public func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        wrote(changes)
        return try await base.replace(changes, expecting: expected)
    }

    public func record(_ key: RecordKey) async throws -> ImageRecord? {
        let record = try await base.record(key)
        read(rows: 1, bytes: record.map(PayloadSize.of) ?? 0)
        return record
    }

    public func count(of plant: Plant) async throws -> Int {
        read(rows: 1, bytes: 8)
        return try await base.count(of: plant)
    }

    public func idBounds(of plant: Plant) async throws -> KeyRange? {
        read(rows: 1, bytes: 16)
        return try await base.idBounds(of: plant)
    }

    public func digestDomains() async throws -> [DigestDomain] { try await base.digestDomains() }
    public func computesInDatabase(_ domain: DigestDomain) -> Bool { base.computesInDatabase(domain) }

    /// Counts the summaries as payload; a summary the store computes on the client from a projection
    /// moves more on the wire than this (the harness's proxies see that).
    public func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        read(rows: ranges.count, bytes: ranges.count * PayloadSize.rangeSummary)
        return try await base.summaries(of: plant, in: ranges, domain: domain)
    }

    public func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        let cells = try await base.cells(of: plant, domain: domain, shape: shape)
        read(rows: cells.occupied, bytes: cells.occupied * PayloadSize.rangeSummary)
        return cells
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        base.versions(of: plant, in: range, pageSize: pageSize, domain: domain).observingPages { [self] page in
            read(rows: page.count, bytes: page.count * PayloadSize.keyVersion)
        }
    }

    public func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        base.versions(of: plant, ids: ids, pageSize: pageSize, domain: domain).observingPages { [self] page in
            read(rows: page.count, bytes: page.count * PayloadSize.keyVersion)
        }
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        meter(base.records(of: plant, ids: ids, pageSize: pageSize))
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        meter(base.records(of: plant, in: range, pageSize: pageSize))
    }

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        meter(base.records(of: plant, changedSince: since, pageSize: pageSize))
    }

    private func meter(_ sequence: PagedSequence<ImageRecord>) -> PagedSequence<ImageRecord> {
        sequence.observingPages { [self] page in
            read(rows: page.count, bytes: page.reduce(0) { $0 + PayloadSize.of($1) })
        }
    }

}
