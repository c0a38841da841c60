import Foundation
import LibPQ
import PostgresStore
import SyncModel
import Testing

@Suite struct PostgresStoreTests {
    @Test func schemaPreparationIsIdempotentAndConcurrent() async throws {
        try await withStore { store async throws in
            try await store.prepareSchema()
            let twin = try PostgresStore(store.configuration)
            async let a: Void = store.prepareSchema()
            async let b: Void = twin.prepareSchema()
            _ = try await (a, b)
            #expect(try await store.count(of: .potato) == 0)
        }
    }

    @Test func rejectsInvalidConfiguration() {
        for schema in ["", "Plant", "1abc", "a-b", "x;drop", String(repeating: "a", count: 64)] {
            let error = #expect(throws: PostgresStoreError.self) { try PostgresStore(.init(conninfo: "", schema: schema)) }
            #expect(error?.message.contains("'\(schema)'") == true)
            #expect(error?.isTransient == false)
        }
        #expect(throws: PostgresStoreError.self) { try PostgresStore(.init(conninfo: "", maxRowsPerStatement: 0)) }
    }

    @Test func unreachableServerIsATransientStoreError() async throws {
        let store = try PostgresStore(.init(conninfo: "postgresql:///x?host=/nonexistent-plantsync&connect_timeout=1"))
        let error = await #expect(throws: PostgresStoreError.self) { try await store.count(of: .tomato) }
        #expect(error?.isTransient == true)
        #expect(error?.operation == "count tomato")
    }

    @Test func roundTripsRecordsExactly() async throws {
        try await withStore { store async throws in
            var rng = SplitMix64(seed: 11)
            var records = (1...50).map { randomRecord(plant: .pepper, id: $0, rng: &rng) }
            records[0].data = nil
            records[1].data = []
            records[2].disease = "'); DROP TABLE image_record; --"
            let outcome = try await store.apply(records.map { Change.upsert($0) })
            #expect(outcome == ApplyOutcome(applied: 50, skippedStale: 0))
            for record in records {
                let stored = try await store.record(record.key)
                #expect(stored == record)
                #expect(stored?.version == record.version)
            }
            #expect(try await store.count(of: .pepper) == 50)
            #expect(try await store.count(of: .potato) == 0)
            #expect(try await store.record(RecordKey(plant: .potato, id: 1)) == nil)
            #expect(try await store.idBounds(of: .pepper) == KeyRange(lower: 1, upper: 51))
            #expect(try await store.idBounds(of: .tomato) == nil)
        }
    }

    @Test func versionRuleSkipsStaleAndEqualChanges() async throws {
        try await withStore { store async throws in
            var rng = SplitMix64(seed: 5)
            let old = randomRecord(plant: .tomato, id: 1, rng: &rng, tsRange: 100...100)
            var new = old
            new.updatedAt = Timestamp(microsecondsSinceEpoch: 500)
            new.disease = "Healthy"
            #expect(try await store.apply([.upsert(new)]) == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.apply([.upsert(old)]) == ApplyOutcome(applied: 0, skippedStale: 1))
            #expect(try await store.apply([.upsert(new)]) == ApplyOutcome(applied: 0, skippedStale: 1))
            #expect(try await store.record(new.key) == new)
            // Within one batch, duplicates and older versions count as skipped.
            var newer = new
            newer.updatedAt = Timestamp(microsecondsSinceEpoch: 900)
            #expect(try await store.apply([.upsert(old), .upsert(newer), .upsert(new), .upsert(newer)]) == ApplyOutcome(applied: 1, skippedStale: 3))
            #expect(try await store.record(new.key) == newer)
        }
    }

    @Test func tombstonesWinTiesAndHideRows() async throws {
        try await withStore { store async throws in
            var rng = SplitMix64(seed: 9)
            let record = randomRecord(plant: .potato, id: 7, rng: &rng)
            let ts = record.versionTimestamp
            // upsert then delete at the same ts: the delete wins
            _ = try await store.apply([.upsert(record)])
            _ = try await store.apply([.delete(record.key, at: ts)])
            #expect(try await store.record(record.key) == nil)
            #expect(try await store.count(of: .potato) == 0)
            #expect(try await store.records(of: .potato, ids: [7], pageSize: 10).collect().isEmpty)
            #expect(try await store.summary(of: .potato, in: .all) == .empty)
            // the same upsert again (replay) stays hidden; an older one too
            #expect(try await store.apply([.upsert(record)]).applied == 0)
            // a delete that arrives first also beats the upsert of equal ts
            let other = randomRecord(plant: .potato, id: 8, rng: &rng)
            _ = try await store.apply([.delete(other.key, at: other.versionTimestamp)])
            #expect(try await store.apply([.upsert(other)]).skippedStale == 1)
            #expect(try await store.record(other.key) == nil)
            let versions = try await store.versions(of: .potato, in: .all, pageSize: 10).collect()
            #expect(versions.map(\.id) == [7, 8])
            #expect(versions.allSatisfy { $0.isTombstone })
            // a newer upsert resurrects the key
            var reborn = record
            reborn.updatedAt = Timestamp(microsecondsSinceEpoch: ts.microsecondsSinceEpoch + 1)
            #expect(try await store.apply([.upsert(reborn)]).applied == 1)
            #expect(try await store.record(record.key) == reborn)
            // purge removes old tombstones only
            #expect(try await store.purgeTombstones(olderThan: Timestamp(microsecondsSinceEpoch: other.versionTimestamp.microsecondsSinceEpoch)) == 0)
            #expect(try await store.purgeTombstones(olderThan: Timestamp(microsecondsSinceEpoch: Int64.max)) == 1)
            #expect(try await store.versions(of: .potato, in: .all, pageSize: 10).collect().map(\.id) == [7])
        }
    }

    @Test func upsertWithoutDataKeepsStoredBytes() async throws {
        try await withStore { store async throws in
            var rng = SplitMix64(seed: 2)
            let record = randomRecord(plant: .tomato, id: 3, rng: &rng)
            _ = try await store.apply([.upsert(record)])
            var update = record
            update.updatedAt = Timestamp(microsecondsSinceEpoch: record.versionTimestamp.microsecondsSinceEpoch + 10)
            update.disease = "Healthy"
            update.data = [9, 9, 9]  // ignored: the change keeps the stored bytes
            #expect(try await store.apply([.upsert(update, keepsStoredData: true)]).applied == 1)
            let stored = try await store.record(record.key)
            #expect(stored?.data == record.data)
            #expect(stored?.disease == "Healthy")
            // the digest still reflects the kept bytes
            var expected = update
            expected.data = record.data
            #expect(try await store.versions(of: .tomato, in: .all, pageSize: 5).collect().first?.digest == expected.digest)
            // on a key never seen, the row is created without bytes
            let fresh = randomRecord(plant: .tomato, id: 4, rng: &rng)
            _ = try await store.apply([.upsert(fresh, keepsStoredData: true)])
            #expect(try await store.record(fresh.key)?.data == nil)
        }
    }

    @Test func failedBatchRollsBackEntirely() async throws {
        try await withStore { store async throws in
            var rng = SplitMix64(seed: 4)
            let good = randomRecord(plant: .pepper, id: 1, rng: &rng)
            let bad = Change.delete(RecordKey(plant: .pepper, id: -1), at: Timestamp(microsecondsSinceEpoch: 1))
            let error = await #expect(throws: PostgresStoreError.self) { try await store.apply([.upsert(good), bad]) }
            #expect(error?.sqlState == "23514")  // check_violation
            #expect(error?.isTransient == false)
            #expect(try await store.record(good.key) == nil)
            // and the store keeps working
            #expect(try await store.apply([.upsert(good)]).applied == 1)
        }
    }

    @Test func recoversAfterTheConnectionIsKilled() async throws {
        try await withStore { store async throws in
            var rng = SplitMix64(seed: 6)
            _ = try await store.apply([.upsert(randomRecord(plant: .pepper, id: 1, rng: &rng))])
            let admin = try PGConnection(conninfo: try testConninfo())
            let killed = try admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                [.text(store.configuration.applicationName)])
            #expect(killed.rowCount == 1)
            // The first call may see the dead connection (transient); the next one reconnects.
            do { _ = try await store.count(of: .pepper) } catch let error as PostgresStoreError { #expect(error.isTransient) }
            #expect(try await store.count(of: .pepper) == 1)
        }
    }

    /// Applying any multiset of changes in any order, any number of times, in any batch split, yields
    /// the state of the greatest version per key.
    @Test(arguments: [1, 2, 3, 4, 5, 6])
    func randomMultisetsConvergeToTheGreatestVersionPerKey(seed: UInt64) async throws {
        var rng = SplitMix64(seed: seed)
        var changes: [Change] = []
        for _ in 0..<300 {
            let plant = Plant.allCases.randomElement(using: &rng)!
            let id = Int64.random(in: 1...25, using: &rng)
            if Int.random(in: 0..<5, using: &rng) == 0 {
                changes.append(.delete(RecordKey(plant: plant, id: id), at: Timestamp(microsecondsSinceEpoch: Int64.random(in: 0...12, using: &rng))))
            } else {
                changes.append(.upsert(randomRecord(plant: plant, id: id, rng: &rng, tsRange: 0...10, dataBytes: 8)))
            }
        }
        let winners = Change.winners(changes)
        var states: [[Plant: [KeyVersion]]] = []
        for _ in 0..<3 {
            try await withStore { store async throws in
                // shuffled, duplicated, applied in random batch sizes
                var stream = (changes + changes.prefix(Int.random(in: 0...changes.count, using: &rng))).shuffled(using: &rng)
                while !stream.isEmpty {
                    let n = min(stream.count, Int.random(in: 1...80, using: &rng))
                    _ = try await store.apply(Array(stream.prefix(n)))
                    stream.removeFirst(n)
                }
                var state: [Plant: [KeyVersion]] = [:]
                for plant in Plant.allCases {
                    let (records, versions) = try await snapshot(store, plant)
                    state[plant] = versions
                    let expectedLive = winners.values.filter { $0.key.plant == plant }.compactMap(\.record).sorted { $0.id < $1.id }
                    #expect(records == expectedLive)
                    let expectedVersions = winners.values.filter { $0.key.plant == plant }.sorted { $0.key < $1.key }.map(\.version)
                    #expect(versions.map(\.version) == expectedVersions)
                }
                states.append(state)
            }
        }
        #expect(states[0] == states[1])
        #expect(states[1] == states[2])
    }

    @Test func rangeChecksumsMatchForEqualDataAndDifferForOneField() async throws {
        var rng = SplitMix64(seed: 21)
        let records = (1...400).map { randomRecord(plant: .tomato, id: $0, rng: &rng) }
        let ranges = KeyRange(lower: 1, upper: 401).split(into: 8)
        try await withStore { producer async throws in
            try await withStore { consumer async throws in
                _ = try await producer.apply(records.map { .upsert($0) })
                _ = try await consumer.apply(records.reversed().map { .upsert($0) })
                let p = try await producer.summaries(of: .tomato, in: ranges)
                #expect(p == (try await consumer.summaries(of: .tomato, in: ranges)))
                #expect(p.map(\.count).reduce(0, +) == 400)
                // the checksum is the documented sum of digests, so any engine can reproduce it
                for (range, summary) in zip(ranges, p) {
                    #expect(summary.checksum == RowDigest.checksum(of: records.filter { range.contains($0.id) }.map(\.digest)))
                }
                // one field of one row differs (same timestamp): exactly that range mismatches
                var changed = records[123]
                changed.cameraId += 1
                try dropSchemaRow(consumer, changed)
                _ = try await consumer.apply([.upsert(changed)])
                let c1 = try await consumer.summaries(of: .tomato, in: ranges)
                #expect(zip(p, c1).filter { $0 != $1 }.count == 1)
                #expect(c1[ranges.firstIndex { $0.contains(124) }!] != p[ranges.firstIndex { $0.contains(124) }!])
                // only the image bytes differ: still detected
                var bytesOnly = records[300]
                bytesOnly.data?[0] ^= 0xFF
                try dropSchemaRow(consumer, bytesOnly)
                _ = try await consumer.apply([.upsert(bytesOnly)])
                let c2 = try await consumer.summaries(of: .tomato, in: ranges)
                #expect(zip(p, c2).filter { $0 != $1 }.count == 2)
                // empty and out-of-range ranges
                #expect(try await producer.summaries(of: .tomato, in: [KeyRange(lower: 1000, upper: 2000)]) == [.empty])
                #expect(try await producer.summaries(of: .potato, in: ranges).allSatisfy { $0 == .empty })
            }
        }
    }

    /// 100k rows of 1 KB (≈100 MB) read page by page: memory grows by far less than the table.
    @Test func streamingReadsStayWithinBoundedMemory() async throws {
        try await withStore { store async throws in
            var rng = SplitMix64(seed: 99)
            let total = 100_000
            let payload = (0..<1024).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for start in stride(from: 1, through: total, by: 2000) {
                let batch = (start..<(start + 2000)).map { id -> Change in
                    var r = randomRecord(plant: .potato, id: Int64(id), rng: &rng, dataBytes: 0)
                    r.data = payload
                    r.data![0] = UInt8(truncatingIfNeeded: id)
                    return .upsert(r)
                }
                _ = try await store.apply(batch)
            }
            let before = residentBytes()
            var count = 0, bytes = 0, peak = before, lastID: Int64 = 0
            for try await record in store.records(of: .potato, in: .all, pageSize: 500) {
                #expect(record.id > lastID)
                lastID = record.id
                count += 1
                bytes += record.data?.count ?? 0
                if count % 5000 == 0 { peak = max(peak, residentBytes()) }
            }
            #expect(count == total)
            #expect(bytes == total * 1024)
            let growth = peak - before
            #expect(growth < 40 << 20, "resident memory grew by \(growth >> 20) MiB while streaming ~100 MiB")
            var versions = 0
            for try await _ in store.versions(of: .potato, in: .all, pageSize: 10_000) { versions += 1 }
            #expect(versions == total)
            let ids = (1...Int64(total)).filter { $0 % 1000 == 0 }
            #expect(try await store.records(of: .potato, ids: ids + ids, pageSize: 30).collect().map(\.id) == ids)
        }
    }
}

/// Removes one row directly, so a test can plant a same-timestamp variant (which the version rule
/// would otherwise order by tiebreak).
func dropSchemaRow(_ store: PostgresStore, _ record: ImageRecord) throws {
    let connection = try PGConnection(conninfo: try testConninfo())
    try connection.execute(
        "DELETE FROM \(PGConnection.quoteIdentifier(store.configuration.schema)).image_record WHERE plant = $1 AND id = $2",
        [.text(record.plant.rawValue), .int(record.id)])
}
