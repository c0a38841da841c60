import Foundation

/// A half-open range of ids `[lower, upper)` within one plant.
public struct KeyRange: Sendable, Hashable, CustomStringConvertible {
    public let lower: Int64
    public let upper: Int64

    public init(lower: Int64, upper: Int64) {
        precondition(lower <= upper, "KeyRange lower \(lower) > upper \(upper)")
        self.lower = lower
        self.upper = upper
    }

    /// Every valid id (ids are positive).
    public static let all = KeyRange(lower: 1, upper: Int64.max)

    public var isEmpty: Bool { lower >= upper }
    public func contains(_ id: Int64) -> Bool { id >= lower && id < upper }
    public var description: String { "[\(lower), \(upper))" }

    /// Splits into at most `parts` contiguous, non-empty ranges of near-equal width.
    public func split(into parts: Int) -> [KeyRange] {
        let width = UInt64(bitPattern: upper &- lower)
        let count = UInt64(max(1, min(parts, Int(clamping: width))))
        guard count > 1 else { return [self] }
        var result: [KeyRange] = []
        var start = lower
        for i in 1...count {
            let end = i == count ? upper : lower &+ Int64(bitPattern: width / count * i + min(i, width % count))
            result.append(KeyRange(lower: start, upper: end))
            start = end
        }
        return result
    }
}

/// Count and checksum of the live (non-tombstone) records of a key range, computed by the store.
public struct RangeSummary: Sendable, Hashable, CustomStringConvertible {
    public let count: Int
    /// Sum of `ImageRecord.digest` over the range, modulo 2^64 (`RowDigest`).
    public let checksum: UInt64

    public init(count: Int, checksum: UInt64) {
        self.count = count
        self.checksum = checksum
    }

    public static let empty = RangeSummary(count: 0, checksum: 0)
    public var description: String { "\(count) rows, checksum \(String(checksum, radix: 16))" }
}

/// What the diff compares per key: the version, the digest, whether the row is a tombstone, and the
/// version its bytes came with.
public struct KeyVersion: Sendable, Hashable {
    public let id: Int64
    public let version: Version
    /// `ImageRecord.digest` of a live row (with `ImageRecord.unknownDataHash` for bytes not yet known);
    /// 0 for a tombstone.
    public let digest: Int64
    /// The version of the row's bytes register (docs/design.md §1): that of the change its bytes came
    /// with; `nil` while the bytes are not yet known.
    public let dataVersion: Version?
    public var isTombstone: Bool { version.isDelete }

    /// A row whose bytes came with its record (what a producer's record, or a foreign store's row, is).
    public init(id: Int64, version: Version, digest: Int64) {
        self.init(id: id, version: version, digest: digest, dataVersion: version)
    }

    public init(id: Int64, version: Version, digest: Int64, dataVersion: Version?) {
        self.id = id
        self.version = version
        self.digest = digest
        self.dataVersion = dataVersion
    }
}

/// The result of applying a batch. A store reduces a batch to its writes (per key, the greatest record
/// version together with the greatest bytes, `KeyWinners`; plus, where there is one, a newer upsert
/// that keeps record fields): `applied` counts the writes that changed the stored row — a record that
/// took effect, or bytes that entered a key's register (a tombstone's too, for a later resurrection);
/// `skippedStale` counts every other change of the batch (older or equal versions, duplicates, and
/// changes merged into another's write).
public struct ApplyOutcome: Sendable, Hashable {
    public var applied: Int
    public var skippedStale: Int
    /// The same two counts per plant of the batch, from the one apply (`ChangeApplier.apply` fills it;
    /// see ApplyOutcome+Plants.swift).
    public var byPlant: [Plant: PlantCounts] = [:]

    public init(applied: Int, skippedStale: Int) {
        self.applied = applied
        self.skippedStale = skippedStale
    }
}

/// An error a store reports; `isTransient` tells callers whether a retry may succeed.
public protocol StoreError: Error, CustomStringConvertible {
    var isTransient: Bool { get }
}

/// The read API's needs (StreamSync's `/image-plant/…` routes, SyncBench's freshness probe): one
/// record, one count.
public protocol RecordReader: Sendable {
    /// The live record for a key; `nil` if absent or tombstoned.
    func record(_ key: RecordKey) async throws -> ImageRecord?

    /// Live records of a plant (soft-deleted ones included: `is_deleted` is an ordinary field).
    func count(of plant: Plant) async throws -> Int
}

/// What either side of a diff offers (BatchSync's `Reconciler`): reads only. A foreign producer is a
/// `DiffSource` (and a `RecordReader`) and nothing more: it has no write to refuse.
public protocol DiffSource: Sendable {
    /// Live records of a plant (soft-deleted ones included: `is_deleted` is an ordinary field).
    func count(of plant: Plant) async throws -> Int

    /// The plants the store holds, sorted (BatchSync's `--plants all`): PlantSync's stores every plant
    /// with a row or document, tombstones included (PostgreSQL: the plant column, read by a skip scan
    /// of the primary key; MongoDB: its `<prefix><plant>` collections); a foreign store what its layout
    /// finds (`ForeignLayout`: the tables or collections its `{plant}` name matches, or the values of
    /// its plant column). A name there that is no valid plant (`Plant`) is an error naming it.
    func plants() async throws -> [Plant]

    /// Smallest and largest id held for a plant, tombstones included, as `[min, max + 1)`.
    func idBounds(of plant: Plant) async throws -> KeyRange?

    /// The digest domains this store computes, best first (docs/design.md §3). PlantSync's own stores
    /// compute every domain of their engine and `.metadata`; a foreign one its engine's and `.metadata`.
    /// May ask the server (a foreign MongoDB producer's version), so it is async.
    func digestDomains() async throws -> [DigestDomain]

    /// Whether `summaries` in `domain` are computed inside the database (a few bytes per range), rather
    /// than by the client from a projection of every record of the ranges (no image bytes, but a row
    /// per record): the diff asks for fine ranges in one pass when it is not.
    func computesInDatabase(_ domain: DigestDomain) -> Bool

    /// Count and checksum in `domain` per range, computed inside the database where the engine can;
    /// one result per range, in order.
    func summaries(of plant: Plant, in ranges: [KeyRange], domain: DigestDomain) async throws -> [RangeSummary]

    /// The IBLT table of the plant's live records as elements `(id, digest in domain)` (`IBLT`; dense,
    /// an empty cell zero — a store sends only the occupied ones). Stores group them in the database
    /// where they can; the default reads the versions (no bytes) and builds the table here.
    func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table

    /// Versions (tombstones included) of a range in id order, with digests in `domain`, page by page.
    func versions(of plant: Plant, in range: KeyRange, pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion>

    /// Versions (tombstones included) of the given keys in id order, with digests in `domain`, page by
    /// page (`pageSize` keys a read); keys the store does not hold are left out.
    func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion>

    /// Live records with the given ids, in id order, fetched page by page.
    func records(of plant: Plant, ids: [Int64], pageSize: Int) -> PagedSequence<ImageRecord>

    /// Live records of a range in id order, fetched page by page.
    func records(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<ImageRecord>

    /// Live records whose version `ts` is at least `since`, in id order, fetched page by page
    /// (incremental reads by high-water mark).
    func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord>
}

/// The tombstone purger's need (StreamSync's maintenance connection, BatchSync after a run).
public protocol TombstonePurging: Sendable {
    /// Removes tombstones whose delete time is before `cutoff`, at most `batchSize` per statement (and
    /// transaction), repeating until none is left, so that no lock is held long; returns how many went.
    func purgeTombstones(olderThan cutoff: Timestamp, batchSize: Int) async throws -> Int
}

/// Named 64-bit values kept in the consumer (BatchSync's high-water marks and IBLT sizes).
public protocol SyncStateStore: Sendable {
    /// A named value; `nil` if never set.
    func syncState(_ name: String) async throws -> Int64?

    /// Sets a named value (upsert).
    func setSyncState(_ name: String, to value: Int64) async throws
}

/// PlantSync's own consumer database (docs/design.md §3): what StreamSync's writer and BatchSync's
/// repairs write through, under the version rule, and what they read back to diff.
///
/// Every implementation enforces the version rule of docs/design.md §1 inside the database: a change is
/// applied only if its version is greater than the stored one, deletes leave tombstones that hide the
/// row from every read, the image bytes are a register of their own (the bytes of the greatest version
/// that carried bytes), and applying any multiset of changes in any order and batching, on any number
/// of connections at once, yields that state per key.
public protocol ConsumerStore: ChangeApplier, DiffSource, RecordReader, TombstonePurging, SyncStateStore, GapLedger, SourceKeyResolving {
    /// Creates tables/collections and indexes if missing; safe to call on every start.
    func prepareSchema() async throws

    /// Compare-and-set repair: writes each change only where the stored version still equals the one
    /// given in `expected` for its key (a tombstone's version included), whatever the order of the two.
    /// For a producer-authoritative repair of a row the consumer holds with a version the producer
    /// does not have; a concurrent write in between changes the stored version and wins.
    func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome
}

extension DiffSource {
    /// Summaries in `.plantsync`, PlantSync's own bookkeeping.
    public func summaries(of plant: Plant, in ranges: [KeyRange]) async throws -> [RangeSummary] {
        try await summaries(of: plant, in: ranges, domain: .plantsync)
    }

    /// Versions with `.plantsync` digests.
    public func versions(of plant: Plant, in range: KeyRange, pageSize: Int) -> PagedSequence<KeyVersion> {
        versions(of: plant, in: range, pageSize: pageSize, domain: .plantsync)
    }

    /// The default: one range read per key (stores override it with one read per page of keys).
    public func versions(of plant: Plant, ids: [Int64], pageSize: Int, domain: DigestDomain) -> PagedSequence<KeyVersion> {
        .byIDs(ids, pageSize: pageSize) { slice in
            var found: [KeyVersion] = []
            for id in slice where id < Int64.max {
                found += try await self.versions(of: plant, in: KeyRange(lower: id, upper: id + 1), pageSize: 1, domain: domain).collect()
            }
            return found
        }
    }

    /// The default: `clientCells`.
    public func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        try await clientCells(of: plant, domain: domain, shape: shape)
    }

    /// The table built here from the live versions, read page by page without bytes (memory: one page
    /// and the table; on the wire: a row per record).
    public func clientCells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        var table = IBLT.Table(shape: shape)
        try await versions(of: plant, in: .all, pageSize: 2000, domain: domain).forEachPage(of: 2000) { page in
            table.add(page.filter { !$0.isTombstone }.map { (key: $0.id, digest: $0.digest) })
        }
        return table
    }

    public func summary(of plant: Plant, in range: KeyRange, domain: DigestDomain = .plantsync) async throws -> RangeSummary {
        try await summaries(of: plant, in: [range], domain: domain)[0]
    }

}

extension TombstonePurging {
    /// Removes tombstones older than `cutoff` in batches of `TombstoneRetention.purgeBatchSize`.
    public func purgeTombstones(olderThan cutoff: Timestamp) async throws -> Int {
        try await purgeTombstones(olderThan: cutoff, batchSize: TombstoneRetention.purgeBatchSize)
    }
}

/// Store connection URIs as they may be shown.
public enum StoreURI {
    /// The URI with any password replaced by `***`, for error messages and logs.
    public static func redacted(_ uri: String) -> String {
        guard let scheme = uri.range(of: "://"), let at = uri[scheme.upperBound...].firstIndex(of: "@") else { return uri }
        let credentials = uri[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return uri }
        return String(uri[..<colon]) + ":***" + String(uri[at...])
    }
}
