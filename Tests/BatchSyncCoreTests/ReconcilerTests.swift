import SyncBenchCore
import BatchSyncCore
import PostgresStore
import StoreMetering
import SyncModel
import Testing
import TestSupport

@Suite struct ReconcilerTests {
    func options(_ strategy: SyncStrategy, _ configure: (inout BatchOptions) -> Void = { _ in }) -> BatchOptions {
        var options = BatchOptions()
        options.strategy = strategy
        options.leafSize = 16
        options.fanout = 4
        options.pageSize = 50
        configure(&options)
        return options
    }

    @Test(arguments: SyncStrategy.allCases, [UInt64(1), 2])
    func oneRunConvergesAndASecondFindsNothing(strategy: SyncStrategy, seed: UInt64) async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                let divergence = Divergence(seed: seed)
                try await divergence.load(into: producer, consumer)
                #expect(try await liveRecords(consumer) != liveRecords(producer))

                let first = try await Reconciler(producer: producer, consumer: consumer, options: options(strategy)).run()
                #expect(first.differences > 0)
                #expect(try await liveRecords(consumer) == liveRecords(producer))
                for key in divergence.hardDeleted { #expect(try await consumer.record(key) == nil) }

                let second = try await Reconciler(producer: producer, consumer: consumer, options: options(strategy)).run()
                #expect(second.differences == 0, "\(second.jsonLine())")
                #expect(second.rowsWritten == 0)
                #expect(try await liveRecords(consumer) == liveRecords(producer))
            }
        }
    }

    @Test func dryRunReportsWithoutWriting() async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                try await Divergence(seed: 3).load(into: producer, consumer)
                let before = try await liveRecords(consumer)
                let report = try await Reconciler(producer: producer, consumer: consumer, options: options(.merkle) { $0.dryRun = true }).run()
                #expect(report.differences > 0)
                #expect(report.rowsWritten == 0)
                #expect(report.consumer.rowsWritten == 0)
                #expect(try await liveRecords(consumer) == before)
            }
        }
    }

    @Test func ignoringDeletesKeepsConsumerRows() async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 5)
                let kept = randomRecord(plant: .potato, id: 9, rng: &rng)
                _ = try await consumer.apply([.upsert(kept)])
                for strategy in SyncStrategy.allCases {
                    _ = try await Reconciler(producer: producer, consumer: consumer, options: options(strategy) { $0.deletes = .ignore }).run()
                    #expect(try await consumer.record(kept.key) == kept)
                }
                _ = try await Reconciler(producer: producer, consumer: consumer, options: options(.merkle)).run()
                #expect(try await consumer.record(kept.key) == nil)
            }
        }
    }

    /// StreamSync applying the producer's newer changes while a run repairs: none is overwritten by an
    /// older version, whichever order the run's reads and the stream's writes interleave in.
    @Test(arguments: SyncStrategy.allCases)
    func concurrentNewerWritesAreNeverOverwritten(strategy: SyncStrategy) async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 17)
                let records = (1...600).map { randomRecord(plant: .tomato, id: Int64($0), rng: &rng, tsRange: 1_000...2_000, dataBytes: 64) }
                _ = try await producer.apply(records.map { .upsert($0) })
                // Newer versions of every third key: written to the producer, then streamed to the consumer.
                let newer = records.filter { $0.id % 3 == 0 }.map { record -> ImageRecord in
                    var r = record
                    r.updatedAt = Timestamp(microsecondsSinceEpoch: 10_000_000 + record.id)
                    r.disease = "Streamed"
                    return r
                }
                let reconciler = Reconciler(producer: producer, consumer: consumer, options: options(strategy) { $0.pageSize = 20 })
                async let run = reconciler.run()
                for chunk in stride(from: 0, to: newer.count, by: 10) {
                    let changes = newer[chunk..<min(chunk + 10, newer.count)].map { Change.upsert($0) }
                    _ = try await producer.apply(changes)
                    _ = try await consumer.apply(changes)
                }
                _ = try await run
                for record in newer {
                    #expect(try await consumer.record(record.key) == record)
                }
                for record in records where record.id % 3 != 0 {
                    #expect(try await consumer.record(record.key) == record)
                }
            }
        }
    }

    /// A consumer version the producer never had is a divergence: repaired by default, kept on request.
    @Test func consumerAheadIsRepairedOrKeptOnRequest() async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 19)
                let record = randomRecord(plant: .potato, id: 4, rng: &rng, tsRange: 1_000...1_000)
                var ahead = record
                ahead.updatedAt = Timestamp(microsecondsSinceEpoch: 9_000)
                _ = try await producer.apply([.upsert(record)])
                _ = try await consumer.apply([.upsert(ahead)])
                let kept = try await Reconciler(producer: producer, consumer: consumer, options: options(.merkle) { $0.keepConsumerAhead = true }).run()
                #expect(kept.differences == 1)
                #expect(kept.conflictsKept == 1)
                #expect(try await consumer.record(record.key) == ahead)
                let repaired = try await Reconciler(producer: producer, consumer: consumer, options: options(.merkle)).run()
                #expect(repaired.rowsReplaced == 1)
                #expect(try await consumer.record(record.key) == record)
            }
        }
    }

    /// A run that dies halfway leaves a state the next run completes.
    @Test(arguments: SyncStrategy.allCases)
    func aRunKilledHalfwayIsCompletedByTheNext(strategy: SyncStrategy) async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                try await Divergence(seed: 11, perPlant: 200).load(into: producer, consumer)
                let failing = FailingStore(consumer, failAfterWrites: 3)
                await #expect(throws: InjectedFailure.self) {
                    try await Reconciler(producer: producer, consumer: failing, options: options(strategy) { $0.pageSize = 10 }).run()
                }
                #expect(failing.writes >= 3)
                _ = try await Reconciler(producer: producer, consumer: consumer, options: options(strategy)).run()
                #expect(try await liveRecords(consumer) == liveRecords(producer))
            }
        }
    }

    /// Merkle moves bytes in proportion to the differences, not the table: 100k records, 10 differ.
    @Test func merkleBytesScaleWithDifferencesNotTableSize() async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 23)
                let total = 100_000
                var changed: [ImageRecord] = []
                for start in stride(from: 1, through: total, by: 2500) {
                    let batch = (start..<(start + 2500)).map { randomRecord(plant: .pepper, id: Int64($0), rng: &rng, dataBytes: 512) }
                    _ = try await producer.apply(batch.map { .upsert($0) })
                    var copy = batch
                    if changed.count < 10 {
                        copy[1234].disease = "Diverged"
                        copy[1234].updatedAt = Timestamp(microsecondsSinceEpoch: 5_000_000)
                        changed.append(copy[1234])
                    }
                    _ = try await consumer.apply(copy.map { .upsert($0) })
                }
                #expect(changed.count == 10)
                let merkle = try await Reconciler(
                    producer: producer, consumer: consumer, options: options(.merkle) { $0.leafSize = 256; $0.fanout = 16; $0.pageSize = 500 }
                ).run()
                #expect(merkle.differences == 10)
                #expect(merkle.rowsFetched <= 30)
                #expect(try await liveRecords(consumer) == liveRecords(producer))
                let full = try await Reconciler(
                    producer: producer, consumer: consumer, options: options(.full) { $0.dryRun = true; $0.pageSize = 500 }
                ).run()
                #expect(full.rowsFetched == total)
                let merkleBytes = merkle.producer.bytesRead + merkle.consumer.bytesRead + merkle.consumer.bytesWritten
                let fullBytes = full.producer.bytesRead + full.consumer.bytesRead
                #expect(merkleBytes * 50 < fullBytes, "merkle \(merkleBytes) B vs full \(fullBytes) B")
            }
        }
    }

    @Test func optionsAreValidatedWithTheirNames() {
        var options = BatchOptions()
        options.fanout = 1
        #expect(throws: BatchOptionsError.self) { try options.validate() }
        #expect((try? options.validate()) == nil)
        do { try options.validate() } catch { #expect(error.description == "--fanout 1: must be within 2…1024") }
        options.fanout = 16
        options.pageSize = 0
        do { try options.validate() } catch { #expect(error.option == "page-size") }
    }

    @Test func reportIsOneJSONLine() throws {
        var report = RunReport(strategy: .merkle, plants: [.potato], dryRun: false)
        report.rowsWritten = 3
        let line = report.jsonLine()
        #expect(!line.contains("\n"))
        #expect(line.contains(#""rows_written":3"#))
        #expect(line.contains(#""strategy":"merkle""#))
    }
}
