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

/// The counters of one metered peer.
public final class TrafficMeter: Sendable {
    private let counters = Mutex(PeerTraffic())

    public init() {}

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
}

/// A decorator that counts the rows and payload bytes read from its source (the reads of a diff); the one place those reads are metered.
public protocol MeteringDiffSource: DelegatingDiffSource {
    var meter: TrafficMeter { get }
}

extension MeteringDiffSource {
    public var traffic: PeerTraffic { meter.traffic }

    public func count(of plant: Plant) async throws -> Int {
        meter.read(rows: 1, bytes: 8)
        return try await source.count(of: plant)
    }

    public func idBounds(of plant: Plant) async throws -> KeyRange? {
        meter.read(rows: 1, bytes: 16)
        return try await source.idBounds(of: plant)
    }

    /// Counts the summaries as payload; a summary the store computes on the client from a projection
    /// moves more on the wire than this (the harness's proxies see that).
    public func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        meter.read(rows: ranges.count, bytes: ranges.count * PayloadSize.rangeSummary)
        return try await source.summaries(of: plant, in: ranges, domain: domain)
    }

    public func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        let cells = try await source.cells(of: plant, domain: domain, shape: shape)
        meter.read(rows: cells.occupied, bytes: cells.occupied * PayloadSize.rangeSummary)
        return cells
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        source.versions(of: plant, in: range, pageSize: pageSize, domain: domain).observingPages { [meter] page in
            meter.read(rows: page.count, bytes: page.count * PayloadSize.keyVersion)
        }
    }

    public func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        source.versions(of: plant, ids: ids, pageSize: pageSize, domain: domain).observingPages { [meter] page in
            meter.read(rows: page.count, bytes: page.count * PayloadSize.keyVersion)
        }
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        metered(source.records(of: plant, ids: ids, pageSize: pageSize))
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        metered(source.records(of: plant, in: range, pageSize: pageSize))
    }

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        metered(source.records(of: plant, changedSince: since, pageSize: pageSize))
    }

    private func metered(_ sequence: PagedSequence<ImageRecord>) -> PagedSequence<ImageRecord> {
        sequence.observingPages { [meter] page in
            meter.read(rows: page.count, bytes: page.reduce(0) { $0 + PayloadSize.of($1) })
        }
    }
}

/// A diff's producer side, metered: reads only, as the source offers.
public final class MeteredDiffSource: MeteringDiffSource {
    public let source: any DiffSource
    public let meter = TrafficMeter()

    public init(_ source: any DiffSource) { self.source = source }
}

/// A consumer store, metered: its reads as a diff source's, and the rows and bytes written to it.
public final class MeteredConsumerStore: DelegatingConsumerStore, MeteringDiffSource {
    public let base: any ConsumerStore
    public let meter = TrafficMeter()

    public init(_ base: any ConsumerStore) { self.base = base }

    public func record(_ key: RecordKey) async throws -> ImageRecord? {
        let record = try await base.record(key)
        meter.read(rows: 1, bytes: record.map(PayloadSize.of) ?? 0)
        return record
    }

    public func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        meter.wrote(changes)
        return try await base.apply(changes)
    }

    public func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        meter.wrote(changes)
        return try await base.replace(changes, expecting: expected)
    }
}
