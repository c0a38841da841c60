import BatchSyncCore
import CountingProxy
import Foundation
import Kafka
import KafkaMock
import Logging
import LibPQ
import PostgresStore
import SyncBenchCore
import SyncModel
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One harness run: set-up, the side-by-side run, drain, convergence check and report.
struct Harness {
    let command: SyncBenchCommand
    let pgURI: String
    let endpoint: PostgresEndpoint
    let outDirectory: URL
    let binDirectory: URL
    static let strategies: [SyncStrategy] = [.full, .watermark, .merkle]
    static let producerSchema = "syncbench_producer"

    init(command: SyncBenchCommand, pgURI: String) throws {
        self.command = command
        self.pgURI = pgURI
        endpoint = try PostgresEndpoint(uri: pgURI)
        outDirectory = URL(fileURLWithPath: command.out, isDirectory: true)
        binDirectory = command.binDir.map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for tool in ["StreamSync", "BatchSync"] where !FileManager.default.isExecutableFile(atPath: binDirectory.appendingPathComponent(tool).path) {
            throw HarnessError("\(tool) not found in \(binDirectory.path): build it (swift build -c release) or pass --bin-dir")
        }
    }

    static func consumerSchema(_ name: String) -> String { "syncbench_" + name }

    func progress(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    func run() async throws -> BenchReport {
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        let approaches = ["stream"] + Self.strategies.map(\.rawValue)
        let startedAt = ISO8601DateFormatter().string(from: Date())

        // 1. Databases: the producer gets the initial data set; every consumer starts as a copy of it
        //    (LIMS's synchronizer copies once right after deployment), so only the steady state is measured.
        progress("==> loading \(command.recordsPerPlant * 3) records of \(command.imageBytes) B into the producer\n")
        let admin = try PGConnection(conninfo: pgURI)
        for schema in [Self.producerSchema] + approaches.map(Self.consumerSchema) {
            try admin.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
        }
        let producer = try PostgresStore(.init(conninfo: pgURI, schema: Self.producerSchema, applicationName: "syncbench"))
        try await producer.prepareSchema()

        // 2. Kafka: the embedded mock cluster unless real brokers were named.
        let cluster = command.bootstrapServers == nil ? try KafkaMockCluster(brokers: 1) : nil
        defer { cluster?.shutdown() }
        let bootstrap = command.bootstrapServers ?? cluster!.bootstrapServers
        for topic in Plant.allCases.map(\.rawValue) + ["plantsync.deadletter"] { try cluster?.createTopic(topic, partitions: 3) }
        let kafkaProducer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: bootstrap, clientId: "syncbench-image-api"))
        let workload = Workload(
            producer: producer, publisher: KafkaPublisher(producer: kafkaProducer), seed: command.seed,
            imageBytes: command.imageBytes, perPlant: command.recordsPerPlant)
        try await workload.loadInitialData(createdBefore: Date())
        var consumers: [String: PostgresStore] = [:]
        for name in approaches {
            let schema = Self.consumerSchema(name)
            let store = try PostgresStore(.init(conninfo: pgURI, schema: schema, applicationName: "syncbench"))
            try await store.prepareSchema()
            try admin.execute("INSERT INTO \(schema).image_record SELECT * FROM \(Self.producerSchema).image_record")
            consumers[name] = store
        }
        // The watermark consumer remembers the copy as its last run.
        let marks = try admin.execute("SELECT plant, max(version_ts) FROM \(Self.producerSchema).image_record GROUP BY plant")
        for row in 0..<marks.rowCount {
            if let name = try marks.string(row, 0), let plant = Plant(rawValue: name), let mark = try marks.int64(row, 1) {
                try await consumers["watermark"]!.setSyncState(Reconciler.watermarkName(plant), to: mark)
            }
        }

        // 3. Counting proxies: one per job and database peer.
        var proxies: [String: CountingProxy] = [:]
        for name in approaches {
            proxies["\(name)/consumer"] = try await CountingProxy.start(name: "\(name)/consumer", upstream: endpoint.upstream)
            if name != "stream" {
                proxies["\(name)/producer"] = try await CountingProxy.start(name: "\(name)/producer", upstream: endpoint.upstream)
            }
        }

        // 4. The jobs, as child processes.
        let logs = outDirectory.appendingPathComponent("logs", isDirectory: true)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let httpPort = Int.random(in: 20_000...40_000)
        var jobs: [String: JobProcess] = [:]
        jobs["stream"] = JobProcess(
            name: "stream", executable: binDirectory.appendingPathComponent("StreamSync"),
            arguments: [
                "--bootstrap-servers", bootstrap, "--group-id", "syncbench-\(command.seed)", "--stats-interval-ms", "1000",
                "--store-uri", endpoint.uri(throughPort: proxies["stream/consumer"]!.port), "--schema", Self.consumerSchema("stream"),
                "--http-host", "127.0.0.1", "--http-port", String(httpPort), "--batch-wait-ms", "50",
            ], logDirectory: logs)
        for strategy in Self.strategies {
            let name = strategy.rawValue
            jobs[name] = JobProcess(
                name: name, executable: binDirectory.appendingPathComponent("BatchSync"),
                arguments: [
                    "--strategy", name, "--interval", String(max(1, Int(command.realBatchInterval.rounded()))),
                    "--watermark-overlap", String(command.watermarkOverlap),
                    "--producer-uri", endpoint.uri(throughPort: proxies["\(name)/producer"]!.port), "--producer-schema", Self.producerSchema,
                    "--consumer-uri", endpoint.uri(throughPort: proxies["\(name)/consumer"]!.port), "--consumer-schema", Self.consumerSchema(name),
                ], logDirectory: logs)
        }
        for job in jobs.values { try job.start() }
        let kafkaStats = KafkaStatsScraper(url: URL(string: "http://127.0.0.1:\(httpPort)/metrics")!)
        // Start the clock once StreamSync has joined its group and has partitions (/readyz), so the
        // one-off group join is not counted as freshness.
        progress("==> waiting for StreamSync to be ready\n")
        let ready = URL(string: "http://127.0.0.1:\(httpPort)/readyz")!
        let readyDeadline = Date().addingTimeInterval(90)
        while Date() < readyDeadline {
            if let (_, response) = try? await URLSession.shared.data(from: ready), (response as? HTTPURLResponse)?.statusCode == 200 { break }
            guard jobs["stream"]!.isRunning else { throw HarnessError("StreamSync exited early; see \(jobs["stream"]!.logFile.path)") }
            try await Task.sleep(for: .milliseconds(200))
        }

        // 5. The workload, with freshness polling and byte sampling.
        let tracker = FreshnessTracker(consumers: consumers)
        var counts: [String: Int] = [:]
        var eventBytes = 0
        var series: [String: [BenchReport.Point]] = [:]
        let start = Date()
        func bytes(_ name: String, kafka: Int) -> Int {
            let db = proxies.filter { $0.key.hasPrefix(name + "/") }.values.reduce(0) { $0 + $1.counts.sent + $1.counts.received }
            return db + (name == "stream" ? kafka : 0)
        }
        func sample() async {
            let kafka = await kafkaStats.total()
            let t = Date().timeIntervalSince(start)
            for name in approaches { series[name, default: []].append(.init(t: t, bytes: bytes(name, kafka: kafka))) }
            for job in jobs.values { job.sample() }
        }

        var rng = SeededGenerator(seed: command.seed)
        var next: [ChangeKind: Double] = [:]
        for kind in ChangeKind.allCases { next[kind] = Workload.delay(of: kind, profile: command.workloadProfile, rng: &rng) }
        var lastSample = -1.0, lastPoll = 0.0
        progress("==> running the workload for \(Int(command.duration)) s (\(command.workloadProfile)); batch every \(String(format: "%.1f", command.realBatchInterval)) s\n")
        while true {
            let now = Date().timeIntervalSince(start)
            if now >= command.duration { break }
            let (kind, due) = next.min { $0.value < $1.value }!
            if due <= now {
                if let change = try await workload.make(kind, rng: &rng) {
                    counts[kind.rawValue, default: 0] += 1
                    eventBytes += change.eventBytes
                    await tracker.track(change)
                }
                next[kind] = due + Workload.delay(of: kind, profile: command.workloadProfile, rng: &rng)
                continue
            }
            if now - lastPoll >= 0.2 {
                try await tracker.poll()
                lastPoll = now
            }
            if now - lastSample >= 1 {
                await sample()
                lastSample = now
                let line = approaches.map { "\($0) \(BenchReport.mb(series[$0]?.last?.bytes ?? 0))" }.joined(separator: "  ")
                progress("\r[\(Int(now))/\(Int(command.duration)) s] \(counts.values.reduce(0, +)) changes | \(line)   ")
            }
            try await Task.sleep(for: .milliseconds(Int(max(5, min(100, (min(due, lastPoll + 0.2) - now) * 1000)))))
        }
        try await kafkaProducer.flush()
        progress("\n==> draining: waiting until every change is visible in every consumer\n")

        // 6. Drain: stream until caught up; batch jobs until their next run has copied everything.
        let drainDeadline = Date().addingTimeInterval(command.realBatchInterval * 2 + 60)
        while Date() < drainDeadline {
            try await tracker.poll()
            await sample()
            var waiting = 0
            for name in approaches { waiting += await tracker.pendingCount(name) }
            if waiting == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        await sample()
        // Keep StreamSync's last exposition: the metrics a Prometheus scrape would have seen.
        if let (body, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(httpPort)/metrics")!) {
            try body.write(to: logs.appendingPathComponent("streamsync.prom"))
        }
        var exits: [String: Int32] = [:]
        for (name, job) in jobs { exits[name] = await job.stop() }
        let kafkaFinal = await kafkaStats.lastSeen()

        // 7. Convergence: a final batch run per strategy (through its proxies, so it counts), then a
        //    merkle dry run of every consumer against the producer must find nothing.
        progress("==> final batch runs and convergence check\n")
        var fetched: [String: Int] = [:]
        for strategy in Self.strategies {
            let name = strategy.rawValue
            var options = BatchOptions()
            options.strategy = strategy
            let final = try await Reconciler(
                producer: PostgresStore(.init(conninfo: endpoint.uri(throughPort: proxies["\(name)/producer"]!.port), schema: Self.producerSchema)),
                consumer: PostgresStore(.init(conninfo: endpoint.uri(throughPort: proxies["\(name)/consumer"]!.port), schema: Self.consumerSchema(name))),
                options: options
            ).run()
            fetched[name] = try Self.rowsFetched(log: jobs[name]!.logFile) + final.rowsFetched
        }
        var results: [BenchReport.Approach] = []
        for name in approaches {
            var check = BatchOptions()
            check.dryRun = true
            let diff = try await Reconciler(producer: producer, consumer: consumers[name]!, options: check).run()
            var peers: [BenchReport.PeerBytes] = []
            for peer in ["producer", "consumer"] {
                if let proxy = proxies["\(name)/\(peer)"] {
                    peers.append(.init(peer: "\(peer) db", sent: proxy.counts.sent, received: proxy.counts.received, source: "proxy"))
                }
            }
            if name == "stream" {
                peers.append(.init(peer: "kafka", sent: kafkaFinal.sent, received: kafkaFinal.received, source: "librdkafka-statistics"))
            }
            let process = jobs[name]!.final
            results.append(
                BenchReport.Approach(
                    name: name, peers: peers,
                    recordsTransferred: name == "stream" ? kafkaFinal.messages : fetched[name] ?? 0,
                    freshness: await tracker.summary(name), cpuSeconds: process.cpuSeconds, peakRSSBytes: process.peakRSSBytes,
                    converged: diff.differences == 0 && (exits[name] ?? 0) == 0, remainingDifferences: diff.differences))
            series[name, default: []].append(.init(t: Date().timeIntervalSince(start), bytes: peers.reduce(0) { $0 + $1.sent + $1.received }))
        }
        for proxy in proxies.values { try await proxy.stop() }
        await kafkaProducer.close()

        let report = BenchReport(
            parameters: .init(
                profile: command.workloadProfile.description, durationSeconds: command.duration, seed: command.seed,
                recordsPerPlant: command.recordsPerPlant, imageBytes: command.imageBytes,
                batchIntervalSeconds: command.realBatchInterval, startedAt: startedAt),
            changes: counts, eventBytes: eventBytes, approaches: results, series: series)
        try report.json().write(to: outDirectory.appendingPathComponent("report.json"))
        try Data(report.markdown(chartFile: "chart.svg").utf8).write(to: outDirectory.appendingPathComponent("report.md"))
        try Data(Chart.svg(report).utf8).write(to: outDirectory.appendingPathComponent("chart.svg"))
        return report
    }

    /// Sum of `rows_fetched` over the JSON lines a BatchSync loop printed.
    static func rowsFetched(log: URL) throws -> Int {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").reduce(0) { total, line in
            guard line.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return total }
            return total + (object["rows_fetched"] as? Int ?? 0)
        }
    }
}

/// Publishes workload events with the Kafka producer.
struct KafkaPublisher: EventPublisher {
    let producer: KafkaProducer
    func publish(topic: String, key: String, value: String) async throws {
        try producer.send(KafkaProducerRecord(topic: topic, key: Array(key.utf8), value: Array(value.utf8)))
    }
}

/// Reads StreamSync's own librdkafka byte counters from its /metrics (the Kafka peer's figures: the
/// embedded mock broker advertises its own address, so a proxy would see only the bootstrap traffic).
actor KafkaStatsScraper {
    struct Totals {
        var sent = 0
        var received = 0
        var messages = 0
    }

    let url: URL
    var last = Totals()

    init(url: URL) { self.url = url }

    func total() async -> Int {
        if let text = try? await String(decoding: URLSession.shared.data(from: url).0, as: UTF8.self) {
            var totals = Totals()
            for line in text.split(separator: "\n") where line.contains("peer=\"kafka\"") {
                let value = Int(Double(line.split(separator: " ").last ?? "") ?? 0)
                if line.hasPrefix("plantsync_bytes_read_total") { totals.received = value }
                if line.hasPrefix("plantsync_bytes_written_total") { totals.sent = value }
                if line.hasPrefix("plantsync_rows_read_total") { totals.messages = value }
            }
            last = totals
        }
        return last.sent + last.received
    }

    func lastSeen() -> Totals { last }
}
