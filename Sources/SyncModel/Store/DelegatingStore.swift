/// A diff source that wraps another and forwards every read it does not implement itself: the base of
/// decorators (metering, the empty producer of a lost plant, fault injection in tests) that change one
/// or two operations.
public protocol DelegatingDiffSource: DiffSource {
    /// The wrapped source.
    var source: any DiffSource { get }
}

extension DelegatingDiffSource {
    public func count(of plant: Plant) async throws -> Int { try await source.count(of: plant) }
    public func plants() async throws -> [Plant] { try await source.plants() }
    public func idBounds(of plant: Plant) async throws -> KeyRange? { try await source.idBounds(of: plant) }

    public func digestDomains() async throws -> [DigestDomain] { try await source.digestDomains() }
    public func computesInDatabase(_ domain: DigestDomain) -> Bool { source.computesInDatabase(domain) }

    public func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        try await source.summaries(of: plant, in: ranges, domain: domain)
    }

    public func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        try await source.cells(of: plant, domain: domain, shape: shape)
    }

    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        source.versions(of: plant, in: range, pageSize: pageSize, domain: domain)
    }

    public func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        source.versions(of: plant, ids: ids, pageSize: pageSize, domain: domain)
    }

    public func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> {
        source.records(of: plant, ids: ids, pageSize: pageSize)
    }

    public func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> {
        source.records(of: plant, in: range, pageSize: pageSize)
    }

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        source.records(of: plant, changedSince: since, pageSize: pageSize)
    }
}

/// A consumer store that wraps another and forwards every operation it does not implement itself
/// (its reads through `DelegatingDiffSource`).
public protocol DelegatingConsumerStore: ConsumerStore, DelegatingDiffSource {
    /// The wrapped store.
    var base: any ConsumerStore { get }
}

extension DelegatingConsumerStore {
    public var source: any DiffSource { base }

    public func record(_ key: RecordKey) async throws -> ImageRecord? { try await base.record(key) }
    public func prepareSchema() async throws { try await base.prepareSchema() }
    public func apply(_ changes: [Change]) async throws -> ApplyOutcome { try await base.apply(changes) }

    public func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        try await base.replace(changes, expecting: expected)
    }

    public func purgeTombstones(olderThan cutoff: Timestamp, batchSize: Int) async throws -> Int {
        try await base.purgeTombstones(olderThan: cutoff, batchSize: batchSize)
    }
    public func syncState(_ name: String) async throws -> Int64? { try await base.syncState(name) }
    public func setSyncState(_ name: String, to value: Int64) async throws { try await base.setSyncState(name, to: value) }

    public func keys(of plant: Plant, sourceIDs: [SourceID]) async throws -> [SourceID: Int64] {
        try await base.keys(of: plant, sourceIDs: sourceIDs)
    }
    public func recordGaps(_ gaps: [StreamGap]) async throws { try await base.recordGaps(gaps) }
    public func openGaps() async throws -> [StreamGap] { try await base.openGaps() }
    @discardableResult
    public func closeGaps(_ ids: [String], at: Timestamp, by closedBy: String) async throws -> Int {
        try await base.closeGaps(ids, at: at, by: closedBy)
    }
    public func streamPositions(group: String) async throws -> [StreamPartition: Int64] { try await base.streamPositions(group: group) }
    public func recordStreamPositions(_ positions: [StreamPartition: Int64], group: String) async throws {
        try await base.recordStreamPositions(positions, group: group)
    }
}
