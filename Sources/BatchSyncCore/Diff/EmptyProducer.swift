import SyncModel

/// The producer as seen for a plant it no longer has (`--plants all`, a plant only the consumer holds):
/// every read is empty — whatever the producer's layout would answer for a table or collection that
/// is gone — so the diff finds every consumer record of the plant missing from the producer. Digest
/// domains are the real producer's.
struct EmptyProducer: DelegatingDiffSource {
    let source: any DiffSource

    func count(of plant: Plant) async throws -> Int { 0 }
    func idBounds(of plant: Plant) async throws -> KeyRange? { nil }

    func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary] {
        ranges.map { _ in .empty }
    }

    func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table { IBLT.Table(shape: shape) }

    func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> { .none }
    func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> { .none }
    func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord> { .none }
    func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord> { .none }
    func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> { .none }
}

extension PagedSequence {
    /// No element, no fetch.
    static var none: PagedSequence { PagedSequence(start: nil) { _ in Page(elements: [], next: nil) } }
}
