import BatchSyncCore
import PostgresStore
import StoreMetering
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

@Suite struct ReconcilerTests {
    func options(_ strategy: SyncStrategy, _ configure: (inout BatchOptions) -> Void = { _ in }) -> BatchOptions {
        .small(strategy, configure)
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
                let report = try await Reconciler(producer: producer, consumer: consumer, options: options(.merkle) { $0.dryRun = true })
                    .run()
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
                    _ = try await Reconciler(producer: producer, consumer: consumer, options: options(strategy) { $0.deletes = .ignore })
                        .run()
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
                let records = (1...600).map {
                    randomRecord(plant: .tomato, id: Int64($0), rng: &rng, tsRange: 1_000...2_000, dataBytes: 64)
                }
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
                let kept = try await Reconciler(
                    producer: producer, consumer: consumer, options: options(.merkle) { $0.keepConsumerAhead = true }
                ).run()
                #expect(kept.differences == 1)
                #expect(kept.conflictsKept == 1)
                #expect(try await consumer.record(record.key) == ahead)
                let repaired = try await Reconciler(producer: producer, consumer: consumer, options: options(.merkle)).run()
                #expect(repaired.rowsReplaced == 1)
                #expect(try await consumer.record(record.key) == record)
            }
        }
    }

    /// A consumer record whose bytes are not yet known (it arrived through a change without bytes)
    /// differs in digest from the producer's record; the repair writes the producer's record at the
    /// producer's version — the record part is a no-op (equal version), the empty bytes register takes
    /// the bytes — and then nothing differs (docs/design.md §1). Not a conflict: also with
    /// `--keep-consumer-ahead`.
    @Test(arguments: SyncStrategy.allCases, [false, true])
    func bytesNotYetKnownAreFilledFromTheProducer(strategy: SyncStrategy, keepConsumerAhead: Bool) async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 29)
                let records = (1...60).map { randomRecord(plant: .potato, id: Int64($0), rng: &rng, tsRange: 1_000...9_000, dataBytes: 48) }
                _ = try await producer.apply(records.map { .upsert($0) })
                // The consumer saw 12 records only through events without `data`; the rest whole.
                let unknown = Set(records.filter { $0.id % 5 == 0 }.map(\.id))
                _ = try await consumer.apply(records.map { .upsert($0, keepsStoredData: unknown.contains($0.id)) })
                for id in unknown {
                    let key = RecordKey(plant: .potato, id: id)
                    #expect(try await consumer.record(key)?.data == nil)
                    #expect(try await consumer.record(key)?.version == (try await producer.record(key))?.version)
                }
                #expect(try await consumer.summary(of: .potato, in: .all) != (try await producer.summary(of: .potato, in: .all)))

                let repair = options(strategy) { $0.keepConsumerAhead = keepConsumerAhead }
                let dry = try await Reconciler(producer: producer, consumer: consumer, options: options(strategy) { $0.dryRun = true })
                    .run()
                #expect(dry.differences == unknown.count)
                let first = try await Reconciler(producer: producer, consumer: consumer, options: repair).run()
                #expect(first.differences == unknown.count, "\(first.jsonLine())")
                #expect(first.rowsReplaced == 0)
                #expect(first.conflictsKept == 0)
                #expect(try await liveRecords(consumer) == liveRecords(producer))
                let versions = try await consumer.versions(of: .potato, in: .all, pageSize: 100).collect()
                #expect(versions == (try await producer.versions(of: .potato, in: .all, pageSize: 100).collect()))
                #expect(versions.allSatisfy { $0.dataVersion == $0.version })
                #expect(try await consumer.summary(of: .potato, in: .all) == (try await producer.summary(of: .potato, in: .all)))

                let second = try await Reconciler(producer: producer, consumer: consumer, options: repair).run()
                #expect(second.differences == 0, "\(second.jsonLine())")
                #expect(second.rowsWritten == 0)
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
                    producer: producer, consumer: consumer,
                    options: options(.merkle) {
                        $0.leafSize = 256
                        $0.fanout = 16
                        $0.pageSize = 500
                    }
                ).run()
                #expect(merkle.differences == 10)
                #expect(merkle.rowsFetched <= 30)
                #expect(try await liveRecords(consumer) == liveRecords(producer))
                let full = try await Reconciler(
                    producer: producer, consumer: consumer,
                    options: options(.full) {
                        $0.dryRun = true
                        $0.pageSize = 500
                    }
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
