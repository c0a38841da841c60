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

    @Test func failedBatchRollsBackEntirely() async throws {
        try await withStore { store async throws in
            let good = sampleRecord(id: 1)
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
            _ = try await store.apply([.upsert(sampleRecord(id: 1))])
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
}
