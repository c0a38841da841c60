import ArgumentParser
import BlockingExecutor
import BatchSyncCore
import Foundation
import LibPQ
import PostgresStore
import SyncModel

/// Prepares the databases of the BatchSync benchmark (`scripts/bench-batch` drives it):
/// `prepare` loads a base data set and a producer that differs from it by a given fraction;
/// `reset-consumer` makes the consumer a fresh copy of the base before each strategy's run.
@main
struct BatchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "BatchBench",
        abstract: "Set up producer and consumer schemas for the BatchSync benchmark.",
        subcommands: [Prepare.self, ResetConsumer.self])

    struct Common: ParsableArguments {
        @Option(help: "libpq connection URI (default: $PLANTSYNC_PG_URI).")
        var uri: String?

        func conninfo() throws -> String {
            guard let uri = uri ?? ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"] else {
                throw ValidationError("no database: pass --uri or set PLANTSYNC_PG_URI")
            }
            return uri
        }
    }

    struct Prepare: AsyncParsableCommand {
        @OptionGroup var common: Common
        @Option(help: "Records in the data set (spread over the three plants).") var records = 100_000
        @Option(help: "Image bytes per record.") var recordBytes = 1024
        @Option(help: "Percentage of records that differ in the producer (updates, plus a tenth as deletes and creates).")
        var diffPercent = 0.1

        func run() async throws {
            let conninfo = try common.conninfo()
            guard records > 0, recordBytes >= 0, (0...100).contains(diffPercent) else {
                throw ValidationError("--records > 0, --record-bytes >= 0 and --diff-percent within 0…100")
            }
            try await execute(conninfo, ["bench_base", "bench_producer", "bench_consumer"].map { "DROP SCHEMA IF EXISTS \($0) CASCADE" })
            let base = try PostgresStore(.init(conninfo: conninfo, schema: "bench_base"))
            try await base.prepareSchema()
            var rng = SystemRandomNumberGenerator()
            let payload = (0..<recordBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let perPlant = (records + 2) / 3
            var loaded = 0
            for plant in Plant.lims {
                for start in stride(from: 1, through: perPlant, by: 2000) {
                    let ids = start...min(start + 1999, perPlant)
                    guard loaded < records else { break }
                    let batch = ids.prefix(records - loaded).map { Change.upsert(Self.record(plant, Int64($0), payload)) }
                    _ = try await base.apply(batch)
                    loaded += batch.count
                }
            }
            try await copy(conninfo, from: "bench_base", to: "bench_producer")
            // The producer moves on: updates (newer versions), deletes and creates.
            let producer = try PostgresStore(.init(conninfo: conninfo, schema: "bench_producer"))
            let differing = Int((Double(records) * diffPercent / 100).rounded())
            var changes: [Change] = []
            for n in 0..<differing {
                let plant = Plant.lims[n % 3]
                let id = Int64(1 + (n / 3 * 7919) % perPlant)
                switch n % 10 {
                case 0:
                    changes.append(.delete(RecordKey(plant: plant, id: id), at: Timestamp(microsecondsSinceEpoch: 1_800_000_000_000_000)))
                case 1: changes.append(.upsert(Self.record(plant, Int64(perPlant + 1 + n), payload)))
                default:
                    var updated = Self.record(plant, id, payload)
                    updated.disease = "Late Blight"
                    updated.percentage = 0.42
                    updated.updatedAt = Timestamp(microsecondsSinceEpoch: 1_800_000_000_000_000 + Int64(n))
                    changes.append(.upsert(updated))
                }
            }
            for start in stride(from: 0, to: changes.count, by: 1000) {
                _ = try await producer.apply(Array(changes[start..<min(start + 1000, changes.count)]))
            }
            print("prepared \(loaded) records of \(recordBytes) B; \(differing) differ in the producer")
        }

        static func record(_ plant: Plant, _ id: Int64, _ payload: [UInt8]) -> ImageRecord {
            var data = payload
            if !data.isEmpty { data[0] = UInt8(truncatingIfNeeded: id) }
            return ImageRecord(
                plant: plant, id: id, cameraId: id % 5, data: data, latitude: 52.2 + Double(id % 100) / 1000,
                longitude: 21.0, disease: id % 3 == 0 ? "Healthy" : nil, percentage: id % 3 == 0 ? 0.97 : nil,
                createdAt: Timestamp(microsecondsSinceEpoch: 1_600_000_000_000_000 + id * 1_000_000))
        }
    }

    struct ResetConsumer: AsyncParsableCommand {
        @OptionGroup var common: Common

        func run() async throws {
            let conninfo = try common.conninfo()
            try await copy(conninfo, from: "bench_base", to: "bench_consumer")
            // As if a previous watermark run had synced the base: its high-water mark per plant.
            let consumer = try PostgresStore(.init(conninfo: conninfo, schema: "bench_consumer"))
            let marks = try await blocking.run {
                let admin = try PGConnection(conninfo: conninfo)
                let marks = try admin.execute("SELECT plant, max(version_ts) FROM bench_base.image_record GROUP BY plant")
                return try (0..<marks.rowCount).compactMap { row -> (Plant, Int64)? in
                    guard let name = try marks.string(row, 0), let plant = Plant(rawValue: name), let mark = try marks.int64(row, 1) else {
                        return nil
                    }
                    return (plant, mark)
                }
            }
            for (plant, mark) in marks {
                try await consumer.setSyncState(Reconciler.watermarkName(plant), to: mark)
            }
        }
    }
}

/// Replaces schema `to` with an exact copy of `from` (rows and version columns), in SQL.
func copy(_ conninfo: String, from: String, to: String) async throws {
    try await execute(conninfo, ["DROP SCHEMA IF EXISTS \(to) CASCADE"])
    let copy = try PostgresStore(.init(conninfo: conninfo, schema: to))
    try await copy.prepareSchema()
    try await copy.copyRows(fromSchema: from)
    try await execute(conninfo, ["ANALYZE \(to).image_record"])
}

/// Where the benchmark's own libpq calls run (they block): never on Swift's cooperative pool.
let blocking = BlockingExecutor(label: "batchbench.blocking")

/// Runs `statements` in order on a connection of their own, on `blocking`.
func execute(_ conninfo: String, _ statements: [String]) async throws {
    try await blocking.run {
        let admin = try PGConnection(conninfo: conninfo)
        for sql in statements { _ = try admin.execute(sql) }
    }
}
