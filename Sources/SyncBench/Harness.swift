import BlockingExecutor
import BatchSyncCore
import CountingProxy
import Foundation
import Kafka
import KafkaMock
import LibPQ
import Logging
import PostgresStore
import SyncBenchCore
import SyncModel

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One harness run: set-up, the side-by-side run, drain, convergence check and report, each a step.
struct Harness {
    /// Where the harness's own blocking set-up calls run (libpq, the mock cluster).
    static let blocking = BlockingExecutor(label: "syncbench.blocking")
    let command: SyncBenchCommand
    let pgURI: String
    /// The consumers' PostgreSQL (and the producer's unless `--producer-uri` names another).
    let endpoint: PostgresEndpoint
    let producerSide: ProducerSide
    /// `--plants`: the workload's topics and the producer's tables or collections.
    let plants: [Plant]
    let outDirectory: URL
    let binDirectory: URL
    static let strategies: [SyncStrategy] = [.full, .watermark, .merkle, .reconcile]
    /// The PlantSync-shaped producer's schema (`--producer-layout plantsync`).
    static let producerSchema = "syncbench_producer"

    init(command: SyncBenchCommand, pgURI: String) throws {
        self.command = command
        self.pgURI = pgURI
        endpoint = try PostgresEndpoint(uri: pgURI)
        producerSide = try ProducerSide(layout: command.producerLayout, uri: command.producerURI ?? pgURI)
        plants = try command.plantList()
        outDirectory = URL(fileURLWithPath: command.out, isDirectory: true)
        binDirectory =
            command.binDir.map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for tool in ["StreamSync", "BatchSync"]
        where !FileManager.default.isExecutableFile(atPath: binDirectory.appendingPathComponent(tool).path) {
            throw HarnessError("\(tool) not found in \(binDirectory.path): build it (swift build -c release) or pass --bin-dir")
        }
    }

    static func consumerSchema(_ name: String) -> String { "syncbench_" + name }

    func progress(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// What the steps of one run set up and hand on to the next.
    final class Run {
        let approaches = ["stream"] + Harness.strategies.map(\.rawValue)
        let startedAt = ISO8601DateFormatter().string(from: Date())
        let httpPort = Int.random(in: 20_000...40_000)
        var producer: (any LimsProducer)!
        var consumers: [String: PostgresStore] = [:]
        var cluster: KafkaMockCluster?
        var bootstrap = ""
        var kafkaProducer: KafkaProducer!
        var workload: Workload!
        var proxies: [String: CountingProxy] = [:]
        var jobs: [String: JobProcess] = [:]
        var logs: URL!
        var kafkaStats: KafkaStatsScraper!
        var kernelKafka: KernelKafkaBytes?
        var kafkaFinal = KafkaStatsScraper.Totals()
        var kernelFinal = KernelSocketLedger.Totals()
        var tracker: FreshnessTracker!
        var counts: [String: Int] = [:]
        var eventBytes = 0
        var series: [String: [BenchReport.Point]] = [:]
        var start = Date()
        var exits: [String: Int32] = [:]

        /// Bytes moved so far by one approach: its proxies, plus Kafka for the stream.
        func bytes(_ name: String, kafka: Int) -> Int {
            let db = proxies.filter { $0.key.hasPrefix(name + "/") }.values.reduce(0) { $0 + $1.counts.sent + $1.counts.received }
            return db + (name == "stream" ? kafka : 0)
        }

        /// One point of every approach's byte series, and a CPU/memory sample of every job.
        func sample() async {
            let kafka = await kafkaStats.total()
            let t = Date().timeIntervalSince(start)
            for name in approaches { series[name, default: []].append(.init(t: t, bytes: bytes(name, kafka: kafka))) }
            for job in jobs.values { job.sample() }
            await kernelKafka?.sample()
        }
    }

    /// Set-up, the side-by-side run, drain, convergence check and report.
    func run() async throws -> BenchReport {
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        let run = Run()
        return try await withCleanup {
            try await prepareStores(run)
            try await loadInitialData(run)
            try await startProxies(run)
            try startJobs(run)
            try await waitUntilStreamSyncIsReady(run)
            try await runWorkload(run)
            try await drain(run)
            let results = try await checkConvergence(run)
            return try await writeReport(run, results)
        } cleanup: {
            if let cluster = run.cluster { _ = try? await Self.blocking.run { cluster.shutdown() } }
        }
    }

    /// The producer (LIMS's tables or collections, or PlantSync's store with `--producer-layout
    /// plantsync`) and one PlantSync store per approach, all empty; the embedded mock cluster unless
    /// real brokers were named.
    private func prepareStores(_ run: Run) async throws {
        let schemas = [Self.producerSchema] + run.approaches.map(Self.consumerSchema)
        try await Self.blocking.run { [pgURI] in
            let admin = try PGConnection(conninfo: pgURI)
            for schema in schemas { try admin.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE") }
        }
        run.producer = try producerSide.makeProducer(schema: Self.producerSchema, plants: plants)
        progress("==> producer: \(run.producer.description)\n")
        try await run.producer.prepare()
        for name in run.approaches {
            let store = try PostgresStore(.init(conninfo: pgURI, schema: Self.consumerSchema(name), applicationName: "syncbench"))
            try await store.prepareSchema()
            run.consumers[name] = store
        }
        run.cluster = command.bootstrapServers == nil ? try await Self.blocking.run { try KafkaMockCluster(brokers: 1) } : nil
        run.bootstrap = command.bootstrapServers ?? run.cluster!.bootstrapServers
        for topic in plants.map(\.rawValue) + ["plantsync.deadletter"] { try run.cluster?.createTopic(topic, partitions: 3) }
        run.kafkaProducer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: run.bootstrap, clientId: "syncbench-image-api"))
        run.workload = Workload(
            producer: run.producer, publisher: KafkaPublisher(producer: run.kafkaProducer), seed: command.seed,
            imageBytes: command.imageBytes, perPlant: command.recordsPerPlant, plants: plants)
    }

    /// The initial data set goes into the producer (not published), and every consumer starts as a copy
    /// of it (LIMS's synchronizer copies once right after deployment), so only the steady state is
    /// measured: the workload applies each batch to the stream's consumer too, which the others are
    /// copied from; the watermark consumer remembers the copy as its last run.
    private func loadInitialData(_ run: Run) async throws {
        progress("==> loading \(command.recordsPerPlant * plants.count) records of \(command.imageBytes) B into the producer\n")
        let marks = try await run.workload.loadInitialData(createdBefore: Date(), mirror: run.consumers["stream"]!)
        for name in run.approaches where name != "stream" {
            try await run.consumers[name]!.copyRows(fromSchema: Self.consumerSchema("stream"))
        }
        for (plant, mark) in marks {
            try await run.consumers["watermark"]!.setSyncState(Reconciler.watermarkName(plant), to: mark)
        }
    }

    /// One counting proxy per job and database peer.
    private func startProxies(_ run: Run) async throws {
        for name in run.approaches {
            run.proxies["\(name)/consumer"] = try await CountingProxy.start(name: "\(name)/consumer", upstream: endpoint.upstream)
            if name != "stream" {
                run.proxies["\(name)/producer"] = try await CountingProxy.start(name: "\(name)/producer", upstream: producerSide.upstream)
            }
        }
    }

    /// StreamSync and one BatchSync loop per strategy, as child processes behind their proxies.
    private func startJobs(_ run: Run) throws {
        run.logs = outDirectory.appendingPathComponent("logs", isDirectory: true)
        try FileManager.default.createDirectory(at: run.logs, withIntermediateDirectories: true)
        let proxies = run.proxies
        run.jobs["stream"] = JobProcess(
            name: "stream", executable: binDirectory.appendingPathComponent("StreamSync"),
            arguments: [
                "--bootstrap-servers", run.bootstrap, "--group-id", "syncbench-\(command.seed)", "--stats-interval-ms", "1000",
                "--store-uri", endpoint.uri(throughPort: proxies["stream/consumer"]!.port),
                "--schema", Self.consumerSchema("stream"), "--topics", plants.map(\.rawValue).joined(separator: ","),
                "--http-host", "127.0.0.1", "--http-port", String(run.httpPort), "--batch-wait-ms", "50",
            ], logDirectory: run.logs)
        for strategy in Self.strategies {
            let name = strategy.rawValue
            run.jobs[name] = JobProcess(
                name: name, executable: binDirectory.appendingPathComponent("BatchSync"),
                arguments: batchArguments(strategy, run: run) + ["--interval", String(max(1, Int(command.realBatchInterval.rounded())))],
                logDirectory: run.logs)
        }
        for job in run.jobs.values { try job.start() }
        run.kafkaStats = KafkaStatsScraper(url: URL(string: "http://127.0.0.1:\(run.httpPort)/metrics")!)
        run.kernelKafka = KernelKafkaBytes(pid: run.jobs["stream"]!.pid, bootstrap: run.bootstrap)
    }

    /// BatchSync's arguments for one strategy, reaching both databases through the strategy's proxies
    /// (`direct`: without them, for the convergence check, which is not part of the measurement).
    /// `plants`: default `--plants`.
    func batchArguments(_ strategy: SyncStrategy, run: Run, consumer: String? = nil, direct: Bool = false, plants: [Plant]? = nil) -> [String] {
        let name = consumer ?? strategy.rawValue
        let producerURI = direct ? producerSide.directURI : producerSide.uri(throughPort: run.proxies["\(name)/producer"]!.port)
        let consumerURI = direct ? pgURI : endpoint.uri(throughPort: run.proxies["\(name)/consumer"]!.port)
        return [
            "--strategy", strategy.rawValue, "--watermark-overlap", String(command.watermarkOverlap),
            "--producer-uri", producerURI,
        ] + producerSide.batchSyncArguments(schema: Self.producerSchema) + [
            "--consumer-uri", consumerURI, "--consumer-schema", Self.consumerSchema(name),
            "--plants", (plants ?? self.plants).map(\.rawValue).joined(separator: ","),
        ]
    }

    /// The clock starts once StreamSync has joined its group and has partitions (/readyz), so the
    /// one-off group join is not counted as freshness.
    private func waitUntilStreamSyncIsReady(_ run: Run) async throws {
        progress("==> waiting for StreamSync to be ready\n")
        let ready = URL(string: "http://127.0.0.1:\(run.httpPort)/readyz")!
        let readyDeadline = Date().addingTimeInterval(90)
        let stream = run.jobs["stream"]!
        while Date() < readyDeadline {
            if let (_, response) = try? await URLSession.shared.data(from: ready), (response as? HTTPURLResponse)?.statusCode == 200 {
                break
            }
            guard stream.isRunning else { throw HarnessError("StreamSync exited early; see \(stream.logFile.path)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The workload for `duration`, with freshness polling (every 0.2 s) and byte sampling (every 1 s).
    private func runWorkload(_ run: Run) async throws {
        run.tracker = FreshnessTracker(consumers: run.consumers)
        run.start = Date()
        var rng = SeededGenerator(seed: command.seed)
        var next: [ChangeKind: Double] = [:]
        for kind in ChangeKind.allCases { next[kind] = Workload.delay(of: kind, profile: command.workloadProfile, rng: &rng) }
        var lastSample = -1.0
        var lastPoll = 0.0
        let interval = String(format: "%.1f", command.realBatchInterval)
        progress("==> running the workload for \(Int(command.duration)) s (\(command.workloadProfile)); batch every \(interval) s\n")
        while true {
            let now = Date().timeIntervalSince(run.start)
            if now >= command.duration { break }
            let (kind, due) = next.min { $0.value < $1.value }!
            if due <= now {
                if let change = try await run.workload.make(kind, rng: &rng) {
                    run.counts[kind.rawValue, default: 0] += 1
                    run.eventBytes += change.eventBytes
                    await run.tracker.track(change)
                }
                next[kind] = due + Workload.delay(of: kind, profile: command.workloadProfile, rng: &rng)
                continue
            }
            if now - lastPoll >= 0.2 {
                try await run.tracker.poll()
                lastPoll = now
            }
            if now - lastSample >= 1 {
                await run.sample()
                lastSample = now
                let line = run.approaches.map { "\($0) \(BenchReport.mb(run.series[$0]?.last?.bytes ?? 0))" }.joined(separator: "  ")
                progress("\r[\(Int(now))/\(Int(command.duration)) s] \(run.counts.values.reduce(0, +)) changes | \(line)   ")
            }
            try await Task.sleep(for: .milliseconds(Int(max(5, min(100, (min(due, lastPoll + 0.2) - now) * 1000)))))
        }
        try await run.kafkaProducer.flush()
    }

    /// Stream until caught up; batch jobs until their next run has copied everything. Then the jobs
    /// stop, StreamSync's last exposition kept (what a Prometheus scrape would have seen).
    private func drain(_ run: Run) async throws {
        progress("\n==> draining: waiting until every change is visible in every consumer\n")
        let drainDeadline = Date().addingTimeInterval(command.realBatchInterval * 2 + 60)
        while Date() < drainDeadline {
            try await run.tracker.poll()
            await run.sample()
            var waiting = 0
            for name in run.approaches { waiting += await run.tracker.pendingCount(name) }
            if waiting == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        await run.sample()
        if let (body, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(run.httpPort)/metrics")!) {
            try body.write(to: run.logs.appendingPathComponent("streamsync.prom"))
        }
        // Both Kafka counts as close to the stop as possible: a socket's kernel counters go with it.
        _ = await run.kafkaStats.total()
        await run.kernelKafka?.sample()
        run.kafkaFinal = await run.kafkaStats.lastSeen()
        run.kernelFinal = await run.kernelKafka?.totals ?? .init()
        run.exits["stream"] = await run.jobs["stream"]!.stop()
        for (name, job) in run.jobs where name != "stream" { run.exits[name] = await job.stop() }
    }

    /// A final batch run per strategy (a BatchSync process through its proxies, so it counts), then a
    /// merkle dry run of every consumer against the producer (BatchSync again, directly, not counted)
    /// must find nothing. BatchSync is the only reader of the producer: SyncBench only writes it.
    private func checkConvergence(_ run: Run) async throws -> [BenchReport.Approach] {
        let kafkaFinal = run.kafkaFinal
        progress("==> final batch runs and convergence check\n")
        var fetched: [String: Int] = [:]
        var failures: [String: String] = [:]
        for strategy in Self.strategies {
            let name = strategy.rawValue
            let final = try await runOnce("\(name)-final", batchArguments(strategy, run: run), run: run)
            if final.status != 0 { failures[name] = "final run failed (exit \(final.status)); see \(final.log.path)" }
            fetched[name] = try Self.rowsFetched(log: run.jobs[name]!.logFile) + (final.report?["rows_fetched"] as? Int ?? 0)
        }
        var results: [BenchReport.Approach] = []
        for name in run.approaches {
            let check = try await runOnce(
                "check-\(name)", batchArguments(.merkle, run: run, consumer: name, direct: true) + ["--dry-run"],
                run: run)
            let differences: Int
            if check.status == 0, let found = check.report?["differences"] as? Int {
                differences = found
            } else {
                differences = -1
                failures[name, default: ""] += " convergence check failed (exit \(check.status)); see \(check.log.path)"
            }
            var peers: [BenchReport.PeerBytes] = []
            for peer in ["producer", "consumer"] {
                if let proxy = run.proxies["\(name)/\(peer)"] {
                    peers.append(.init(peer: "\(peer) db", sent: proxy.counts.sent, received: proxy.counts.received, source: "proxy"))
                }
            }
            if name == "stream" {
                peers.append(.init(peer: "kafka", sent: kafkaFinal.sent, received: kafkaFinal.received, source: "librdkafka-statistics"))
            }
            let process = run.jobs[name]!.final
            results.append(
                BenchReport.Approach(
                    name: name, peers: peers,
                    recordsTransferred: name == "stream" ? kafkaFinal.messages : fetched[name] ?? 0,
                    freshness: await run.tracker.summary(name), cpuSeconds: process.cpuSeconds, peakRSSBytes: process.peakRSSBytes,
                    converged: differences == 0 && (run.exits[name] ?? 0) == 0 && failures[name] == nil,
                    remainingDifferences: max(0, differences)))
            run.series[name, default: []].append(
                .init(t: Date().timeIntervalSince(run.start), bytes: peers.reduce(0) { $0 + $1.sent + $1.received }))
        }
        for (name, failure) in failures.sorted(by: { $0.key < $1.key }) { progress("!! \(name): \(failure)\n") }
        for proxy in run.proxies.values { try await proxy.stop() }
        await run.kafkaProducer.close()
        return results
    }

    /// One BatchSync run (no `--interval`) as a child process; its exit status and JSON summary line.
    func runOnce(_ name: String, _ arguments: [String], run: Run) async throws -> (status: Int32, report: [String: Any]?, log: URL)
    {
        let job = JobProcess(
            name: name, executable: binDirectory.appendingPathComponent("BatchSync"), arguments: arguments, logDirectory: run.logs)
        try job.start()
        let status = await job.waitForExit(timeout: .seconds(600))
        let text = (try? String(contentsOf: job.logFile, encoding: .utf8)) ?? ""
        let report = text.split(separator: "\n").reversed().lazy.compactMap { line -> [String: Any]? in
            guard line.hasPrefix("{") else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }.first
        return (status, report, job.logFile)
    }

    /// report.json, report.md and chart.svg in the output directory.
    private func writeReport(_ run: Run, _ results: [BenchReport.Approach]) async throws -> BenchReport {
        let report = BenchReport(
            parameters: .init(
                profile: command.workloadProfile.description, durationSeconds: command.duration, seed: command.seed,
                recordsPerPlant: command.recordsPerPlant, imageBytes: command.imageBytes,
                batchIntervalSeconds: command.realBatchInterval, startedAt: run.startedAt, producer: run.producer.description,
                batchSyncProducerArguments: producerSide.batchSyncArguments(schema: Self.producerSchema)),
            changes: run.counts, eventBytes: run.eventBytes, approaches: results, series: run.series,
            kafkaCrossCheck: await kafkaCrossCheck(run))
        try report.json().write(to: outDirectory.appendingPathComponent("report.json"))
        try Data(report.markdown(chartFile: "chart.svg").utf8).write(to: outDirectory.appendingPathComponent("report.md"))
        try Data(Chart.svg(report).utf8).write(to: outDirectory.appendingPathComponent("chart.svg"))
        return report
    }

    /// librdkafka's Kafka bytes against the kernel's, or nil if `ss` could not be sampled.
    private func kafkaCrossCheck(_ run: Run) async -> BenchReport.KafkaCrossCheck? {
        guard let kernel = run.kernelKafka else { return nil }
        if let failure = await kernel.failure {
            progress("!! Kafka cross-check left out: \(failure)\n")
            return nil
        }
        return BenchReport.KafkaCrossCheck(
            librdkafkaSent: run.kafkaFinal.sent, librdkafkaReceived: run.kafkaFinal.received, kernelSent: run.kernelFinal.sent,
            kernelReceived: run.kernelFinal.received, kernelSockets: run.kernelFinal.sockets, kernelMatch: kernel.match)
    }

    /// Sum of `rows_fetched` over the JSON lines a BatchSync loop printed.
    static func rowsFetched(log: URL) throws -> Int {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").reduce(0) { total, line in
            guard line.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return total
            }
            return total + (object["rows_fetched"] as? Int ?? 0)
        }
    }
}

/// Publishes workload events with the Kafka producer.
struct KafkaPublisher: EventPublisher {
    let producer: KafkaProducer
    func publish(topic: String, key: String, value: String) async throws {
        try await producer.send([KafkaProducerRecord(topic: topic, key: Array(key.utf8), value: Array(value.utf8))])
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
