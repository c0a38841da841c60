import LibPQ
import BatchSyncCore
import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// `reconcile`: IBLT cells in each database, peeled into the differing keys (docs/design.md §3).
@Suite struct ReconcileTests {
    func options(_ configure: (inout BatchOptions) -> Void = { _ in }) -> BatchOptions {
        var options = BatchOptions()
        options.strategy = .reconcile
        options.pageSize = 100
        configure(&options)
        return options
    }

    /// Two PlantSync stores: the producer holding `count` random records of `plant` (ids 1…count), the
    /// consumer those of them `consumerHolds` accepts.
    func withPair(
        _ plant: Plant, count: Int, seed: UInt64, dataBytes: Int = 32, consumerHolds: (ImageRecord) -> Bool = { _ in true },
        _ body: (PostgresStore, PostgresStore, [ImageRecord]) async throws -> Void
    ) async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: seed)
                let records = (1...count).map { randomRecord(plant: plant, id: Int64($0), rng: &rng, dataBytes: dataBytes) }
                _ = try await producer.apply(records.map { .upsert($0) })
                _ = try await consumer.apply(records.filter(consumerHolds).map { .upsert($0) })
                try await body(producer, consumer, records)
            }
        }
    }

    /// The cells PostgreSQL groups in SQL are those the client builds from the versions, in every domain
    /// (tombstones and bytes not yet known included): one hash, in `bigint` and in Swift.
    @Test(arguments: [DigestDomain.plantsync, .postgres, .metadata], [IBLT.Shape.estimator, .table(cells: 61)])
    func cellsGroupedInTheDatabaseEqualTheClientsTable(domain: DigestDomain, shape: IBLT.Shape) async throws {
        try await withPostgresStore { store in
            var rng = SplitMix64(seed: 81)
            let records = (1...300).map { randomRecord(plant: .potato, id: Int64($0) * 7, rng: &rng) }
            _ = try await store.apply(records.enumerated().map { .upsert($1, keepsStoredData: $0 % 9 == 0) })
            _ = try await store.apply([.delete(records[3].key, at: Timestamp(microsecondsSinceEpoch: 9_000_000))])
            let inDatabase = try await store.cells(of: .potato, domain: domain, shape: shape)
            #expect(inDatabase == (try await store.clientCells(of: .potato, domain: domain, shape: shape)))
            #expect(inDatabase.cells.map(\.count).reduce(0, +) == 3 * 299)
            let tables = try await LimsPostgresProducer.create(shape: .applicationTable)
            defer { tables.drop() }
            try await tables.write(records)
            let foreign = try tables.store
            if domain != .plantsync {
                let foreignCells = try await foreign.cells(of: .potato, domain: domain, shape: shape)
                #expect(foreignCells == (try await foreign.clientCells(of: .potato, domain: domain, shape: shape)))
            }
        }
    }

    /// PlantSync's stored digest (`row_digest`, computed by the server with each write) is the
    /// `.postgres` digest a foreign table computes from its own columns for the same record — both
    /// table kinds (renamed columns, `integer` key, `timestamptz`, split coordinates), nulls included —
    /// and a table without the column (an earlier release's, read before `prepareSchema` migrates it)
    /// gets the same digests from its columns.
    @Test(arguments: LimsPostgresProducer.Shape.allCases)
    func theStoredDigestIsTheDigestAForeignTableComputes(shape: LimsPostgresProducer.Shape) async throws {
        try await withPostgresStore { store in
            var rng = SplitMix64(seed: 85)
            var records = (1...120).map { randomRecord(plant: .potato, id: Int64($0) * 3, rng: &rng, dataBytes: 40) }
            for i in records.indices where i % 4 == 1 {
                records[i].disease = i % 8 == 1 ? nil : "Späte Krautfäule \(i)"
                records[i].percentage = nil
                records[i].updatedAt = nil
            }
            records[5].data = nil
            _ = try await store.apply(records.map { .upsert($0) })
            let tables = try await LimsPostgresProducer.create(shape: shape)
            defer { tables.drop() }
            try await tables.write(records)
            let foreign = try tables.store
            func digests(_ store: some DiffSource) async throws -> [Int64: Int64] {
                let versions = try await store.versions(of: .potato, in: .all, pageSize: 50, domain: .postgres).collect()
                return Dictionary(uniqueKeysWithValues: versions.map { ($0.id, $0.digest) })
            }
            let stored = try await digests(store)
            #expect(stored.count == records.count)
            #expect(stored == (try await digests(foreign)))
            #expect(try await store.cells(of: .potato, domain: .postgres, shape: .estimator)
                == (try await foreign.cells(of: .potato, domain: .postgres, shape: .estimator)))

            let configuration = store.configuration
            try await offPool {
                _ = try PGConnection(conninfo: configuration.conninfo).execute(
                    "ALTER TABLE \(PGConnection.quoteIdentifier(configuration.schema)).image_record DROP COLUMN row_digest")
            }
            let earlier = try PostgresStore(store.configuration)
            #expect(try await digests(earlier) == stored)
            #expect(try await earlier.cells(of: .potato, domain: .postgres, shape: .table(cells: 90))
                == (try await foreign.cells(of: .potato, domain: .postgres, shape: .table(cells: 90))))
            try await earlier.prepareSchema()
            #expect(try await digests(earlier) == stored)
            #expect(try await digests(PostgresStore(store.configuration)) == stored)
        }
    }

    /// The first read follows what the last run found: unknown — the strata estimator (which also
    /// finds few differences outright); nothing — one whole-plant checksum a side, no cell; some — a
    /// table sized by that count, without the estimator. Only differing records move, and a dry run
    /// leaves the memory as it was.
    @Test func eachRunReadsWhatTheLastRunsFindingsCallFor() async throws {
        try await withPair(.tomato, count: 5000, seed: 83, dataBytes: 64) { producer, consumer, records in
            var options = options()
            options.plants = [.tomato]
            let memory = Reconciler.reconcileMemoryName(.tomato)
            func run(_ options: BatchOptions) async throws -> RunReport {
                try await Reconciler(producer: producer, consumer: consumer, options: options).run()
            }
            func change(_ every: Int64, _ label: String) async throws -> Int {
                var changed = records.filter { $0.id % every == 17 }
                for i in changed.indices {
                    changed[i].disease = label
                    changed[i].updatedAt = Timestamp(microsecondsSinceEpoch: 9_000_000_000 + changed[i].id + Int64(label.utf8.count))
                }
                _ = try await producer.apply(changed.map { .upsert($0) })
                return changed.count
            }

            let unknown = try await run(options)  // nothing remembered: the estimator
            #expect(unknown.differences == 0)
            #expect(unknown.rangesCompared == 0)
            #expect(unknown.cellsCompared > 0 && unknown.cellsCompared <= 2 * IBLT.Shape.estimator.cellCount)
            #expect(try await consumer.syncState(memory) == 0)

            let converged = try await run(options)  // nothing found last time: one checksum a side
            #expect(converged.differences == 0)
            #expect(converged.rangesCompared == 1)
            #expect(converged.cellsCompared == 0)
            #expect(converged.rowsCompared == 0)
            #expect(converged.rowsFetched == 0)

            let few = try await change(1000, "Changed")
            var dry = options
            dry.dryRun = true
            #expect(try await run(dry).differences == few)
            #expect(try await consumer.syncState(memory) == 0)  // a dry run remembers nothing
            let repaired = try await run(options)  // the checksum differs: the estimator finds them
            #expect(repaired.differences == few)
            #expect(repaired.peelFailures == 0)
            #expect(repaired.rowsFetched == few)
            #expect(repaired.rowsCompared == few)
            #expect(repaired.rangesCompared == 1)
            #expect(repaired.cellsCompared <= 2 * IBLT.Shape.estimator.cellCount)
            #expect(try await consumer.syncState(memory) == Int64(2 * few))
            #expect(try await liveRecords(consumer) == liveRecords(producer))

            let again = try await change(1000, "Changed again")  // as many: a table of their size, no estimator
            let hinted = try await run(options)
            #expect(hinted.differences == again)
            #expect(hinted.peelFailures == 0)
            #expect(hinted.rangesCompared == 0)
            #expect(hinted.cellsCompared <= 2 * IBLT.cells(forElements: 2 * few))
            #expect(hinted.rowsFetched == again)
            #expect(try await liveRecords(consumer) == liveRecords(producer))
        }
    }

    /// Many differences: the estimate sizes a table that peels at the first attempt.
    @Test func manyDifferencesPeelAtTheEstimatedSize() async throws {
        try await withPair(.pepper, count: 6000, seed: 85, dataBytes: 16, consumerHolds: { $0.id % 10 != 3 }) { producer, consumer, _ in  // 600 missing
            var options = options()
            options.plants = [.pepper]
            let report = try await Reconciler(producer: producer, consumer: consumer, options: options).run()
            #expect(report.differences == 600)
            #expect(report.peelFailures == 0)
            #expect(report.rowsCompared <= 2 * 600)
            #expect(try await liveRecords(consumer) == liveRecords(producer))
        }
    }

    /// A table too small for the differences does not peel: merkle takes over and the run still converges.
    @Test func aPeelingFailureFallsBackToMerkleAndConverges() async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                try await Divergence(seed: 87).load(into: producer, consumer)
                let small = options { $0.ibltCells = 3 }
                let first = try await Reconciler(producer: producer, consumer: consumer, options: small).run()
                #expect(first.peelFailures == Plant.lims.count)
                #expect(first.rangesCompared > 0)  // merkle ran
                #expect(try await liveRecords(consumer) == liveRecords(producer))
                let second = try await Reconciler(producer: producer, consumer: consumer, options: options()).run()
                #expect(second.differences == 0)
                #expect(second.peelFailures == 0)
            }
        }
    }

    /// Decoded keys are candidates: a key the tables claim differs but does not is checked against both
    /// sides' versions and nothing is written for it.
    @Test func decodedKeysAreVerifiedBeforeAnyWrite() async throws {
        try await withPair(.potato, count: 400, seed: 89, consumerHolds: { $0.id != 5 }) { producer, consumer, _ in
            // Claims the consumer lacks key 123 (which both hold alike) and holds a key 9999 nobody has.
            let lying = CellInjectingStore(source: producer, extra: [(123, 42), (9999, 7)])
            var options = options { $0.plants = [.potato] }
            options.pageSize = 50
            let report = try await Reconciler(producer: lying, consumer: consumer, options: options).run()
            #expect(report.differences == 1)
            #expect(report.rowsWritten == 1)
            #expect(report.rowsFetched == 1)
            #expect(try await consumer.record(RecordKey(plant: .potato, id: 9999)) == nil)
            #expect(try await liveRecords(consumer) == liveRecords(producer))
        }
    }
}

/// A producer whose IBLT cells also count elements it does not hold (a stand-in for a decoding error).
struct CellInjectingStore: DelegatingDiffSource {
    let source: any DiffSource
    let extra: [(key: Int64, digest: Int64)]

    func cells(of plant: Plant, domain: DigestDomain, shape: IBLT.Shape) async throws -> IBLT.Table {
        var cells = try await source.cells(of: plant, domain: domain, shape: shape)
        cells.add(extra)
        return cells
    }
}
