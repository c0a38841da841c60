import CountingProxy
import Foundation
import LibPQ
import PostgresStore
import SyncModel
import TestSupport
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
        let copy = #expect(throws: PostgresStoreError.self) { try PostgresStore(.init(conninfo: "", copyThreshold: 0)) }
        #expect(copy?.message.contains("copyThreshold 0") == true)
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

    /// The staging path (COPY into a temporary table, then one upsert) is all-or-nothing like the
    /// statement path, and leaves nothing staged behind for the next batch.
    @Test(arguments: [1, Int.max])
    func stagedBatchWithABadRowRollsBackEntirely(copyThreshold: Int) async throws {
        try await withPostgresStore(copyThreshold: copyThreshold) { store async throws in
            let good = (1...5).map { sampleRecord(id: $0) }
            let bad = sampleRecord(id: -7)  // violates CHECK (id > 0)
            let error = await #expect(throws: PostgresStoreError.self) {
                try await store.apply(good.map { Change.upsert($0) } + [.upsert(bad)])
            }
            #expect(error?.sqlState == "23514")
            #expect(try await store.count(of: .pepper) == 0)
            // the next batch sees neither the rolled-back rows nor stale staged ones
            var newer = sampleRecord(id: 9, createdAt: 2_000_000)
            newer.disease = "tab\there, newline\nand back\\slash"
            #expect(try await store.apply([.upsert(newer), .upsert(sampleRecord(id: 9))]).applied == 1)
            #expect(try await store.count(of: .pepper) == 1)
            #expect(try await store.record(newer.key) == newer)
        }
    }

    /// A batch of several plants is one transaction (docs/design.md §3): a failing row of one plant
    /// rolls back every other plant's rows; a good batch reports its counts per plant from that apply.
    @Test(arguments: [1, Int.max])
    func multiPlantBatchIsOneTransaction(copyThreshold: Int) async throws {
        try await withPostgresStore(copyThreshold: copyThreshold) { store async throws in
            var tomato = sampleRecord(id: 3)
            tomato.plant = .tomato
            let potato = (Int64(1)...4).map { id in
                var record = sampleRecord(id: id)
                record.plant = .potato
                return record
            }
            var bad = sampleRecord(id: -2)  // violates CHECK (id > 0), in a third plant
            bad.plant = .pepper
            let batch = [Change.upsert(tomato)] + potato.map { Change.upsert($0) } + [.upsert(bad)]
            let error = await #expect(throws: PostgresStoreError.self) { try await store.apply(batch) }
            #expect(error?.sqlState == "23514")
            #expect(try await store.count(of: .tomato) == 0)
            #expect(try await store.count(of: .potato) == 0)

            let good = [Change.upsert(tomato)] + potato.map { Change.upsert($0) } + [.upsert(sampleRecord(id: 5))]
            let outcome = try await store.apply(good + [.upsert(potato[0])])  // one duplicate: skipped
            #expect(outcome.applied == 6)
            #expect(outcome.skippedStale == 1)
            #expect(
                outcome.byPlant == [
                    .tomato: .init(applied: 1, skippedStale: 0), .potato: .init(applied: 4, skippedStale: 1),
                    .pepper: .init(applied: 1, skippedStale: 0),
                ])
            let again = try await store.apply(good)
            #expect(again.byPlant[.potato] == .init(applied: 0, skippedStale: 4))
            #expect(again.applied == 0)
        }
    }

    @Test func recoversAfterTheConnectionIsKilled() async throws {
        try await withStore { store async throws in
            _ = try await store.apply([.upsert(sampleRecord(id: 1))])
            let conninfo = try testConninfo()
            let name = store.configuration.applicationName
            let killed = try await offPool {
                try PGConnection(conninfo: conninfo).execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [.text(name)]
                ).rowCount
            }
            #expect(killed == 1)
            // The first call may see the dead connection (transient); the next one reconnects.
            do { _ = try await store.count(of: .pepper) } catch let error as PostgresStoreError { #expect(error.isTransient) }
            #expect(try await store.count(of: .pepper) == 1)
        }
    }
}

/// docs/design.md §4, "Timeouts": a connection that goes silent (a failover, a partition) is a transient
/// error within the call timeout, and the next call connects afresh; a ping answers on its own connection.
@Suite struct SilentConnectionTests {
    @Test func aCallOnASilentConnectionFailsAsTransientAndTheNextReconnects() async throws {
        let (proxy, uri) = try await postgresThroughProxy(name: "silent-pg")
        let schema = uniqueSchema()
        let store = try PostgresStore(.init(conninfo: uri, schema: schema, applicationName: schema, callTimeout: .seconds(2)))
        try await withCleanup {
            try await store.prepareSchema()
            #expect(try await store.apply([.upsert(sampleRecord(id: 1))]).applied == 1)
            // The store's open connection stops passing bytes for good; new connections work.
            #expect(await proxy.silenceExisting() == 1)
            let error = await #expect(throws: PostgresStoreError.self) { try await store.apply([.upsert(sampleRecord(id: 2))]) }
            #expect(error?.isTransient == true)
            #expect(error?.description.contains("no answer from PostgreSQL within 2") == true, "\(String(describing: error))")
            // The retry reconnects (a new connection through the proxy) and applies.
            #expect(try await store.apply([.upsert(sampleRecord(id: 2))]).applied == 1)
            #expect(try await store.count(of: .pepper) == 2)
            try await store.ping(timeout: .seconds(2))
        } cleanup: {
            try? await dropSchema(schema)
            try? await proxy.stop()
        }
    }

    @Test func aPingOnASilentConnectionFailsWithinItsTimeout() async throws {
        let (proxy, uri) = try await postgresThroughProxy(name: "silent-ping")
        let store = try PostgresStore(.init(conninfo: uri, schema: uniqueSchema(), callTimeout: .seconds(600)))
        try await withCleanup {
            try await store.ping(timeout: .seconds(2))
            await proxy.freeze()
            // The ping's own deadline, not the store's ten-minute call timeout, ends the wait.
            let error = await #expect(throws: PostgresStoreError.self) { try await store.ping(timeout: .seconds(1)) }
            #expect(error?.isTransient == true)
            await proxy.thaw()
            try await store.ping(timeout: .seconds(5))
        } cleanup: {
            try? await proxy.stop()
        }
    }
}
