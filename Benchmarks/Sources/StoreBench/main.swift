import ArgumentParser
import BlockingExecutor
import Dispatch
import Foundation
import LibPQ
import PostgresStore
import SyncModel

/// Measures the PostgreSQL store's apply throughput (rows/s) by record size and batch size.
/// A benchmark, not a test: it reports and asserts nothing.
@main
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "StoreBench",
        abstract: "Apply throughput of the PostgreSQL store for several record and batch sizes.",
        version: PlantSyncVersion.current)

    @Option(help: "libpq connection URI (default: $PLANTSYNC_PG_URI).")
    var uri: String?

    @Option(help: "Image bytes per record, comma-separated.")
    var recordBytes: String = "1024,20480"

    @Option(help: "Changes per apply() call, comma-separated.")
    var batchSizes: String = "1,100,1000"

    @Option(help: "Records written per configuration with batch size > 1.")
    var rows: Int = 20_000

    @Option(help: "Records written per configuration with batch size 1 (one round trip each).")
    var singleRows: Int = 3_000

    func run() async throws {
        guard let conninfo = uri ?? ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"] else {
            throw ValidationError("no database: pass --uri or set PLANTSYNC_PG_URI")
        }
        let sizes = try Self.parseList(recordBytes, option: "--record-bytes")
        let batches = try Self.parseList(batchSizes, option: "--batch-sizes")
        guard rows > 0, singleRows > 0 else { throw ValidationError("--rows and --single-rows must be positive") }

        print("record_bytes  batch  rows    seconds  rows/s    MB/s")
        for size in sizes {
            for batch in batches {
                let count = batch == 1 ? singleRows : rows
                let schema = "bench_\(size)_\(batch)"
                try await Self.execute(conninfo, "DROP SCHEMA IF EXISTS \(schema) CASCADE")
                let store = try PostgresStore(.init(conninfo: conninfo, schema: schema))
                try await store.prepareSchema()
                let changes = Self.changes(count: count, bytes: size)
                let start = DispatchTime.now().uptimeNanoseconds
                for offset in stride(from: 0, to: count, by: batch) {
                    _ = try await store.apply(Array(changes[offset..<min(offset + batch, count)]))
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let rate = Double(count) / seconds
                print(
                    Self.pad(size, 12), Self.pad(batch, 6), Self.pad(count, 7),
                    String(format: "%8.2f  %8.0f  %6.1f", seconds, rate, rate * Double(size) / 1e6))
                try await Self.execute(conninfo, "DROP SCHEMA \(schema) CASCADE")
            }
        }
    }

    /// Where the benchmark's own libpq calls run (they block): never on Swift's cooperative pool.
    static let blocking = BlockingExecutor(label: "storebench.blocking")

    /// Runs `statements` on a connection of their own, on `blocking`.
    static func execute(_ conninfo: String, _ statements: String...) async throws {
        try await blocking.run {
            let admin = try PGConnection(conninfo: conninfo)
            for sql in statements { _ = try admin.execute(sql) }
        }
    }

    static func changes(count: Int, bytes: Int) -> [Change] {
        var generator = SystemRandomNumberGenerator()
        let base = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return (1...count).map { i in
            var data = base
            if !data.isEmpty { data[0] = UInt8(truncatingIfNeeded: i) }
            let record = ImageRecord(
                plant: Plant.lims[i % 3], id: Int64(i), cameraId: Int64(i % 7), data: data,
                latitude: 50.0 + Double(i % 100) / 100, longitude: 20.0, disease: i % 2 == 0 ? "Healthy" : nil,
                percentage: i % 2 == 0 ? 0.93 : nil, createdAt: Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000 + Int64(i)))
            return .upsert(record)
        }
    }

    static func parseList(_ text: String, option: String) throws -> [Int] {
        try text.split(separator: ",").map { item in
            guard let value = Int(item.trimmingCharacters(in: .whitespaces)), value > 0 else {
                throw ValidationError("\(option): '\(item)' is not a positive integer")
            }
            return value
        }
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text + String(repeating: " ", count: max(0, width - text.count))
    }
}
