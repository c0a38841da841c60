import Foundation
import Kafka
import KafkaMock
import LibPQ
import PostgresStore
import SyncModel
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One chaos run: set-up, the stream under faults, convergence, the checks and the report.
struct ChaosRun {
    let options: ChaosOptions

    static let schema = "chaos"
    static let group = "plantsync-chaos"
    static let deadLetterTopic = "plantsync.deadletter"
    /// The mock broker trims a partition beyond ~5 MB; the generator keeps every partition's
    /// uncommitted backlog under this, so nothing unread is ever trimmed (see `KafkaWatch`).
    static let backlogCapBytes = 3 << 20

    func progress(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    func run() async throws -> ChaosReport {
        let runStart = ContinuousClock.now
        let plan = FaultPlan(
            seed: options.seed, events: options.events, rate: options.rate, kills: options.kills,
            pgOutage: options.pgOutage, brokerOutage: options.brokerOutage)
        let logs = options.out.appendingPathComponent("logs", isDirectory: true)
        try? FileManager.default.removeItem(at: logs)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)

        // 1. The consumer database: a fresh schema (StreamSync creates its table on start).
        do {
            let admin = try PGConnection(conninfo: options.pgURI)
            try admin.execute("DROP SCHEMA IF EXISTS \(Self.schema) CASCADE")
        } catch {
            throw ChaosError("cannot reach the consumer database: \(error)")
        }

        // 2. Kafka: the mock cluster, one broker as LIMS runs it; topics per plant, and the dead-letter topic.
        let cluster = try KafkaMockCluster(brokers: 1)
        defer { cluster.shutdown() }
        var partitions: [TopicPartition] = []
        for plant in options.plants {
            try cluster.createTopic(plant.rawValue, partitions: options.partitionsPerTopic)
            partitions += (0..<options.partitionsPerTopic).map { TopicPartition(topic: plant.rawValue, partition: Int32($0)) }
        }
        try cluster.createTopic(Self.deadLetterTopic, partitions: 1)
        let deadLetterPartition = TopicPartition(topic: Self.deadLetterTopic, partition: 0)
        // The generator's producer: idempotent, so retries after the broker outage neither reorder nor
        // duplicate a partition's messages (the produced order per key is the truth), and no message
        // times out while the brokers are down.
        let timeoutMs = Int(max(300, options.brokerOutage + 300) * 1000)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(
                bootstrapServers: cluster.bootstrapServers, clientId: "chaos-lims-image-api",
                properties: ["enable.idempotence": "true", "message.timeout.ms": String(timeoutMs), "log_level": "0"]))
        let watch = KafkaWatch(
            consumer: try KafkaConsumer(
                configuration: KafkaConfiguration(
                    bootstrapServers: cluster.bootstrapServers, groupId: Self.group, clientId: "chaos-offset-watch",
                    properties: ["log_level": "0"])),
            partitions: partitions + [deadLetterPartition])

        // 3. StreamSync, the real executable, as a supervised child process.
        let httpPort = try await FreePort.find()
        let supervisor = StreamSyncSupervisor(
            executable: options.streamSync,
            arguments: [
                "--bootstrap-servers", cluster.bootstrapServers, "--group-id", Self.group,
                "--store-uri", options.pgURI, "--schema", Self.schema, "--dead-letter-topic", Self.deadLetterTopic,
                "--topics", options.plants.map(\.rawValue).joined(separator: ","),
                "--http-host", "127.0.0.1", "--http-port", String(httpPort), "--stats-interval-ms", "0",
                // A SIGKILLed member stays in the group until its session expires, and the group waits for
                // it before handing its partitions to the restarted instance: 45 s by default. 3 s here
                // (a real broker refuses less than 6 s unless configured; the mock accepts it), so that
                // a restarted instance processes again after ~5 s instead of ~11 s (at 6 s) and most
                // kills hit an instance that is applying and committing. Correctness does not depend
                // on it: an expired member's uncommitted work is replayed under the version rule.
                "-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=500",
            ],
            logDirectory: logs, httpPort: httpPort)
        let faults = FaultRecorder()
        progress(
            "==> chaos: seed \(options.seed), \(fmt(options.events)) events over ≥ \(String(format: "%.0f", plan.duration)) s, "
                + "\(options.kills) kills, PostgreSQL down \(secs(options.pgOutage)), brokers down \(secs(options.brokerOutage)), "
                + "\(options.partialPercent) % partial updates; logs in \(logs.path)\n")
        try await supervisor.start()
        // From here on every exit path stops StreamSync: an error must not leave it running.
        do {
            let readyDeadline = ContinuousClock.now + .seconds(120)
            while !(await supervisor.currentIsReady) {
                guard ContinuousClock.now < readyDeadline else {
                    throw ChaosError("StreamSync did not become ready within 120 s; see \(logs.path)")
                }
                try await supervisor.watch()
                await supervisor.pollReadiness()
                try await Task.sleep(for: .milliseconds(200))
            }

            let watcher = Task { await watch.run() }
            let monitor = Task {
                while !Task.isCancelled {
                    do { try await supervisor.watch() } catch { faults.fail("\(error)") }
                    await supervisor.pollReadiness()
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer {
                watcher.cancel()
                monitor.cancel()
            }

            // 4. The stream and, beside it, the faults.
            let streamStart = ContinuousClock.now
            let faultTask = Task {
                await Self.inject(
                    plan, from: streamStart, supervisor: supervisor, cluster: cluster, server: options.server, recorder: faults,
                    log: logs.appendingPathComponent("pg_ctl.log"))
            }
            defer { faultTask.cancel() }
            var stream = LimsStream(
                seed: options.seed, recordBytes: options.recordBytes, partialPercent: options.partialPercent,
                partitions: options.partitionsPerTopic, plants: options.plants)
            var produced: [TopicPartition: Int] = [:]
            /// Per partition, the stored bytes of every message so far (prefix sums): the backlog past the
            /// committed offset.
            var cumulative: [TopicPartition: [Int]] = [:]
            for tp in partitions { cumulative[tp] = [0] }
            let rate = plan.rate(events: options.events)
            var tokens = 0.0
            var lastRefill = ContinuousClock.now
            var stalled = Duration.zero
            var lastReport = ContinuousClock.now
            var eventBytes = 0
            for _ in 0..<options.events {
                let event = stream.next()
                let tp = TopicPartition(topic: event.key.plant.rawValue, partition: event.partition)
                // Retention: wait while this partition's uncommitted backlog is near what the mock keeps.
                let sums = cumulative[tp]!
                var stallStart: ContinuousClock.Instant?
                while true {
                    let committed = min(Int(watch.snapshot.committed[tp] ?? 0), sums.count - 1)
                    if sums[sums.count - 1] - sums[committed] + event.storedBytes <= Self.backlogCapBytes { break }
                    stallStart = stallStart ?? .now
                    try await Task.sleep(for: .milliseconds(50))
                }
                if let stallStart {
                    stalled += ContinuousClock.now - stallStart
                    lastRefill = .now
                }
                // Pace: a token bucket of `rate` per second holding at most 50 ms of events (no catching up).
                while tokens < 1 {
                    let now = ContinuousClock.now
                    tokens = min(tokens + (now - lastRefill).seconds * rate, max(1, rate * 0.05))
                    lastRefill = now
                    if tokens < 1 { try await Task.sleep(for: .milliseconds(2)) }
                }
                tokens -= 1
                try producer.send(
                    KafkaProducerRecord(
                        topic: tp.topic, partition: tp.partition, key: Array(String(event.key.id).utf8), value: event.value,
                        timestampMillis: event.timestampMillis))
                produced[tp, default: 0] += 1
                cumulative[tp]!.append(sums[sums.count - 1] + event.storedBytes)
                eventBytes += event.value?.count ?? 0
                if ContinuousClock.now - lastReport >= .seconds(5) {
                    lastReport = .now
                    let done = produced.values.reduce(0, +)
                    let committed = watch.snapshot.committed.filter { $0.key.topic != Self.deadLetterTopic }.values.reduce(0, +)
                    progress(
                        "    [\(Int((ContinuousClock.now - streamStart).seconds)) s] \(fmt(done))/\(fmt(options.events)) events, "
                            + "\(fmt(Int(committed))) committed, kills \(await supervisor.kills)/\(options.kills)\(faults.activeNote)"
                            + (stalled > .milliseconds(50) ? ", held back \(secs(stalled.seconds)) so far" : "") + "\n")
                }
            }
            let productionTime = ContinuousClock.now - streamStart
            var deliveryError: String?
            do {
                try await producer.flush(timeout: .seconds(Int64(timeoutMs / 1000)))
            } catch {
                deliveryError = "\(error)"
            }
            let deliveries = producer.deliveries
            await faultTask.value
            let streamEnd = ContinuousClock.now
            progress(
                "==> \(fmt(options.events)) events produced in \(secs(productionTime.seconds)); waiting for StreamSync to commit them all\n"
            )

            // 5. Convergence: the group's committed offset reaches the end offset of every partition.
            var convergedAfter: Duration?
            let convergeDeadline = streamEnd + .seconds(options.convergeTimeout)
            while ContinuousClock.now < convergeDeadline {
                let snap = watch.snapshot
                if partitions.allSatisfy({ tp in
                    let n = Int64(produced[tp] ?? 0)
                    return (snap.committed[tp] ?? 0) == n && (snap.watermarks[tp]?.high ?? -1) == n
                }) {
                    convergedAfter = ContinuousClock.now - streamEnd
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            monitor.cancel()
            _ = await monitor.value
            let shutdown = await supervisor.stop(timeout: .seconds(30))
            watcher.cancel()
            _ = await watcher.value
            await watch.sample(timeout: .seconds(10))
            let final = watch.snapshot
            await watch.consumer.close()
            await producer.close()

            // 6. The consumer database against the model.
            progress("==> comparing \(fmt(stream.truth.count)) keys with the consumer database\n")
            let store = try PostgresStore(.init(conninfo: options.pgURI, schema: Self.schema, applicationName: "chaos-verify"))
            let verification = try await Verification.run(store: store, stream: stream)

            return ChaosReport(
                options: options, plan: plan, stream: stream, partitions: partitions, produced: produced,
                deliveries: deliveries, deliveryError: deliveryError, eventBytes: eventBytes,
                productionTime: productionTime.seconds, stalled: stalled.seconds, faults: faults.snapshot,
                kills: await supervisor.kills, killsWhileReady: await supervisor.killsWhileReady,
                restartsAfterKill: await supervisor.restartsAfterKill,
                unplannedExits: await supervisor.unplannedExits.map { exit in
                    ChaosReport.Exit(
                        instance: exit.instance, at: (exit.at - streamStart).seconds, how: exit.how, lastLine: exit.lastLine)
                },
                readyTimes: await supervisor.readyTimes, instances: await supervisor.instances.count,
                shutdown: (shutdown.how, shutdown.took.seconds), final: final, deadLetterPartition: deadLetterPartition,
                convergedAfter: convergedAfter?.seconds, verification: verification, logs: logs,
                runTime: (ContinuousClock.now - runStart).seconds)
        } catch {
            await supervisor.stop(timeout: .seconds(10))
            throw error
        }
    }

    /// Carries out the plan: kills, the PostgreSQL outage, the broker outage, each at its instant.
    static func inject(
        _ plan: FaultPlan, from start: ContinuousClock.Instant, supervisor: StreamSyncSupervisor, cluster: KafkaMockCluster,
        server: PostgresServer, recorder: FaultRecorder, log: URL
    ) async {
        enum Action { case kill, pgDown, pgUp, brokerDown, brokerUp }
        var actions: [(at: Double, action: Action)] = plan.kills.map { ($0, .kill) }
        if let pg = plan.pgOutage { actions += [(pg.start, .pgDown), (pg.end, .pgUp)] }
        if let broker = plan.brokerOutage { actions += [(broker.start, .brokerDown), (broker.end, .brokerUp)] }
        actions.sort { $0.at < $1.at }
        var index = 0
        while index < actions.count, !Task.isCancelled {
            let (at, action) = actions[index]
            let wait = start + .milliseconds(Int64(at * 1000)) - .now
            if wait > .zero {
                try? await Task.sleep(for: min(wait, .milliseconds(50)))
                continue
            }
            let elapsed = (ContinuousClock.now - start).seconds
            do {
                switch action {
                case .kill:
                    // No instance runs (a restart after its own exit is pending): kill it once it does.
                    guard try await supervisor.killAndRestart() else {
                        try? await Task.sleep(for: .milliseconds(20))
                        continue
                    }
                    recorder.killed(at: elapsed)
                case .pgDown:
                    // From the moment the stop is issued: a start-up that fails while the server is
                    // shutting down already belongs to the outage.
                    recorder.pg(down: elapsed)
                    try server.stopImmediately(output: log)
                case .pgUp:
                    let began = ContinuousClock.now
                    try server.start(output: log)
                    recorder.pg(up: (began - start).seconds, accepting: (ContinuousClock.now - start).seconds)
                case .brokerDown:
                    try cluster.setBrokerDown()
                    recorder.broker(down: elapsed)
                case .brokerUp:
                    try cluster.setBrokerUp()
                    recorder.broker(up: elapsed)
                }
            } catch {
                recorder.fail("\(action): \(error)")
            }
            index += 1
        }
    }
}

/// What the fault injection did, and when (seconds after the first event).
final class FaultRecorder: Sendable {
    struct Snapshot: Sendable {
        var killTimes: [Double] = []
        var pgDownAt: Double?
        var pgUpAt: Double?
        var pgAcceptingAt: Double?
        var brokerDownAt: Double?
        var brokerUpAt: Double?
        var errors: [String] = []
    }

    private let state = Mutex(Snapshot())
    var snapshot: Snapshot { state.withLock { $0 } }

    func killed(at t: Double) { state.withLock { $0.killTimes.append(t) } }
    func pg(down t: Double) { state.withLock { $0.pgDownAt = t } }
    func pg(up t: Double, accepting: Double) {
        state.withLock {
            $0.pgUpAt = t
            $0.pgAcceptingAt = accepting
        }
    }
    func broker(down t: Double) { state.withLock { $0.brokerDownAt = t } }
    func broker(up t: Double) { state.withLock { $0.brokerUpAt = t } }
    func fail(_ text: String) { state.withLock { $0.errors.append(text) } }

    /// ", PostgreSQL down" etc. for the progress line.
    var activeNote: String {
        let s = snapshot
        var note = ""
        if s.pgDownAt != nil && s.pgUpAt == nil { note += ", PostgreSQL down" }
        if s.brokerDownAt != nil && s.brokerUpAt == nil { note += ", brokers down" }
        return note
    }
}

/// A loopback TCP port for StreamSync's HTTP endpoints: random below Linux's ephemeral range (as the
/// tests pick theirs), and refusing connections when tried, so probably free.
enum FreePort {
    static func find() async throws -> Int {
        for _ in 0..<20 {
            let port = Int.random(in: 21_000...32_000)
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/")!)
            request.timeoutInterval = 1
            do {
                _ = try await URLSession.shared.data(for: request)
            } catch let error as URLError where error.code == .cannotConnectToHost {
                return port
            } catch {}
        }
        throw ChaosError("found no free loopback port for StreamSync's HTTP endpoints in 20 tries")
    }
}

/// 12,345
func fmt(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// 30.0 s
func secs(_ s: Double) -> String { String(format: "%.1f s", s) }
