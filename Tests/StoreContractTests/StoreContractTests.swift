import Foundation
import SyncBenchCore
import SyncModel
import Synchronization
import TestSupport
import Testing

/// The store contract of docs/design.md §1 and §3, run against every engine in `StoreEngine`.
@Suite struct StoreContractTests {
    @Test(arguments: StoreEngine.allCases)
    func roundTripsRecordsExactly(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 11)
            var records = (1...50).map { randomRecord(plant: .pepper, id: $0, rng: &rng) }
            records[0].data = nil
            records[1].data = []
            records[2].disease = "'); DROP TABLE image_record; --"
            let outcome = try await store.apply(records.map { Change.upsert($0) })
            #expect(outcome.totals == ApplyOutcome(applied: 50, skippedStale: 0))
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

    @Test(arguments: StoreEngine.allCases)
    func versionRuleSkipsStaleAndEqualChanges(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 5)
            let old = randomRecord(plant: .tomato, id: 1, rng: &rng, tsRange: 100...100)
            var new = old
            new.updatedAt = Timestamp(microsecondsSinceEpoch: 500)
            new.disease = "Healthy"
            #expect(try await store.apply([.upsert(new)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.apply([.upsert(old)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            #expect(try await store.apply([.upsert(new)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            #expect(try await store.record(new.key) == new)
            // Within one batch, duplicates and older versions count as skipped.
            var newer = new
            newer.updatedAt = Timestamp(microsecondsSinceEpoch: 900)
            #expect(
                try await store.apply([.upsert(old), .upsert(newer), .upsert(new), .upsert(newer)]).totals
                    == ApplyOutcome(applied: 1, skippedStale: 3))
            #expect(try await store.record(new.key) == newer)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func tombstonesWinTiesAndHideRows(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
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
            // a delete that arrives first also beats the upsert of equal ts (whose bytes enter the
            // tombstone's register, for a later resurrection: the write changed the row)
            let other = randomRecord(plant: .potato, id: 8, rng: &rng)
            _ = try await store.apply([.delete(other.key, at: other.versionTimestamp)])
            #expect(try await store.apply([.upsert(other)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.record(other.key) == nil)
            #expect(try await store.apply([.upsert(other)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            let versions = try await store.versions(of: .potato, in: .all, pageSize: 10).collect()
            #expect(versions.map(\.id) == [7, 8])
            #expect(versions.allSatisfy { $0.isTombstone })
            // a newer upsert resurrects the key
            var reborn = record
            reborn.updatedAt = Timestamp(microsecondsSinceEpoch: ts.microsecondsSinceEpoch + 1)
            #expect(try await store.apply([.upsert(reborn)]).applied == 1)
            #expect(try await store.record(record.key) == reborn)
            // purge removes old tombstones only
            #expect(
                try await store.purgeTombstones(olderThan: Timestamp(microsecondsSinceEpoch: other.versionTimestamp.microsecondsSinceEpoch))
                    == 0)
            #expect(try await store.purgeTombstones(olderThan: Timestamp(microsecondsSinceEpoch: Int64.max)) == 1)
            #expect(try await store.versions(of: .potato, in: .all, pageSize: 10).collect().map(\.id) == [7])
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func upsertWithoutDataKeepsStoredBytes(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
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
            // on a key never seen, the row is created with its bytes not yet known
            let fresh = randomRecord(plant: .tomato, id: 4, rng: &rng)
            _ = try await store.apply([.upsert(fresh, keepsStoredData: true)])
            #expect(try await store.record(fresh.key)?.data == nil)
            let unknown = try await store.versions(of: .tomato, in: KeyRange(lower: 4, upper: 5), pageSize: 5).collect()
            #expect(
                unknown == [
                    KeyVersion(
                        id: 4, version: fresh.version, digest: RowDigest.of(version: fresh.version, dataHash: ImageRecord.unknownDataHash),
                        dataVersion: nil)
                ])
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func rangeChecksumsMatchForEqualDataAndDifferForOneField(engine: StoreEngine) async throws {
        var rng = SplitMix64(seed: 21)
        let records = (1...400).map { randomRecord(plant: .tomato, id: $0, rng: &rng) }
        let ranges = KeyRange(lower: 1, upper: 401).split(into: 8)
        try await engine.withStore { producer async throws in
            try await engine.withStore { consumer async throws in
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
                var variant = records
                variant[123].cameraId += 1
                #expect(variant[123].versionTimestamp == records[123].versionTimestamp)
                let c1 = try await engine.withStore { other async throws in
                    _ = try await other.apply(variant.map { .upsert($0) })
                    return try await other.summaries(of: .tomato, in: ranges)
                }
                #expect(zip(p, c1).filter { $0 != $1 }.count == 1)
                #expect(c1[ranges.firstIndex { $0.contains(124) }!] != p[ranges.firstIndex { $0.contains(124) }!])
                // only the image bytes of another row differ: detected too
                variant[300].data?[0] ^= 0xFF
                let c2 = try await engine.withStore { other async throws in
                    _ = try await other.apply(variant.map { .upsert($0) })
                    return try await other.summaries(of: .tomato, in: ranges)
                }
                #expect(zip(p, c2).filter { $0 != $1 }.count == 2)
                // empty and out-of-range ranges
                #expect(try await producer.summaries(of: .tomato, in: [KeyRange(lower: 1000, upper: 2000)]) == [.empty])
                #expect(try await producer.summaries(of: .potato, in: ranges).allSatisfy { $0 == .empty })
            }
        }
    }

    /// 100k rows of 1 KB (≈100 MB) read page by page: never more than one page in the reader's hands.
    @Test(arguments: StoreEngine.allCases)
    func streamingReadsStayWithinBoundedMemory(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
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
            // The store hands over one page at a time, fetched only when the reader gets to it: at any
            // moment the reader holds at most one page, whatever the table's size. (Resident memory is
            // not asserted: the suite's tests run in parallel in one process.)
            let fetched = Counter()
            var count = 0
            var bytes = 0
            var lastID: Int64 = 0
            let pages = store.records(of: .potato, in: .all, pageSize: 500).observingPages { page in
                #expect(page.count <= 500)
                fetched.add(page.count)
            }
            for try await record in pages {
                #expect(record.id > lastID)
                lastID = record.id
                count += 1
                bytes += record.data?.count ?? 0
                #expect(fetched.value <= count + 500 - 1, "read ahead of the reader: \(fetched.value) fetched, \(count) consumed")
                if count == 1_000 { break }
            }
            #expect(fetched.value == 1_000)
            for try await record in store.records(of: .potato, in: KeyRange(lower: 1_001, upper: Int64.max), pageSize: 500) {
                count += 1
                bytes += record.data?.count ?? 0
            }
            #expect(count == total)
            #expect(bytes == total * 1024)
            var versions = 0
            for try await _ in store.versions(of: .potato, in: .all, pageSize: 10_000) { versions += 1 }
            #expect(versions == total)
            let ids = (1...Int64(total)).filter { $0 % 1000 == 0 }
            #expect(try await store.records(of: .potato, ids: ids + ids, pageSize: 30).collect().map(\.id) == ids)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func replaceIsCompareAndSetOnTheStoredVersion(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 31)
            let producer = randomRecord(plant: .tomato, id: 1, rng: &rng, tsRange: 100...100)
            var ahead = producer
            ahead.updatedAt = Timestamp(microsecondsSinceEpoch: 10_000)
            _ = try await store.apply([.upsert(ahead)])
            // the version rule refuses the older producer record…
            #expect(try await store.apply([.upsert(producer)]).applied == 0)
            // …a replace expecting another version does nothing…
            #expect(try await store.replace([.upsert(producer)], expecting: [producer.key: producer.version]).applied == 0)
            #expect(try await store.record(producer.key) == ahead)
            // …and one expecting the stored version rewrites the row, older or not.
            #expect(
                try await store.replace([.upsert(producer)], expecting: [producer.key: ahead.version]).totals
                    == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.record(producer.key) == producer)
            // a tombstone can be replaced by a record, and a record by a tombstone
            let deleted = randomRecord(plant: .tomato, id: 2, rng: &rng, tsRange: 100...100)
            _ = try await store.apply([.delete(deleted.key, at: Timestamp(microsecondsSinceEpoch: 50_000))])
            #expect(try await store.replace([.upsert(deleted)], expecting: [deleted.key: .delete(ts: 50_000)]).applied == 1)
            #expect(try await store.record(deleted.key) == deleted)
            let tombstone = Change.delete(deleted.key, at: Timestamp(microsecondsSinceEpoch: 1))
            #expect(try await store.replace([tombstone], expecting: [deleted.key: deleted.version]).applied == 1)
            #expect(try await store.record(deleted.key) == nil)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func changedSinceReadsByVersionTimestamp(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            var rng = SplitMix64(seed: 8)
            let records = (1...30).map { id -> ImageRecord in
                var r = randomRecord(plant: .potato, id: Int64(id), rng: &rng)
                r.createdAt = Timestamp(microsecondsSinceEpoch: Int64(id) * 10)
                r.updatedAt = nil
                return r
            }
            _ = try await store.apply(
                records.map { .upsert($0) } + [.delete(RecordKey(plant: .potato, id: 30), at: Timestamp(microsecondsSinceEpoch: 5000))])
            let changed = try await store.records(of: .potato, changedSince: 200, pageSize: 4).collect()
            #expect(changed.map(\.id) == Array(20...29))
            #expect(try await store.records(of: .potato, changedSince: 0, pageSize: 100).collect().count == 29)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func syncStateIsKeptByName(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            #expect(try await store.syncState("batchsync.watermark.potato") == nil)
            try await store.setSyncState("batchsync.watermark.potato", to: 42)
            try await store.setSyncState("batchsync.watermark.potato", to: -7)
            try await store.setSyncState("other", to: 1)
            #expect(try await store.syncState("batchsync.watermark.potato") == -7)
        }
    }
}

/// A thread-safe tally for page observers.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    var value: Int { count.withLock { $0 } }
}
