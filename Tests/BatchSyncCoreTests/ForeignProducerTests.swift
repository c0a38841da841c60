import BatchSyncCore
import Foundation
import LibPQ
import PostgresStore
import StoreMetering
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// The diff suite on a producer PlantSync did not write (docs/design.md §3): an application's
/// PostgreSQL tables, in LIMS's layout and in one of its own, read through `ForeignPostgresStore`.
@Suite struct ForeignProducerTests {
    func options(_ strategy: SyncStrategy, _ configure: (inout BatchOptions) -> Void = { _ in }) -> BatchOptions {
        .small(strategy, configure)
    }

    func withProducer<T>(_ shape: LimsPostgresProducer.Shape, _ body: (LimsPostgresProducer) async throws -> T) async throws -> T {
        let producer = try await LimsPostgresProducer.create(shape: shape)
        defer { producer.drop() }
        return try await body(producer)
    }

    @Test(arguments: SyncStrategy.allCases, LimsPostgresProducer.Shape.allCases)
    func oneRunConvergesAndASecondFindsNothing(strategy: SyncStrategy, shape: LimsPostgresProducer.Shape) async throws {
        try await withProducer(shape) { tables in
            try await withPostgresStore { consumer in
                let divergence = Divergence(seed: 41)
                try await divergence.load(into: tables, consumer)
                let producer = try tables.store
                #expect(try await liveRecords(producer) == divergence.producerRecords)
                #expect(try await liveRecords(consumer) != liveRecords(producer))

                let reconciler = Reconciler(producer: producer, consumer: consumer, options: options(strategy))
                #expect(try await reconciler.domain() == .postgres)
                let first = try await reconciler.run()
                #expect(first.differences > 0)
                #expect(try await liveRecords(consumer) == liveRecords(producer))
                for key in divergence.hardDeleted { #expect(try await consumer.record(key) == nil) }

                let second = try await Reconciler(producer: producer, consumer: consumer, options: options(strategy)).run()
                #expect(second.differences == 0, "\(second.jsonLine())")
                #expect(second.rowsWritten == 0)
            }
        }
    }

    /// Digests computed in SQL from the application's columns equal those PlantSync's table computes
    /// from its own, for every range of every split: a converged range is decided without reading it.
    @Test(arguments: LimsPostgresProducer.Shape.allCases, [DigestDomain.postgres, .metadata])
    func digestsAgreeWithPlantSyncsStore(shape: LimsPostgresProducer.Shape, domain: DigestDomain) async throws {
        try await withProducer(shape) { tables in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 43)
                let records = (1...90).map { randomRecord(plant: .tomato, id: Int64($0 * 3), rng: &rng, dataBytes: 40) }
                try await tables.write(records)
                _ = try await consumer.apply(records.map { .upsert($0) })
                let producer = try tables.store
                for parts in [1, 2, 7, 40] {
                    let ranges = KeyRange(lower: 1, upper: 300).split(into: parts)
                    let p = try await producer.summaries(of: .tomato, in: ranges, domain: domain)
                    #expect(p == (try await consumer.summaries(of: .tomato, in: ranges, domain: domain)), "\(parts) parts")
                    #expect(p.map(\.count).reduce(0, +) == records.count)
                    if parts == 1 {
                        // One range takes the plain (parallel) aggregate; with a second range beside it,
                        // the per-range one: the same sums on both sides.
                        let two = ranges + [KeyRange(lower: 300, upper: 301)]
                        #expect(try await producer.summaries(of: .tomato, in: two, domain: domain)[0] == p[0])
                        #expect(try await consumer.summaries(of: .tomato, in: two, domain: domain)[0] == p[0])
                    }
                }
                let pv = try await producer.versions(of: .tomato, in: .all, pageSize: 13, domain: domain).collect()
                let cv = try await consumer.versions(of: .tomato, in: .all, pageSize: 13, domain: domain).collect()
                #expect(pv.map(\.id) == records.map(\.id))
                #expect(pv.map(\.version) == records.map(\.version))
                #expect(pv.map(\.digest) == cv.map(\.digest))
                if domain == .metadata { #expect(pv.map(\.digest) == records.map(MetadataDigest.of)) }
                // One field or one byte changed: that range's checksum differs.
                var changed = records[10]
                changed.data![5] ^= 1
                try await tables.write(changed)
                let after = try await producer.summaries(of: .tomato, in: KeyRange(lower: 1, upper: 300).split(into: 7), domain: domain)
                let consumerSums = try await consumer.summaries(
                    of: .tomato, in: KeyRange(lower: 1, upper: 300).split(into: 7), domain: domain)
                #expect(zip(after, consumerSums).filter { $0 != $1 }.count == (domain == .postgres ? 1 : 0))
            }
        }
    }

    /// The producer is the user's system of record: BatchSync runs under a role that may only `SELECT`,
    /// and every strategy still converges; writes are refused before they reach the server.
    @Test func runsUnderASelectOnlyRole() async throws {
        try await withProducer(.limsTables) { tables in
            try await withPostgresStore { consumer in
                let role = "reader_\(tables.schema)"
                try tables.execute("CREATE ROLE \(role) LOGIN")
                try tables.execute("GRANT USAGE ON SCHEMA \(tables.schema) TO \(role)")
                try tables.execute("GRANT SELECT ON ALL TABLES IN SCHEMA \(tables.schema) TO \(role)")
                defer {
                    try? tables.execute("DROP OWNED BY \(role)")
                    try? tables.execute("DROP ROLE \(role)")
                }
                let divergence = Divergence(seed: 47, perPlant: 60)
                try await divergence.load(into: tables, consumer)
                let readOnly = try ForeignPostgresStore(
                    .init(conninfo: tables.uri.replacingUser(with: role), layout: tables.layout))
                try await readOnly.verifyLayout()
                for strategy in SyncStrategy.allCases {
                    _ = try await Reconciler(producer: readOnly, consumer: consumer, options: options(strategy)).run()
                    #expect(try await liveRecords(consumer) == divergence.producerRecords, "\(strategy)")
                }
                // Read-only by type: a foreign producer offers no write at all (docs/design.md §3).
                #expect(!((readOnly as Any) is any ChangeApplier) && !((readOnly as Any) is any SyncStateStore))
            }
        }
    }

    /// StreamSync applying newer changes while a run repairs: none is overwritten by an older version.
    @Test(arguments: SyncStrategy.allCases)
    func concurrentNewerWritesAreNeverOverwritten(strategy: SyncStrategy) async throws {
        try await withProducer(.applicationTable) { tables in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 53)
                let records = (1...400).map {
                    randomRecord(plant: .tomato, id: Int64($0), rng: &rng, tsRange: 1_000...2_000, dataBytes: 64)
                }
                try await tables.write(records)
                let newer = records.filter { $0.id % 3 == 0 }.map { record -> ImageRecord in
                    var r = record
                    r.updatedAt = Timestamp(microsecondsSinceEpoch: 10_000_000 + record.id)
                    r.disease = "Streamed"
                    return r
                }
                let producer = try tables.store
                let reconciler = Reconciler(producer: producer, consumer: consumer, options: options(strategy) { $0.pageSize = 20 })
                async let run = reconciler.run()
                for chunk in stride(from: 0, to: newer.count, by: 10) {
                    let slice = Array(newer[chunk..<min(chunk + 10, newer.count)])
                    try await tables.write(slice)
                    _ = try await consumer.apply(slice.map { .upsert($0) })
                }
                _ = try await run
                for record in newer { #expect(try await consumer.record(record.key) == record) }
                for record in records where record.id % 3 != 0 { #expect(try await consumer.record(record.key) == record) }
            }
        }
    }

    /// A missing table or column is a clear error naming it and the flag that maps it.
    @Test func aMissingColumnIsNamed() async throws {
        try await withProducer(.limsTables) { tables in
            var layout = tables.layout
            layout.renamed[.disease] = "diagnosis"
            let store = try ForeignPostgresStore(.init(conninfo: tables.uri, layout: layout))
            do {
                _ = try await store.count(of: .potato)
                Issue.record("expected an error")
            } catch {
                #expect("\(error)".contains("no column 'diagnosis' for field disease"))
                #expect("\(error)".contains("--producer-field disease=COLUMN"))
            }
            let absent = try ForeignPostgresStore(
                .init(conninfo: tables.uri, layout: ForeignLayout(container: "\(tables.schema).nothing_{plant}")))
            await #expect(throws: PostgresStoreError.self) { try await absent.verifyLayout() }
        }
    }
}

extension String {
    /// The libpq URI with `user=` (query form, as the test server's URI has it) set to `user`.
    func replacingUser(with user: String) -> String {
        guard let range = range(of: "user=") else { return self + "&user=\(user)" }
        let end = self[range.upperBound...].firstIndex(of: "&") ?? endIndex
        return replacingCharacters(in: range.upperBound..<end, with: user)
    }
}
