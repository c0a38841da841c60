import BatchSyncCore
import CountingProxy
import Foundation
import MongoStore
import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// The diff suite on every foreign producer × consumer kind (docs/design.md §3): LIMS's MongoDB
/// documents (the test double, or a real server when `PLANTSYNC_MONGO_URI` names one) and an
/// application's PostgreSQL tables, into PlantSync's PostgreSQL and MongoDB consumers.
enum ForeignProducerKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case limsMongo, limsPostgres
    var description: String { rawValue }
}

enum ConsumerKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case postgres, mongo
    var description: String { rawValue }
}

@Suite struct CrossEngineForeignTests {
    /// A foreign producer with `records` written as its application writes them.
    struct ForeignProducer: Sendable {
        let store: any DiffSource
        let write: @Sendable ([ImageRecord]) async throws -> Void
    }

    func withProducer<T>(_ kind: ForeignProducerKind, _ body: (ForeignProducer) async throws -> T) async throws -> T {
        switch kind {
        case .limsMongo:
            return try await withMongoDouble {
                let producer = try await LimsMongoProducer.create()
                defer { producer.drop() }
                return try await body(ForeignProducer(store: try producer.store(), write: { try await producer.write($0) }))
            }
        case .limsPostgres:
            let producer = try await LimsPostgresProducer.create(shape: .limsTables)
            defer { producer.drop() }
            return try await body(ForeignProducer(store: try producer.store, write: { try await producer.write($0) }))
        }
    }

    func withConsumer<T>(_ kind: ConsumerKind, _ body: (any ConsumerStore) async throws -> T) async throws -> T {
        switch kind {
        case .postgres: return try await withPostgresStore { try await body($0) }
        case .mongo: return try await withMongoStore { try await body($0) }
        }
    }

    func options(_ strategy: SyncStrategy) -> BatchOptions { .small(strategy) }

    /// Millisecond timestamps (what a BSON date keeps) so every producer holds the records exactly;
    /// across engines, changed bytes change their length (what `.metadata` compares).
    static func divergence(seed: UInt64, sameEngine: Bool) -> Divergence {
        Divergence(seed: seed, perPlant: 60, tick: 1000, sameLengthBytes: sameEngine)
    }

    @Test(arguments: ForeignProducerKind.allCases, ConsumerKind.allCases)
    func everyStrategyConvergesInOneRunAndASecondFindsNothing(producer kind: ForeignProducerKind, consumer consumerKind: ConsumerKind)
        async throws
    {
        for strategy in SyncStrategy.allCases {
            try await withProducer(kind) { producer in
                try await withConsumer(consumerKind) { consumer in
                    let sameEngine = (kind == .limsPostgres) == (consumerKind == .postgres)
                    let divergence = Self.divergence(seed: 71, sameEngine: sameEngine)
                    try await producer.write(divergence.producerRecords)
                    _ = try await consumer.apply(divergence.consumer)
                    #expect(try await liveRecords(producer.store) == divergence.producerRecords)

                    let reconciler = Reconciler(producer: producer.store, consumer: consumer, options: options(strategy))
                    let expected: DigestDomain =
                        switch (kind, consumerKind) {
                        case (.limsPostgres, .postgres): .postgres
                        case (.limsMongo, .mongo): .mongo
                        default: .metadata
                        }
                    #expect(try await reconciler.domain() == expected)
                    let held = Set(try await liveRecords(consumer))
                    let first = try await reconciler.run()
                    #expect(first.differences > 0, "\(strategy)")
                    #expect(try await liveRecords(consumer) == divergence.producerRecords, "\(strategy)")
                    if kind == .limsMongo {
                        // Each record the run wrote carries its producer document's `_id` (docs/design.md §2).
                        for (plant, written) in Dictionary(grouping: divergence.producerRecords.filter { !held.contains($0) }, by: \.plant) {
                            let ids = written.map { SourceID(objectID: limsObjectID($0.id)) }
                            let expected = Dictionary(uniqueKeysWithValues: written.map { (SourceID(objectID: limsObjectID($0.id)), $0.id) })
                            #expect(try await consumer.keys(of: plant, sourceIDs: ids) == expected, "\(strategy) \(plant)")
                        }
                    }
                    for key in divergence.hardDeleted { #expect(try await consumer.record(key) == nil, "\(strategy) \(key)") }
                    let second = try await Reconciler(producer: producer.store, consumer: consumer, options: options(strategy)).run()
                    #expect(second.differences == 0, "\(strategy): \(second.jsonLine())")
                    #expect(second.rowsWritten == 0, "\(strategy)")
                }
            }
        }
    }

    /// StreamSync applying newer changes while a run repairs: none is overwritten by an older version.
    @Test(arguments: ForeignProducerKind.allCases, ConsumerKind.allCases)
    func concurrentNewerWritesAreNeverOverwritten(producer kind: ForeignProducerKind, consumer consumerKind: ConsumerKind) async throws {
        try await withProducer(kind) { producer in
            try await withConsumer(consumerKind) { consumer in
                var rng = SplitMix64(seed: 73)
                let records = (1...240).map { id -> ImageRecord in
                    var r = randomRecord(plant: .tomato, id: Int64(id), rng: &rng, tsRange: 1_000...2_000, dataBytes: 64)
                    r.createdAt = Timestamp(microsecondsSinceEpoch: r.createdAt.microsecondsSinceEpoch * 1000)
                    r.updatedAt = r.updatedAt.map { Timestamp(microsecondsSinceEpoch: $0.microsecondsSinceEpoch * 1000) }
                    return r
                }
                try await producer.write(records)
                let newer = records.filter { $0.id % 3 == 0 }.map { record -> ImageRecord in
                    var r = record
                    r.updatedAt = Timestamp(microsecondsSinceEpoch: 10_000_000_000 + record.id * 1000)
                    r.disease = "Streamed"
                    return r
                }
                var options = options(.merkle)
                options.pageSize = 20
                async let run = Reconciler(producer: producer.store, consumer: consumer, options: options).run()
                for chunk in stride(from: 0, to: newer.count, by: 10) {
                    let slice = Array(newer[chunk..<min(chunk + 10, newer.count)])
                    try await producer.write(slice)
                    _ = try await consumer.apply(slice.map { .upsert($0) })
                }
                _ = try await run
                for record in newer { #expect(try await consumer.record(record.key) == record) }
            }
        }
    }
}
