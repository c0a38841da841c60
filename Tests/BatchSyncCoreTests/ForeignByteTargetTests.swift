import BatchSyncCore
import CountingProxy
import Foundation
import MongoStore
import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

/// Bytes on the producer link, counted by a TCP proxy outside the job (docs/design.md §5), on 20 KB
/// LIMS records in the application's PostgreSQL tables: the targets of a same-engine pair.
/// Byte counts are deterministic for a given data set; no timing is asserted.
@Suite(.serialized) struct ForeignByteTargetTests {
    static let records = 2000
    static let imageBytes = 20_000

    /// LIMS's camera job adds an image every 30–100 s: records a minute apart.
    static func limsRecords() -> [ImageRecord] {
        var rng = SplitMix64(seed: 61)
        let start: Int64 = 1_696_779_589_123_123  // 2023-10-08T15:39:49.123123
        return (1...records).map { i in
            var record = randomRecord(plant: .potato, id: Int64(i), rng: &rng, dataBytes: 0)
            // Eight random bytes a draw: 40 MB of images without 40 million generator calls.
            record.data = (0..<(imageBytes / 8)).flatMap { _ in withUnsafeBytes(of: rng.next()) { Array($0) } }
            record.createdAt = Timestamp(microsecondsSinceEpoch: start + Int64(i) * 60_000_000)
            record.updatedAt = nil
            return record
        }
    }

    /// One run of `strategy` on potato, and the bytes the proxy counted on the producer link (both ways).
    static func measure(
        _ strategy: SyncStrategy, _ producer: any DiffSource, _ consumer: any ConsumerStore, _ proxy: CountingProxy
    ) async throws -> (report: RunReport, bytes: Int) {
        var options = BatchOptions()
        options.strategy = strategy
        options.plants = [.potato]
        let before = proxy.counts
        let report = try await Reconciler(producer: producer, consumer: consumer, options: options).run()
        let after = proxy.counts
        return (report, after.sent + after.received - before.sent - before.received)
    }

    @Test func convergedAndSlightlyChangedRunsMoveAFractionOfFull() async throws {
        let tables = try await LimsPostgresProducer.create(shape: .limsTables)
        defer { tables.drop() }
        let records = Self.limsRecords()
        try await tables.write(records)
        let (proxy, uri) = try await postgresThroughProxy(name: "producer")
        defer { Task { try? await proxy.stop() } }
        let producer = try ForeignPostgresStore(.init(conninfo: uri, layout: tables.layout))
        try await withPostgresStore { consumer in
            func run(_ strategy: SyncStrategy) async throws -> (report: RunReport, bytes: Int) {
                try await Self.measure(strategy, producer, consumer, proxy)
            }
            let full = try await run(.full)
            #expect(full.report.rowsWritten == records.count)
            #expect(full.bytes >= records.count * Self.imageBytes)

            let converged = try await run(.merkle)
            #expect(converged.report.differences == 0)
            #expect(converged.report.digestDomain == .postgres)
            #expect(converged.bytes * 200 <= full.bytes, "converged merkle \(converged.bytes) B vs full \(full.bytes) B: over 0.5 %")

            // 0.1 % of the records changed by the application (a classification, as LIMS's recognizer does).
            for id in [Int64(700), 1_500] {
                var changed = records[Int(id) - 1]
                changed.disease = "Early Blight"
                changed.percentage = 0.81
                changed.updatedAt = Timestamp(microsecondsSinceEpoch: changed.createdAt.microsecondsSinceEpoch + 5_000_000)
                try await tables.write(changed)
            }
            let changed = try await run(.merkle)
            #expect(changed.report.differences == 2)
            #expect(changed.bytes * 50 <= full.bytes, "merkle with 0.1 % changed \(changed.bytes) B vs full \(full.bytes) B: over 2 %")
            #expect(try await liveRecords(consumer) == liveRecords(producer))

            // watermark: the first run compares every key and sets the mark; the next, with nothing new,
            // reads only the overlap window before the mark.
            _ = try await run(.watermark)
            let idle = try await run(.watermark)
            #expect(idle.report.differences == 0)
            #expect(idle.bytes * 200 <= full.bytes, "idle watermark \(idle.bytes) B vs full \(full.bytes) B: over 0.5 %")
            print(
                "producer link bytes: full \(full.bytes), merkle converged \(converged.bytes), merkle 0.1 % \(changed.bytes), watermark idle \(idle.bytes)"
            )
        }
    }

    /// LIMS's MongoDB (the double) into MongoDB compares `$toHashedIndexKey` digests in the server:
    /// the same-engine targets (≤ 0.5 %, ≤ 2 %). A cross-engine pair compares metadata and byte length:
    /// the foreign side sends a projection of every record (no image bytes) once per run — targets
    /// ≤ 1.5 % and ≤ 3 %, both directions.
    @Test(arguments: [
        (ForeignProducerKind.limsMongo, ConsumerKind.mongo), (.limsMongo, .postgres), (.limsPostgres, .mongo),
    ])
    func pairsMoveAFractionOfFull(producer kind: ForeignProducerKind, consumer consumerKind: ConsumerKind) async throws {
        try await withMongoDouble { try await pairMovesAFractionOfFull(producer: kind, consumer: consumerKind) }  // every pair has a MongoDB side
    }

    func pairMovesAFractionOfFull(producer kind: ForeignProducerKind, consumer consumerKind: ConsumerKind) async throws {
        let sameEngine = (kind == .limsPostgres) == (consumerKind == .postgres)
        let (convergedPerMille, changedPerMille) = sameEngine ? (5, 20) : (15, 30)
        var records = Self.limsRecords()
        // Millisecond timestamps: what a BSON date keeps.
        records = records.map { TimestampPrecision.milliseconds.truncate($0) }
        let proxy: CountingProxy
        let producer: any DiffSource
        let write: @Sendable ([ImageRecord]) async throws -> Void
        let cleanup: @Sendable () -> Void
        switch kind {
        case .limsMongo:
            let lims = try await LimsMongoProducer.create()
            try await lims.write(records)
            guard let components = URLComponents(string: lims.uri), let host = components.host, let port = components.port else {
                throw SetupError("cannot read host and port of \(lims.uri)")
            }
            proxy = try await CountingProxy.start(name: "producer", upstream: .tcp(host: host, port: port))
            producer = try ForeignMongoStore(
                .init(connectionString: uri("mongodb://127.0.0.1:\(proxy.port)/?directConnection=true", withDatabase: lims.database)))
            write = { try await lims.write($0) }
            cleanup = { lims.drop() }
        case .limsPostgres:
            let tables = try await LimsPostgresProducer.create(shape: .limsTables)
            try await tables.write(records)
            let (p, uri) = try await postgresThroughProxy(name: "producer")
            proxy = p
            producer = try ForeignPostgresStore(.init(conninfo: uri, layout: tables.layout))
            write = { try await tables.write($0) }
            cleanup = { tables.drop() }
        }
        defer {
            cleanup()
            Task { try? await proxy.stop() }
        }
        func run(_ strategy: SyncStrategy, into consumer: any ConsumerStore) async throws -> (report: RunReport, bytes: Int) {
            try await Self.measure(strategy, producer, consumer, proxy)
        }
        func check(_ consumer: any ConsumerStore) async throws {
            let full = try await run(.full, into: consumer)
            #expect(full.report.rowsWritten == records.count)
            let converged = try await run(.merkle, into: consumer)
            #expect(converged.report.differences == 0)
            #expect(converged.report.digestDomain == (sameEngine ? .mongo : .metadata))
            #expect(
                converged.bytes * 1000 <= full.bytes * convergedPerMille,
                "converged \(converged.bytes) B vs full \(full.bytes) B: over \(convergedPerMille) ‰")
            for id in [Int64(700), 1_500] {
                var changed = records[Int(id) - 1]
                changed.disease = "Early Blight"
                changed.updatedAt = Timestamp(microsecondsSinceEpoch: changed.createdAt.microsecondsSinceEpoch + 5_000_000)
                try await write([changed])
            }
            let changed = try await run(.merkle, into: consumer)
            #expect(changed.report.differences == 2)
            #expect(
                changed.bytes * 1000 <= full.bytes * changedPerMille,
                "0.1 % changed \(changed.bytes) B vs full \(full.bytes) B: over \(changedPerMille) ‰")
            #expect(try await liveRecords(consumer) == liveRecords(producer))
            print(
                "\(kind) → \(consumerKind) producer link bytes: full \(full.bytes), merkle converged \(converged.bytes), merkle 0.1 % \(changed.bytes)"
            )
        }
        switch consumerKind {
        case .postgres: try await withPostgresStore { try await check($0) }
        case .mongo: try await withMongoStore { try await check($0) }
        }
    }
}
