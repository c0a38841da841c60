import Foundation
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// The image bytes as a register of their own (docs/design.md §1), on every engine: the stored bytes
/// are those of the greatest-version change that carried bytes, whatever the order, batching, number
/// of connections and replays; the record keeps the greatest version.
@Suite struct BytesRegisterTests {
    /// Applies `batch`, retrying transient errors (what StreamSync does: two transactions on one key can
    /// deadlock in PostgreSQL, and the one aborted is applied again).
    static func apply(_ batch: [Change], to store: any ConsumerStore) async throws {
        var attempt = 0
        while true {
            do {
                _ = try await store.apply(batch)
                return
            } catch let error as any StoreError where error.isTransient && attempt < 20 {
                attempt += 1
            }
        }
    }

    /// Property: random multisets of whole changes, changes without bytes, Debezium placeholder changes
    /// and deletes — shuffled, partly duplicated, split into random batches, applied through 1, 2 and 3
    /// store connections at once (each connection applies its share of the batches in order, all
    /// connections concurrently) — leave every key with the record of its greatest version and the
    /// bytes of its greatest byte-carrying version, identically in every run.
    @Test(arguments: StoreEngine.allCases, [1, 2, 3, 4, 5, 6] as [UInt64])
    func anyMultisetOrderBatchingAndConnectionCountConverges(engine: StoreEngine, seed: UInt64) async throws {
        let workload = try RegisterWorkload(seed: seed)
        var rng = SplitMix64(seed: seed &* 1_000_003)
        var states: [[Plant: [KeyVersion]]] = []
        for connections in 1...3 {
            var stream = (workload.changes + workload.changes.prefix(Int.random(in: 0...workload.changes.count, using: &rng)))
                .shuffled(using: &rng)
            var shares = [[[Change]]](repeating: [], count: connections)
            var next = 0
            while !stream.isEmpty {
                let n = min(stream.count, Int.random(in: 1...80, using: &rng))
                shares[next % connections].append(Array(stream.prefix(n)))
                stream.removeFirst(n)
                next += 1
            }
            let dealt = shares
            try await engine.withStores(connections) { stores async throws in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (store, batches) in zip(stores, dealt) {
                        group.addTask { for batch in batches { try await Self.apply(batch, to: store) } }
                    }
                    try await group.waitForAll()
                }
                var state: [Plant: [KeyVersion]] = [:]
                for plant in Plant.lims {
                    let (records, versions) = try await snapshot(stores[0], plant)
                    let expected = workload.expected(plant)
                    #expect(records == expected.records, "\(engine) seed \(seed), \(connections) connections: \(plant) records")
                    #expect(versions == expected.versions, "\(engine) seed \(seed), \(connections) connections: \(plant) versions")
                    let live = expected.versions.filter { !$0.isTombstone }
                    #expect(
                        try await stores[0].summary(of: plant, in: .all)
                            == RangeSummary(count: live.count, checksum: RowDigest.checksum(of: live.map(\.digest))))
                    state[plant] = versions
                }
                states.append(state)
            }
        }
        #expect(states.allSatisfy { $0 == states[0] })
    }

    /// The bug of issue 12: a change without bytes that reaches the store before, or in the same batch
    /// as, the create carrying the bytes.
    @Test(arguments: StoreEngine.allCases)
    func aByteLessUpdateBeforeOrWithItsCreateKeepsTheCreatesBytes(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 12)
            let create = randomRecord(plant: .potato, id: 1, rng: &rng, tsRange: 1_000...1_000, dataBytes: 40)
            var update = create
            update.updatedAt = Timestamp(microsecondsSinceEpoch: 2_000)
            update.disease = "Healthy"
            var expected = update
            expected.data = create.data

            // the same batch, in both orders
            #expect(try await store.apply([.upsert(create), .upsert(update, keepsStoredData: true)]).applied == 1)
            #expect(try await store.record(create.key) == expected)
            var second = create
            second.id = 2
            var secondUpdate = update
            secondUpdate.id = 2
            _ = try await store.apply([.upsert(secondUpdate, keepsStoredData: true), .upsert(second)])
            expected.id = 2
            #expect(try await store.record(second.key) == expected)

            // the update first, alone: the record is there, its bytes not yet known …
            var third = create
            third.id = 3
            var thirdUpdate = update
            thirdUpdate.id = 3
            #expect(try await store.apply([.upsert(thirdUpdate, keepsStoredData: true)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.record(third.key)?.data == nil)
            let unknown = try await store.versions(of: .potato, in: KeyRange(lower: 3, upper: 4), pageSize: 1).collect()
            #expect(unknown.first?.dataVersion == nil)
            #expect(unknown.first?.digest == RowDigest.of(version: thirdUpdate.version, dataHash: ImageRecord.unknownDataHash))
            // … then the older create brings them: record unchanged (older), bytes stored
            #expect(try await store.apply([.upsert(third)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            expected.id = 3
            #expect(try await store.record(third.key) == expected)
            let known = try await store.versions(of: .potato, in: KeyRange(lower: 3, upper: 4), pageSize: 1).collect()
            #expect(known == [KeyVersion(id: 3, version: thirdUpdate.version, digest: expected.digest, dataVersion: third.version)])
            // replays change nothing
            #expect(
                try await store.apply([.upsert(third), .upsert(thirdUpdate, keepsStoredData: true)]).totals
                    == ApplyOutcome(applied: 0, skippedStale: 2))
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func theRegisterKeepsTheGreatestByteCarryingVersionAndSurvivesDeletes(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 13)
            let create = randomRecord(plant: .tomato, id: 7, rng: &rng, tsRange: 1_000...1_000, dataBytes: 16)
            var edit = create
            edit.updatedAt = Timestamp(microsecondsSinceEpoch: 3_000)
            edit.data = [7, 7, 7]
            // the newer bytes arrive first: the older create cannot replace them
            _ = try await store.apply([.upsert(edit)])
            #expect(try await store.apply([.upsert(create)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            #expect(try await store.record(create.key)?.data == [7, 7, 7])
            // a delete hides the record and leaves the register as it is (docs/design.md §1) …
            _ = try await store.apply([.delete(create.key, at: Timestamp(microsecondsSinceEpoch: 4_000))])
            #expect(try await store.record(create.key) == nil)
            let tombstone = try await store.versions(of: .tomato, in: .all, pageSize: 5).collect()
            #expect(tombstone == [KeyVersion(id: 7, version: .delete(ts: 4_000), digest: 0, dataVersion: edit.version)])
            // … so a later byte-less upsert finds the bytes of the greatest version that carried them
            var reborn = create
            reborn.updatedAt = Timestamp(microsecondsSinceEpoch: 5_000)
            reborn.isDeleted = true
            #expect(try await store.apply([.upsert(reborn, keepsStoredData: true)]).applied == 1)
            var expected = reborn
            expected.data = [7, 7, 7]
            #expect(try await store.record(create.key) == expected)
            // null is bytes too: a whole record with `data: null` empties them, a later byte-less one keeps null
            var cleared = reborn
            cleared.updatedAt = Timestamp(microsecondsSinceEpoch: 6_000)
            cleared.data = nil
            _ = try await store.apply([.upsert(cleared)])
            let afterNull = try await store.versions(of: .tomato, in: .all, pageSize: 5).collect()
            #expect(afterNull == [KeyVersion(id: 7, version: cleared.version, digest: cleared.digest, dataVersion: cleared.version)])
        }
    }

    /// Debezium's unavailable-value placeholder through the real decoder is "not carried".
    @Test(arguments: StoreEngine.allCases)
    func aDebeziumPlaceholderKeepsTheStoredBytes(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 14)
            let create = randomRecord(plant: .pepper, id: 4, rng: &rng, tsRange: 1_000...1_000, dataBytes: 30)
            var update = create
            update.updatedAt = Timestamp(microsecondsSinceEpoch: 9_000)
            update.percentage = 0.5
            let placeholder = try RegisterWorkload.debeziumPlaceholder(update)
            // the placeholder update first, then the create (another batch, as a replay would bring it)
            _ = try await store.apply([placeholder])
            _ = try await store.apply([.upsert(create)])
            var expected = update
            expected.data = create.data
            #expect(try await store.record(create.key) == expected)
            #expect(try await store.record(create.key)?.data != Array(UnavailableValuePlaceholder.debeziumDefault.utf8))
        }
    }

    /// Upserts that keep record fields (Debezium placeholders in `disease`, `gps_coordinates`) rank
    /// below the whole record of their `ts`, take the kept fields from the live stored record, and never
    /// create or resurrect one.
    @Test(arguments: StoreEngine.allCases)
    func upsertsKeepingRecordFieldsUpdateLiveRecordsOnly(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 15)
            let create = randomRecord(plant: .potato, id: 5, rng: &rng, tsRange: 1_000...1_000, dataBytes: 12)
            _ = try await store.apply([.upsert(create)])
            var update = create
            update.updatedAt = Timestamp(microsecondsSinceEpoch: 2_000)
            update.cameraId = create.cameraId + 1
            update.disease = "would be the placeholder"
            update.latitude = 1
            let keeping = Change.upsert(update, keeping: [.disease, .data])
            #expect(try await store.apply([keeping]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            var merged = update
            merged.disease = create.disease
            merged.data = create.data
            #expect(try await store.record(create.key) == merged)
            #expect(try await store.versions(of: .potato, in: .all, pageSize: 5).collect().map(\.version) == [keeping.version])
            #expect(try await store.apply([keeping]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            // the whole record of the same ts (BatchSync reading the producer) beats it
            #expect(try await store.apply([.upsert(update)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            var whole = update
            whole.data = create.data
            #expect(try await store.record(create.key) == whole)
            #expect(try await store.apply([keeping]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            // kept coordinates, with bytes, in the same batch as an older whole record: applied after it
            var moved = update
            moved.updatedAt = Timestamp(microsecondsSinceEpoch: 3_000)
            moved.isActive.toggle()
            moved.data = [1, 2]
            var older = update
            older.disease = "Late Blight"
            older.latitude = 2
            older.updatedAt = Timestamp(microsecondsSinceEpoch: 2_500)
            _ = try await store.apply([.upsert(moved, keeping: .gpsCoordinates), .upsert(older, keepsStoredData: true)])
            var expected = moved
            expected.latitude = older.latitude
            expected.longitude = older.longitude
            #expect(try await store.record(create.key) == expected)

            // on a key never seen, nothing is created (its bytes neither: there is no row to hold them)
            var absent = randomRecord(plant: .potato, id: 6, rng: &rng)
            absent.updatedAt = Timestamp(microsecondsSinceEpoch: 2_000_000)
            #expect(try await store.apply([.upsert(absent, keeping: .gpsCoordinates)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            #expect(try await store.versions(of: .potato, in: KeyRange(lower: 6, upper: 7), pageSize: 5).collect().isEmpty)
            // on a tombstone, the record stays deleted; bytes it carries enter the register
            _ = try await store.apply([.delete(create.key, at: Timestamp(microsecondsSinceEpoch: 10_000))])
            var late = moved
            late.updatedAt = Timestamp(microsecondsSinceEpoch: 20_000)
            late.data = [9]
            #expect(try await store.apply([.upsert(late, keeping: .disease)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.record(create.key) == nil)
            var reborn = late
            reborn.updatedAt = Timestamp(microsecondsSinceEpoch: 30_000)
            _ = try await store.apply([.upsert(reborn, keepsStoredData: true)])
            #expect(try await store.record(create.key)?.data == [9])
        }
    }

    /// The purge deletes only tombstones older than the cutoff, `batchSize` per statement, until none
    /// is left.
    @Test(arguments: StoreEngine.allCases)
    func purgeRemovesOnlyOldTombstonesInSeveralBatches(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 16)
            var changes: [Change] = []
            var live: [RecordKey] = []
            var recent: [RecordKey] = []
            for id in 1...Int64(40) {
                let plant = Plant.lims[Int(id) % 3]
                let record = randomRecord(plant: plant, id: id, rng: &rng, tsRange: 0...100)
                changes.append(.upsert(record))
                switch id % 4 {
                case 0: live.append(record.key)
                case 1:
                    recent.append(record.key)
                    changes.append(.delete(record.key, at: Timestamp(microsecondsSinceEpoch: 5_000 + id)))
                default: changes.append(.delete(record.key, at: Timestamp(microsecondsSinceEpoch: 1_000 + id)))
                }
            }
            _ = try await store.apply(changes)
            let cutoff = Timestamp(microsecondsSinceEpoch: 5_000)
            await #expect(throws: (any Error).self) { try await store.purgeTombstones(olderThan: cutoff, batchSize: 0) }
            #expect(try await store.purgeTombstones(olderThan: cutoff, batchSize: 3) == 20)
            #expect(try await store.purgeTombstones(olderThan: cutoff, batchSize: 3) == 0)
            var remaining: [RecordKey] = []
            for plant in Plant.lims {
                remaining += try await store.versions(of: plant, in: .all, pageSize: 100).collect().map {
                    RecordKey(plant: plant, id: $0.id)
                }
            }
            #expect(Set(remaining) == Set(live + recent))
            for key in live { #expect(try await store.record(key) != nil) }
            #expect(try await store.purgeTombstones(olderThan: Timestamp(microsecondsSinceEpoch: Int64.max), batchSize: 4) == recent.count)
        }
    }
}
