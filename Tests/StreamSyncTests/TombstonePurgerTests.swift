import Foundation
import PostgresStore
import StreamSyncCore
import SyncModel
import TestSupport
import Testing

/// The purge StreamSync runs hourly, on PostgreSQL: only tombstones older than the retention go, and
/// the resurrection window it opens is the documented one (docs/design.md §1).
@Suite struct TombstonePurgerTests {
    @Test func purgesOnlyTombstonesOlderThanTheRetentionAndOpensTheDocumentedWindow() async throws {
        try await withStore { store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let nowUs = Int64(now.timeIntervalSince1970 * 1_000_000)
            let day: Int64 = 86_400_000_000
            let old = record(.potato, 1)  // created long before `now`
            let recent = record(.potato, 2)
            _ = try await store.apply([.upsert(old), .upsert(recent)])
            _ = try await store.apply([
                .delete(old.key, at: Timestamp(microsecondsSinceEpoch: nowUs - 8 * day)),
                .delete(recent.key, at: Timestamp(microsecondsSinceEpoch: nowUs - 1 * day)),
            ])
            let purger = TombstonePurger(store: store, retention: .default, metrics: StreamMetrics(), logger: quietLogger)
            #expect(try await purger.purgeOnce(now: now) == 1)
            #expect(try await purger.purgeOnce(now: now) == 0)
            // The recent tombstone still wins over a replay of the create …
            #expect(try await store.apply([.upsert(recent)]).applied == 0)
            #expect(try await store.record(recent.key) == nil)
            // … the purged one no longer does: a replay older than the retention brings the record back
            // (the next BatchSync run deletes it again, as the producer lacks the key).
            #expect(try await store.apply([.upsert(old)]).applied == 1)
            #expect(try await store.record(old.key) == old)
        }
    }
}
