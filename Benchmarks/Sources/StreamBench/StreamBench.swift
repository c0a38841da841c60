import ArgumentParser
import BlockingExecutor
import Foundation
import Kafka
import KafkaMock
import LibPQ
import Logging
import PostgresStore
import StreamSyncCore
import SyncModel

/// StreamSync-path throughput from a pre-filled mock topic into PostgreSQL, beside PostgreSQL COPY of
/// the same rows in the same run. A benchmark, not a test: it reports and asserts nothing.
@main
struct StreamBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "StreamBench",
        abstract: "StreamSync throughput (mock Kafka → PostgreSQL) vs PostgreSQL COPY of the same rows.",
        version: PlantSyncVersion.current)

    @Option(help: "libpq connection URI (default: $PLANTSYNC_PG_URI).")
    var uri: String?

    @Option(help: "Image bytes per record, comma-separated.")
    var recordBytes: String = "1024,20480"

    @Option(help: "Events per record size (fewer when they would exceed --max-megabytes).")
    var events: Int = 20_000

    @Option(help: "Largest pre-filled topic per record size, in MB of message values.")
    var maxMegabytes: Int = 200

    @Option(
        help:
            "Least number of partitions of the pre-filled topic (more are used when needed: librdkafka's mock broker keeps at most ~5 MB per partition)."
    )
    var partitions: Int = 1

    @Option(help: "Batch size (default: StreamSync's default).")
    var batchSize: Int = StreamSyncSettings().batchMaxSize

    @Option(help: "Store connections applying batches at once (default: StreamSync's default).")
    var applyConnections: Int = StreamSyncSettings().applyConnections

    @Option(help: "Runs of each measurement; medians are reported.")
    var runs: Int = 3

    @Option(
        help: "Upserts with image bytes per batch from which the store stages them through COPY (default: the store's default; 0 = never).")
    var copyThreshold: Int = PostgresStore.Configuration.defaultCopyThreshold

    var storeCopyThreshold: Int { copyThreshold == 0 ? Int.max : copyThreshold }

    func run() async throws {
        guard let conninfo = uri ?? ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"] else {
            throw ValidationError("no database: pass --uri or set PLANTSYNC_PG_URI")
        }
        let sizes = try recordBytes.split(separator: ",").map { text in
            guard let n = Int(text), n >= 0 else { throw ValidationError("--record-bytes: '\(text)' is not a byte count") }
            return n
        }
        guard events > 0, (1...64).contains(partitions), batchSize > 0, runs > 0, applyConnections > 0, copyThreshold >= 0 else {
            throw ValidationError(
                "--events, --batch-size, --runs, --apply-connections must be positive, --copy-threshold not negative, --partitions within 1…64"
            )
        }
        var logger = Logger(label: "streambench")
        logger.logLevel = .error
        print(
            "StreamBench: up to \(events) LIMS events (≤ \(maxMegabytes) MB) per size, batch size \(batchSize), \(applyConnections) apply connection(s), COPY staging from \(copyThreshold == 0 ? "never" : "\(copyThreshold) rows"), durable PostgreSQL, median of \(runs) runs"
        )
        print(
            "record_bytes  events  parts  stream_s  stream_ev/s  stream_MB/s  copy_s  copy_ev/s  copy_MB/s  ratio  peak_rss_MB  decode_s  apply_s  kafka_s"
        )
        for size in sizes {
            let valueSize = RecordJSON.encode(BenchData.record(id: 1, bytes: size)).utf8.count
            let events = max(1, min(self.events, maxMegabytes * 1_000_000 / valueSize))
            let partitions = max(self.partitions, (events * valueSize + Self.partitionBytes - 1) / Self.partitionBytes)
            let records = (1...events).map { BenchData.record(id: Int64($0), bytes: size) }
            let values = records.map { Array(RecordJSON.encode($0).utf8) }
            let valueBytes = values.reduce(0) { $0 + $1.count }

            // Each measurement `runs` times, interleaved; the medians are reported (one COPY of 20k rows
            // takes a few hundred ms, and a checkpoint landing in it can double that).
            var streams: [Double] = []
            var copies: [Double] = []
            var decodes: [Double] = []
            var applies: [Double] = []
            var kafkas: [Double] = []
            for _ in 0..<runs {
                streams.append(try await measureStream(values: values, partitions: partitions, conninfo: conninfo, logger: logger))
                copies.append(try await measureCopy(records: records, conninfo: conninfo))
                let (decode, apply) = try await measureParts(values: values, conninfo: conninfo)
                decodes.append(decode)
                applies.append(apply)
                kafkas.append(
                    try await measureStream(values: values, partitions: partitions, conninfo: conninfo, logger: logger, discard: true))
            }
            let (stream, copy, decode, apply, kafka) = (median(streams), median(copies), median(decodes), median(applies), median(kafkas))
            let mb = Double(valueBytes) / 1e6
            print(
                [
                    pad(size, 12), pad(events, 6), pad(partitions, 5), fmt(stream, 8, 2), fmt(Double(events) / stream, 11, 0),
                    fmt(mb / stream, 11, 1), fmt(copy, 6, 2), fmt(Double(events) / copy, 9, 0), fmt(mb / copy, 9, 1),
                    fmt(copy / stream, 5, 2), fmt(Double(BenchData.peakRSSBytes()) / 1e6, 11, 0), fmt(decode, 8, 2),
                    fmt(apply, 7, 2), fmt(kafka, 7, 2),
                ].joined(separator: "  "))
        }
        print("ratio = stream events/s ÷ COPY events/s (same rows, same server, same run); MB = LIMS JSON value bytes")
        print("decode_s / apply_s: the same events decoded alone, and their changes applied alone in batches (where the stream time goes)")
        print(
            "kafka_s: the whole stream path with a store that discards every batch (Kafka, decoding, batching, commits: the floor without the database)"
        )
        print("peak_rss_MB is the process high-water mark so far (includes the pre-fill producer and the generated rows)")
    }

    /// What one mock partition holds safely (its log is trimmed beyond ~5 MB).
    static let partitionBytes = 4_000_000

    /// Where the benchmark's own blocking calls run (libpq, the mock cluster's start and shutdown): never
    /// on Swift's cooperative pool, which the measured pipeline needs.
    static let blocking = BlockingExecutor(label: "streambench.blocking")

    /// Runs `statements` on a connection of their own, on `blocking`.
    static func execute(_ conninfo: String, _ statements: String...) async throws {
        try await blocking.run {
            let admin = try PGConnection(conninfo: conninfo)
            for sql in statements { _ = try admin.execute(sql) }
        }
    }

    /// Pre-fills a mock topic, then times StreamSync from the first read to the last commit.
    func measureStream(
        values: [[UInt8]], partitions: Int, conninfo: String, logger: Logger, discard: Bool = false
    ) async throws -> Double {
        let cluster = try await Self.blocking.run { try KafkaMockCluster(brokers: 1) }
        return try await withCleanup {
            try await measureStream(
                values: values, partitions: partitions, on: cluster, conninfo: conninfo, logger: logger, discard: discard)
        } cleanup: {
            _ = try? await Self.blocking.run { cluster.shutdown() }
        }
    }

    /// `measureStream` on a running mock cluster.
    private func measureStream(
        values: [[UInt8]], partitions: Int, on cluster: KafkaMockCluster, conninfo: String, logger: Logger, discard: Bool
    ) async throws -> Double {
        try cluster.createTopic("potato", partitions: partitions)
        let config = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, groupId: "streambench", clientId: "streambench")
        let producer = try KafkaProducer(configuration: config, logger: logger)
        try await producer.send(
            values.enumerated().map { i, value in KafkaProducerRecord(topic: "potato", partition: Int32(i % partitions), value: value) })
        try await producer.flush(timeout: .seconds(300))
        await producer.close()

        let schema = "bench_stream"
        try await Self.execute(conninfo, "DROP SCHEMA IF EXISTS \(schema) CASCADE")
        let postgres = try PostgresStore(.init(conninfo: conninfo, schema: schema, copyThreshold: storeCopyThreshold))
        try await postgres.prepareSchema()
        let store: any ChangeApplier = discard ? DiscardingStore() : postgres
        var additionalStores: [any ChangeApplier] = []
        for _ in 1..<applyConnections {
            let another = try PostgresStore(.init(conninfo: conninfo, schema: schema, copyThreshold: storeCopyThreshold))
            additionalStores.append(discard ? DiscardingStore() : another)
        }

        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        let dlq = try KafkaProducer(configuration: config, logger: logger)
        let settings = StreamSyncSettings(topics: ["potato"], batchMaxSize: batchSize)
        let pipeline = StreamPipeline(
            settings: settings, events: consumer, deadLetters: dlq, stores: [store] + additionalStores,
            subscription: .assign((0..<partitions).map { TopicPartition(topic: "potato", partition: Int32($0)) }, from: .beginning),
            metrics: StreamMetrics(), logger: logger)
        let start = ContinuousClock.now
        let task = Task { try await pipeline.run() }
        let total = Int64(values.count)
        while pipeline.committedOffsets.values.reduce(0, +) < total {
            try await Task.sleep(for: .milliseconds(5))
        }
        // From the first read (librdkafka's start-up — connecting, offset lookup, first fetch — is not
        // throughput) to the last commit.
        let elapsed = ContinuousClock.now - (pipeline.progress.firstReadAt ?? start)
        pipeline.stop()
        try await task.value
        let count = discard ? 0 : try await postgres.count(of: .potato)
        let progress = pipeline.progress
        guard discard ? progress.applied == values.count : count == values.count else {
            throw ValidationError(
                "stream run stored \(count) rows, expected \(values.count) (read \(progress.messages), applied \(progress.applied), "
                    + "stale \(progress.skippedStale), dead-lettered \(progress.deadLettered))")
        }
        try await Self.execute(conninfo, "DROP SCHEMA \(schema) CASCADE")
        return seconds(elapsed)
    }

    /// Decoding alone, then applying the decoded changes alone (batch size as the stream), for the split.
    func measureParts(values: [[UInt8]], conninfo: String) async throws -> (Double, Double) {
        let decoder = StreamSyncSettings(topics: ["potato"]).decoder
        let start = ContinuousClock.now
        var changes: [Change] = []
        changes.reserveCapacity(values.count)
        for value in values { changes.append(try decoder.decode(IncomingMessage(topic: "potato", value: value))) }
        let decoded = ContinuousClock.now
        let schema = "bench_apply"
        try await Self.execute(conninfo, "DROP SCHEMA IF EXISTS \(schema) CASCADE")
        let store = try PostgresStore(.init(conninfo: conninfo, schema: schema, copyThreshold: storeCopyThreshold))
        try await store.prepareSchema()
        let applyStart = ContinuousClock.now
        for offset in stride(from: 0, to: changes.count, by: batchSize) {
            _ = try await store.apply(Array(changes[offset..<min(offset + batchSize, changes.count)]))
        }
        let applied = ContinuousClock.now
        try await Self.execute(conninfo, "DROP SCHEMA \(schema) CASCADE")
        return (seconds(decoded - start), seconds(applied - applyStart))
    }

    /// COPY of the same rows into the same table layout.
    func measureCopy(records: [ImageRecord], conninfo: String) async throws -> Double {
        let schema = "bench_copy"
        try await Self.execute(conninfo, "DROP SCHEMA IF EXISTS \(schema) CASCADE")
        let setup = try PostgresStore(.init(conninfo: conninfo, schema: schema))
        try await setup.prepareSchema()
        let sql = PostgresCopyRows.copyCommand(into: "\(schema).image_record")
        // Rows are encoded before the clock starts: the COPY figure is the database's limit.
        let chunks = PostgresCopyRows.chunks(records.map { Change.upsert($0) })
        // The clock runs on the executor, around `copyIn` alone (not the hop to the executor and back).
        let (rows, elapsed) = try await Self.blocking.run {
            let connection = try PGConnection(conninfo: conninfo)
            let start = ContinuousClock.now
            let rows = try connection.copyIn(sql, chunks: chunks)
            return (rows, ContinuousClock.now - start)
        }
        guard rows == records.count else { throw ValidationError("COPY stored \(rows) rows, expected \(records.count)") }
        try await Self.execute(conninfo, "DROP SCHEMA \(schema) CASCADE")
        return seconds(elapsed)
    }
}

func median(_ xs: [Double]) -> Double {
    let sorted = xs.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func pad(_ n: Int, _ width: Int) -> String { String(repeating: " ", count: max(0, width - String(n).count)) + String(n) }
func fmt(_ x: Double, _ width: Int, _ decimals: Int) -> String {
    let s = String(format: "%.\(decimals)f", x)
    return String(repeating: " ", count: max(0, width - s.count)) + s
}

/// Accepts every batch without writing it: the stream path's cost without the database.
struct DiscardingStore: ChangeApplier {
    func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        var applied: [Plant: Int] = [:]
        for change in changes { applied[change.key.plant, default: 0] += 1 }
        return ApplyOutcome(changes: changes, appliedByPlant: applied)
    }
}
