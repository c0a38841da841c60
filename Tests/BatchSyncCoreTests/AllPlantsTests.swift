import BatchSyncCore
import Foundation
import MongoStore
import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// `--plants all` (docs/design.md §3): the plants the producer has united with those the consumer
/// holds, asked at every run; a plant only the consumer holds is reconciled as one the producer lost.
@Suite struct AllPlantsTests {
    static let cucumber = Plant(rawValue: "cucumber")!
    static let kale = Plant(rawValue: "kale")!

    enum Producer: String, CaseIterable, CustomStringConvertible, Sendable {
        /// LIMS's MongoDB collections (`imagecolplant<plant>`).
        case limsMongo
        /// An application's PostgreSQL tables, one per plant (`schema.imagecolplant{plant}`).
        case limsTables
        /// One PostgreSQL table with a plant column: its plants are the column's values.
        case applicationTable
        var description: String { rawValue }
    }

    struct ForeignProducer: Sendable {
        let store: any DiffSource
        let write: @Sendable ([ImageRecord]) async throws -> Void
    }

    /// A producer whose per-plant containers are LIMS's three and cucumber (no kale).
    func withProducer<T>(_ kind: Producer, _ body: (ForeignProducer) async throws -> T) async throws -> T {
        let plants = Plant.lims + [Self.cucumber]
        switch kind {
        case .limsMongo:
            return try await withMongoDouble {
                let producer = try await LimsMongoProducer.create(plants: plants)
                defer { producer.drop() }
                return try await body(ForeignProducer(store: try producer.store(), write: { try await producer.write($0) }))
            }
        case .limsTables, .applicationTable:
            let producer = try await LimsPostgresProducer.create(shape: kind == .limsTables ? .limsTables : .applicationTable, plants: plants)
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

    @Test(arguments: Producer.allCases, ConsumerKind.allCases)
    func allIsTheProducersPlantsAndTheConsumersAndOneRunConverges(producer kind: Producer, consumer consumerKind: ConsumerKind)
        async throws
    {
        try await withProducer(kind) { producer in
            try await withConsumer(consumerKind) { consumer in
                let sameEngine = (kind == .limsMongo) == (consumerKind == .mongo)
                let divergence = Divergence(
                    seed: 83, perPlant: 30, tick: 1000, sameLengthBytes: sameEngine, plants: [Self.cucumber, .potato])
                try await producer.write(divergence.producerRecords)
                _ = try await consumer.apply(divergence.consumer)
                // Kale: in the consumer only (LIMS stopped imaging it and dropped its collection).
                var rng = SplitMix64(seed: 84)
                let kale = (1...7).map { id -> ImageRecord in
                    var r = randomRecord(plant: Self.kale, id: Int64(id), rng: &rng, tsRange: 1_000...2_000)
                    r.createdAt = Timestamp(microsecondsSinceEpoch: r.createdAt.microsecondsSinceEpoch * 1000)
                    r.updatedAt = nil
                    return r
                }
                _ = try await consumer.apply(kale.map { .upsert($0) })

                var options = BatchOptions.small(.merkle)
                options.plants = .all
                let held = kind == .applicationTable ? [Self.cucumber, .potato] : [Self.cucumber, .pepper, .potato, .tomato]
                #expect(try await producer.store.plants() == held)
                #expect(try await consumer.plants().contains(Self.kale))
                let first = try await Reconciler(producer: producer.store, consumer: consumer, options: options).run()
                #expect(first.plants == (held + [Self.kale]).sorted().map(\.rawValue), "\(first.jsonLine())")
                #expect(first.differences > 0)
                #expect(try await liveRecords(consumer, plants: [Self.cucumber, .potato]) == divergence.producerRecords)
                for key in divergence.hardDeleted { #expect(try await consumer.record(key) == nil, "\(key)") }
                #expect(try await consumer.count(of: Self.kale) == 0)
                let second = try await Reconciler(producer: producer.store, consumer: consumer, options: options).run()
                #expect(second.differences == 0, "\(second.jsonLine())")
                #expect(second.rowsWritten == 0)
            }
        }
    }

    /// Every strategy reconciles a plant the producer lost (its records tombstoned, `--deletes
    /// propagate`) and leaves it alone with `--deletes ignore` or in a dry run.
    @Test(arguments: SyncStrategy.allCases)
    func aPlantTheProducerLostIsReconciledByEveryStrategy(strategy: SyncStrategy) async throws {
        try await withProducer(.limsTables) { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 85)
                let kale = (1...40).map { randomRecord(plant: Self.kale, id: Int64($0), rng: &rng, tsRange: 1_000...2_000) }
                _ = try await consumer.apply(kale.map { .upsert($0) })
                var options = BatchOptions.small(strategy)
                options.plants = .all
                options.dryRun = true
                let dry = try await Reconciler(producer: producer.store, consumer: consumer, options: options).run()
                #expect(dry.differences == 40, "\(dry.jsonLine())")
                options.dryRun = false
                options.deletes = .ignore
                _ = try await Reconciler(producer: producer.store, consumer: consumer, options: options).run()
                #expect(try await consumer.count(of: Self.kale) == 40)
                options.deletes = .propagate
                let run = try await Reconciler(producer: producer.store, consumer: consumer, options: options).run()
                #expect(run.rowsDeleted == 40, "\(run.jsonLine())")
                #expect(try await consumer.count(of: Self.kale) == 0)
            }
        }
    }

    /// A producer that has no plant (a wrong URI, schema or table pattern looks just like a producer
    /// that lost everything) stops the run before anything is tombstoned.
    @Test func aProducerWithoutPlantsIsAnErrorNotADeleteOfEveryPlant() async throws {
        let tables = try await LimsPostgresProducer.create(shape: .limsTables)
        defer { tables.drop() }
        try await withPostgresStore { consumer in
            var rng = SplitMix64(seed: 86)
            _ = try await consumer.apply((1...5).map { .upsert(randomRecord(plant: .potato, id: Int64($0), rng: &rng)) })
            let wrong = try ForeignPostgresStore(.init(conninfo: tables.uri, layout: ForeignLayout(container: "\(tables.schema).images_{plant}")))
            #expect(try await wrong.plants() == [])
            var options = BatchOptions.small(.merkle)
            options.plants = .all
            let error = await #expect(throws: BatchOptionsError.self) {
                try await Reconciler(producer: wrong, consumer: consumer, options: options).run()
            }
            #expect(error?.description.hasPrefix("--plants all: the producer has no plant") == true, "\(String(describing: error))")
            #expect(try await consumer.count(of: .potato) == 5)
            await #expect(throws: PostgresStoreError.self) { try await wrong.verifyLayout() }
        }
    }
}
