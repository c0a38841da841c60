import Foundation
import MongoStore
import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// The `DiffSource` and `RecordReader` contract (docs/design.md §3) on every store that offers them:
/// PlantSync's two consumer stores and the foreign producers (LIMS's MongoDB documents, LIMS's
/// PostgreSQL tables, an application's one table with a plant column). Each holds the same live
/// records, written the way that store is written; every read a diff makes must then answer the same,
/// in `.metadata` (the digest domain every store computes).
@Suite struct DiffSourceContractTests {
    enum Source: String, CaseIterable, CustomStringConvertible, Sendable {
        case postgresConsumer, mongoConsumer, postgresLimsTables, postgresApplicationTable, mongoLims
        var description: String { rawValue }
    }

    static let cucumber = try! Plant(validating: "cucumber", field: "test")
    /// Sorted, as `plants()` answers; one plant beyond LIMS's three.
    static let plants: [Plant] = [cucumber, .pepper, .potato]

    /// Live records with millisecond timestamps (what a BSON date keeps), ids with gaps, varied shapes
    /// (no bytes, empty bytes, soft-deleted, nullable fields null).
    static let records: [ImageRecord] = {
        var rng = SplitMix64(seed: 2024)
        var all: [ImageRecord] = []
        for (index, plant) in plants.enumerated() {
            for id in stride(from: Int64(1 + index), through: 90, by: 3 + index) {
                var record = randomRecord(plant: plant, id: id, rng: &rng, dataBytes: Int(id % 50))
                let created = 1_700_000_000_000_000 + (record.createdAt.microsecondsSinceEpoch / 1000) * 1000
                record.createdAt = Timestamp(microsecondsSinceEpoch: created)
                record.updatedAt = id % 2 == 0 ? Timestamp(microsecondsSinceEpoch: created + (id % 7) * 1000) : nil
                if id % 13 == 0 { record.data = nil }
                if id % 17 == 0 { record.data = [] }
                all.append(record)
            }
        }
        return all
    }()

    /// A fresh store of `source` holding `records`, written as that store is written.
    func withSource<T>(_ source: Source, _ body: (any DiffSource & RecordReader) async throws -> T) async throws -> T {
        let records = Self.records
        switch source {
        case .postgresConsumer:
            return try await withPostgresStore { store in
                _ = try await store.apply(records.map { .upsert($0) })
                return try await body(store)
            }
        case .mongoConsumer:
            return try await withMongoStore { store in
                _ = try await store.apply(records.map { .upsert($0) })
                return try await body(store)
            }
        case .postgresLimsTables, .postgresApplicationTable:
            let producer = try await LimsPostgresProducer.create(
                shape: source == .postgresLimsTables ? .limsTables : .applicationTable, plants: Self.plants)
            defer { producer.drop() }
            try await producer.write(records)
            return try await body(try producer.store)
        case .mongoLims:
            return try await withMongoDouble {
                let producer = try await LimsMongoProducer.create(plants: Self.plants)
                defer { producer.drop() }
                try await producer.write(records)
                return try await body(try producer.store())
            }
        }
    }

    /// A plant the source holds nothing of reads as empty — except where the layout has a table per plant
    /// and that table is missing (LIMS's PostgreSQL tables): that is an error naming the table, so a
    /// mistyped `--producer-table` or plant is never read as a producer that lost every record. (A MongoDB
    /// collection that does not exist is empty: the server cannot tell the two apart.)
    static func expectNothingHeld(
        for plant: Plant, in store: any DiffSource & RecordReader, source: Source, _ reads: () async throws -> Void
    ) async throws {
        guard source == .postgresLimsTables else { return try await reads() }
        let error = await #expect(throws: PostgresStoreError.self) { try await store.count(of: plant) }
        #expect(error?.description.contains("imagecolplant\(plant)' does not exist") == true, "\(String(describing: error))")
    }

    /// `RecordReader`: each record exactly, nothing for a key not held; counts per plant.
    @Test(arguments: Source.allCases)
    func readsEachRecordAndCountsEachPlant(source: Source) async throws {
        try await withSource(source) { store async throws in
            for record in Self.records { #expect(try await store.record(record.key) == record, "\(record.key)") }
            #expect(try await store.record(RecordKey(plant: .potato, id: 1000)) == nil)
            for plant in Self.plants {
                #expect(try await store.count(of: plant) == Self.records.filter { $0.plant == plant }.count)
            }
            try await Self.expectNothingHeld(for: .tomato, in: store, source: source) { () async throws in
                #expect(try await store.record(RecordKey(plant: .tomato, id: 1)) == nil)
                #expect(try await store.count(of: .tomato) == 0)
            }
        }
    }

    /// `DiffSource`: plants, bounds, records by range, ids and high-water mark, versions and digests in
    /// `.metadata`, summaries and IBLT cells — each equal to what the records alone determine.
    @Test(arguments: Source.allCases)
    func everyDiffReadAnswersWhatTheRecordsDetermine(source: Source) async throws {
        try await withSource(source) { store async throws in
            #expect(try await store.plants() == Self.plants)
            #expect(try await store.digestDomains().contains(.metadata))
            for plant in Self.plants {
                let held = Self.records.filter { $0.plant == plant }.sorted { $0.id < $1.id }
                let expectedVersions = held.map { KeyVersion(id: $0.id, version: $0.version, digest: MetadataDigest.of($0)) }
                #expect(try await store.idBounds(of: plant) == KeyRange(lower: held.first!.id, upper: held.last!.id + 1))

                #expect(try await store.records(of: plant, in: .all, pageSize: 7).collect() == held)
                let range = KeyRange(lower: 20, upper: 61)
                #expect(try await store.records(of: plant, in: range, pageSize: 4).collect() == held.filter { range.contains($0.id) })
                let ids = held.map(\.id).filter { $0 % 2 == 1 } + [999, 1000]
                #expect(try await store.records(of: plant, ids: ids, pageSize: 3).collect() == held.filter { $0.id % 2 == 1 })
                let since = held[held.count / 2].version.ts
                #expect(
                    try await store.records(of: plant, changedSince: since, pageSize: 5).collect()
                        == held.filter { $0.version.ts >= since })

                let versions = try await store.versions(of: plant, in: .all, pageSize: 6, domain: .metadata).collect()
                #expect(versions == expectedVersions)
                #expect(
                    try await store.versions(of: plant, ids: ids, pageSize: 2, domain: .metadata).collect()
                        == expectedVersions.filter { $0.id % 2 == 1 })

                // Summaries: per range the count, and the sum of the digests mod 2^64 (docs/design.md §3).
                let ranges = KeyRange(lower: 1, upper: 91).split(into: 4) + [KeyRange(lower: 500, upper: 600)]
                let expectedSummaries = ranges.map { r in
                    let inRange = expectedVersions.filter { r.contains($0.id) }
                    return RangeSummary(
                        count: inRange.count, checksum: inRange.reduce(UInt64(0)) { $0 &+ UInt64(bitPattern: $1.digest) })
                }
                #expect(try await store.summaries(of: plant, in: ranges, domain: .metadata) == expectedSummaries)

                // IBLT cells: the table of the live (id, digest) pairs.
                let shape = IBLT.Shape.table(cells: IBLT.cells(forElements: held.count))
                let expected = IBLT.table(of: expectedVersions.map { (key: $0.id, digest: $0.digest) }, shape: shape)
                #expect(try await store.cells(of: plant, domain: .metadata, shape: shape) == expected)
            }
            try await Self.expectNothingHeld(for: .tomato, in: store, source: source) { () async throws in
                #expect(try await store.idBounds(of: .tomato) == nil)
                #expect(try await store.records(of: .tomato, in: .all, pageSize: 10).collect().isEmpty)
            }
        }
    }
}
