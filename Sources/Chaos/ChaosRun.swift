import BlockingExecutor
import CountingProxy
import Foundation
import Kafka
import KafkaMock
import LibPQ
import PostgresStore
import SyncModel
import SyncBenchCore
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One chaos run: set-up, the stream under faults, convergence, the checks and the report.
struct ChaosRun {
    /// Where the run's own blocking calls go (libpq set-up, pg_ctl, the mock cluster's start and stop).
    static let blocking = BlockingExecutor(label: "plantsync.chaos.blocking")
    let options: ChaosOptions

    static let schema = "chaos"
    static let group = "plantsync-chaos"
    static let deadLetterTopic = "plantsync.deadletter"
    /// The mock broker trims a partition beyond ~5 MB (`MockRetention.keptBytes`); the generator keeps
    /// every partition's uncommitted backlog under this, so nothing unread is ever trimmed (see
    /// `KafkaWatch`), except by a `--retention-gap` fault.
    static let backlogCapBytes = 3 << 20

    func progress(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    func run() async throws -> ChaosReport {
        let runStart = ContinuousClock.now
        let plan = FaultPlan(
            seed: options.seed, events: options.events, rate: options.rate, kills: options.kills,
            pgOutage: options.pgOutage, brokerOutage: options.brokerOutage, pgSilent: options.pgSilent,
            pgFreeze: options.pgFreeze, brokerSilent: options.brokerSilent, brokerFreeze: options.brokerFreeze,
            silentRoom: options.silentRoom, poison: options.poison, retentionGap: options.retentionGap, offsetReset: options.offsetReset)
        let logs = options.out.appendingPathComponent("logs", isDirectory: true)
        try? FileManager.default.removeItem(at: logs)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)

        // 1. The consumer database: a fresh schema (StreamSync creates its table on start).
        let blocking = Self.blocking
        do {
            let uri = options.pgURI
            try await blocking.run {
                let admin = try PGConnection(conninfo: uri)
                try admin.execute("DROP SCHEMA IF EXISTS \(Self.schema) CASCADE")
                try admin.execute("DROP SCHEMA IF EXISTS \(BatchSyncCheck.consumerSchema) CASCADE")
            }
        } catch {
            throw ChaosError("cannot reach the consumer database: \(error)")
        }
        // LIMS's own database (the producer StreamSync heals from), in the same throwaway server.
        let lims = LimsProducerDatabase(uri: options.pgURI)
        do {
            try await lims.create(plants: options.plants)
        } catch {
            throw ChaosError("cannot create LIMS's producer database (schema \(LimsProducerDatabase.schema)): \(error)")
        }

        // 2. Kafka: the mock cluster, one broker as LIMS runs it; topics per plant, and the dead-letter topic.
        let cluster = try await blocking.run { try KafkaMockCluster(brokers: 1) }
        defer { Task { [blocking] in try? await blocking.run { cluster.shutdown() } } }
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

        // 3. StreamSync, the real executable, as a supervised child process, reaching PostgreSQL and the
        // brokers through the fault proxies.
        let links = try await ChaosLinks.start(pgURI: options.pgURI, cluster: cluster)
        do {
            return try await run(plan: plan, logs: logs, cluster: cluster, producer: producer, lims: lims, watch: watch, links: links,
                partitions: partitions, deadLetterPartition: deadLetterPartition, timeoutMs: timeoutMs, runStart: runStart)
        } catch {
            await links.stop()
            throw error
        }
    }

    private func run(
        plan: FaultPlan, logs: URL, cluster: KafkaMockCluster, producer: KafkaProducer, lims: LimsProducerDatabase, watch: KafkaWatch,
        links: ChaosLinks,
        partitions: [TopicPartition], deadLetterPartition: TopicPartition, timeoutMs: Int, runStart: ContinuousClock.Instant
    ) async throws -> ChaosReport {
        let httpPort = try await FreePort.find()
        let supervisor = StreamSyncSupervisor(
            executable: options.streamSync,
            arguments: [
                "--bootstrap-servers", links.bootstrapServers, "--group-id", Self.group,
                "--store-uri", links.postgresURI, "--schema", Self.schema, "--dead-letter-topic", Self.deadLetterTopic,
                "--topics", options.plants.map(\.rawValue).joined(separator: ","),
                "--http-host", "127.0.0.1", "--http-port", String(httpPort), "--stats-interval-ms", "0",
                "--drain-timeout", String(options.drainTimeout),
                // A SIGKILLed member stays in the group until its session expires, and the group waits for
                // it before handing its partitions to the restarted instance: 45 s by default. 3 s here
                // (a real broker refuses less than 6 s unless configured; the mock accepts it), so that
                // a restarted instance processes again after ~5 s instead of ~11 s (at 6 s) and most
                // kills hit an instance that is applying and committing. Correctness does not depend
                // on it: an expired member's uncommitted work is replayed under the version rule.
                "-X", "session.timeout.ms=3000", "-X", "heartbeat.interval.ms=500",
                // LIMS's own database, always: StreamSync heals its gaps from it (docs/design.md §5). Directly,
                // not through the chaos proxies: the link faults are about the consumer's and brokers' links.
                "--producer-uri", options.pgURI, "--producer-table", LimsProducerDatabase.table,
                "--format", options.format.rawValue,
            ] + options.streamSyncArguments,
            logDirectory: logs, httpPort: httpPort)
        let faults = FaultRecorder(linkFaults: plan.linkFaults)
        let silent = plan.linkFaults.map { fault in
            fault.name + (fault.sigtermAt != nil ? " \(secs(fault.end - fault.start))" : "")
        } + plan.gapFaults.map(\.name)
        progress(
            "==> chaos: seed \(options.seed), \(fmt(options.events)) events over ≥ \(String(format: "%.0f", plan.duration)) s, "
                + "\(options.kills) kills, PostgreSQL down \(secs(options.pgOutage)), brokers down \(secs(options.brokerOutage)), "
                + (silent.isEmpty ? "" : "\(silent.joined(separator: ", ")), ")
                + "\(options.partialPercent) % partial updates, format \(options.format.rawValue); logs in \(logs.path)\n")
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
                    plan, from: streamStart, supervisor: supervisor, cluster: cluster, server: options.server, links: links,
                    drainTimeout: .seconds(options.drainTimeout) + ChaosReport.exitGrace, recorder: faults,
                    log: logs.appendingPathComponent("pg_ctl.log"))
            }
            // The group's committed total over time, for how long StreamSync took to move again after a link fault.
            let commitTracker = Task {
                while !Task.isCancelled {
                    let total = watch.snapshot.committed.filter { $0.key.topic != Self.deadLetterTopic }.values.reduce(0, +)
                    faults.committed(total, at: (ContinuousClock.now - streamStart).seconds)
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer {
                faultTask.cancel()
                commitTracker.cancel()
            }
            var stream = LimsStream(
                seed: options.seed, recordBytes: options.recordBytes, partialPercent: options.partialPercent,
                partitions: options.partitionsPerTopic, plants: options.plants, format: options.format)
            var sent = SentEvents(partitions: partitions)
            var gapFaults = GapFaults(
                supervisor: supervisor, producer: producer, lims: lims, watch: watch, bootstrapServers: cluster.bootstrapServers,
                group: Self.group, drainTimeout: .seconds(options.drainTimeout) + ChaosReport.exitGrace, recordBytes: options.recordBytes,
                rng: SeededGenerator(seed: options.seed ^ 0x6A9F_0C41))
            var gapQueue = plan.gapFaults[...]
            /// A gap fault comes at its planned instant, but not before `FaultPlan.gapRoom` of stream after the
            /// previous one is over (each takes a few seconds of the generator's time).
            var gapNotBefore = 0.0
            func performGapFault(_ fault: FaultPlan.GapFault) async {
                progress("    [\(Int((ContinuousClock.now - streamStart).seconds)) s] \(fault.name): StreamSync down\n")
                let record = await gapFaults.perform(fault, stream: &stream, sent: &sent, since: streamStart)
                faults.gapFault(record)
                gapNotBefore = (record.restartedAt ?? (ContinuousClock.now - streamStart).seconds) + FaultPlan.gapRoom
                progress(
                    "    [\(Int((ContinuousClock.now - streamStart).seconds)) s] \(fault.name): \(record.changes) changes of "
                        + "\(record.partition.map { "\($0)" } ?? "-"), StreamSync restarted\(record.error.map { " (\($0))" } ?? "")\n")
            }
            let rate = plan.rate(events: options.events)
            var tokens = 0.0
            var lastRefill = ContinuousClock.now
            var stalled = Duration.zero
            var lastReport = ContinuousClock.now
            var poisonQueue = plan.poison[...]
            for index in 0..<options.events {
                if let fault = gapQueue.first, (ContinuousClock.now - streamStart).seconds >= max(fault.start, gapNotBefore) {
                    gapQueue.removeFirst()
                    await performGapFault(fault)
                    lastRefill = .now
                }
                let event = stream.next()
                let tp = TopicPartition(topic: event.key.plant.rawValue, partition: event.partition)
                // Retention: wait while this partition's uncommitted backlog is near what the mock keeps.
                let sums = sent.cumulative[tp]!
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
                var value = event.value
                if let next = poisonQueue.first, index >= next, [.fullUpdate, .partialUpdate, .softDelete].contains(event.kind) {
                    // --poison: the real change is in LIMS's database, the event that announces it is corrupt.
                    poisonQueue.removeFirst()
                    value = Array("{\"id\": \(event.key.id), \"plant\": \"\(event.key.plant)\", corrupt".utf8)
                    faults.poisoned(PoisonRecord(key: event.key, kind: event.kind, at: (ContinuousClock.now - streamStart).seconds))
                }
                try await Self.publish(event, value: value, change: stream.producerChange(for: event), producer: producer, lims: lims)
                sent.record(event, on: tp)
                if ContinuousClock.now - lastReport >= .seconds(5) {
                    lastReport = .now
                    let done = sent.produced.values.reduce(0, +)
                    let committed = watch.snapshot.committed.filter { $0.key.topic != Self.deadLetterTopic }.values.reduce(0, +)
                    progress(
                        "    [\(Int((ContinuousClock.now - streamStart).seconds)) s] \(fmt(done))/\(fmt(options.events)) events, "
                            + "\(fmt(Int(committed))) committed, kills \(await supervisor.kills)/\(options.kills)\(faults.activeNote)"
                            + (stalled > .milliseconds(50) ? ", held back \(secs(stalled.seconds)) so far" : "") + "\n")
                }
            }
            // Gap faults not yet due when the events ran out: their own changes are what Kafka loses.
            for fault in gapQueue {
                while (ContinuousClock.now - streamStart).seconds < max(fault.start, gapNotBefore) { try await Task.sleep(for: .milliseconds(50)) }
                await performGapFault(fault)
            }
            let produced = sent.produced
            let eventBytes = sent.eventBytes
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
            // Gaps are healed in the background: wait (within the same deadline) until StreamSync has closed them all.
            if convergedAfter != nil {
                while ContinuousClock.now < convergeDeadline, try await Self.gapLedger(uri: options.pgURI).rows.contains(where: { $0.closedAfterMs == nil }) {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            commitTracker.cancel()
            monitor.cancel()
            _ = await monitor.value
            let shutdown = await supervisor.stop(timeout: .seconds(options.drainTimeout) + ChaosReport.exitGrace)
            await links.stop()
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
            // LIMS's database must hold exactly what the events imply too: it is the truth healing reads.
            await lims.close()
            let producerStore = try ForeignPostgresStore(
                .init(conninfo: options.pgURI, layout: ForeignLayout(container: LimsProducerDatabase.table), applicationName: "chaos-verify-lims"))
            let producerVerification = try await Verification.run(store: producerStore, stream: stream)
            // The gap ledger StreamSync kept in the consumer database (docs/design.md §5).
            let gaps = try await Self.gapLedger(uri: options.pgURI)
            var batch: BatchSyncCheck.Outcome?
            if options.batchSilent {
                batch = try await BatchSyncCheck(
                    executable: options.batchSync, dbTimeout: options.batchDBTimeout, producerURI: options.pgURI,
                    listener: links.listener, logs: logs
                ).run(stream: stream, progress: progress)
            }

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
                restarts: await supervisor.restartTimes.map { ($0 - streamStart).seconds }, kafkaRewrites: links.kafkaRewrites.snapshot,
                shutdown: (shutdown.how, shutdown.took.seconds), final: final, deadLetterPartition: deadLetterPartition,
                convergedAfter: convergedAfter?.seconds, verification: verification, producerVerification: producerVerification, gaps: gaps, batch: batch, logs: logs,
                runTime: (ContinuousClock.now - runStart).seconds)
        } catch {
            await supervisor.stop(timeout: .seconds(10))
            throw error
        }
    }

    /// One event as LIMS's Image API makes it: `change` to its database first, then the event (with `value`:
    /// the event's own, or a corrupt one).
    static func publish(
        _ event: StreamEvent, value: [UInt8]?, change: LimsProducerDatabase.Change, producer: KafkaProducer, lims: LimsProducerDatabase
    ) async throws {
        try await lims.apply(change)
        try await producer.send([
            KafkaProducerRecord(
                topic: event.key.plant.rawValue, partition: event.partition, key: Array(String(event.key.id).utf8), value: value,
                timestampMillis: event.timestampMillis)
        ])
    }

    /// Every gap of `<schema>.stream_gap`, oldest first; none if StreamSync never created the table.
    static func gapLedger(uri: String) async throws -> ChaosReport.GapLedger {
        try await blocking.run {
            let connection = try PGConnection(conninfo: uri)
            let exists = try connection.execute("SELECT to_regclass('\(schema).stream_gap') IS NOT NULL")
            guard try exists.bool(0, 0) == true else { return ChaosReport.GapLedger() }
            let result = try connection.execute(
                """
                SELECT reason, plant, topic, kafka_partition, first_offset, end_offset, record_id,
                    (closed_us - detected_us) / 1000, coalesce(closed_by, '-')
                FROM \(schema).stream_gap ORDER BY detected_us, gap_id
                """)
            var ledger = ChaosReport.GapLedger()
            for row in 0..<result.rowCount {
                ledger.rows.append(
                    .init(
                        reason: try result.string(row, 0) ?? "?", plant: try result.string(row, 1) ?? "?",
                        topic: try result.string(row, 2) ?? "?", partition: try result.int64(row, 3) ?? -1,
                        firstOffset: try result.int64(row, 4) ?? -1, endOffset: try result.int64(row, 5),
                        recordID: try result.int64(row, 6), closedAfterMs: try result.int64(row, 7),
                        closedBy: try result.string(row, 8) ?? "-"))
            }
            return ledger
        }
    }

    /// Carries out the plan: kills, the PostgreSQL outage, the broker outage, the link faults, each at its instant.
    /// A SIGTERM runs beside the schedule (its drain may take up to `drainTimeout`); all have ended on return.
    static func inject(
        _ plan: FaultPlan, from start: ContinuousClock.Instant, supervisor: StreamSyncSupervisor, cluster: KafkaMockCluster,
        server: PostgresServer, links: ChaosLinks, drainTimeout: Duration, recorder: FaultRecorder, log: URL
    ) async {
        enum Action { case kill, pgDown, pgUp, brokerDown, brokerUp, linkFault(Int), thaw(Int), sigterm(Int), windowEnd(Int) }
        var actions: [(at: Double, action: Action)] = plan.kills.map { ($0, .kill) }
        if let pg = plan.pgOutage { actions += [(pg.start, .pgDown), (pg.end, .pgUp)] }
        if let broker = plan.brokerOutage { actions += [(broker.start, .brokerDown), (broker.end, .brokerUp)] }
        for (i, fault) in plan.linkFaults.enumerated() {
            actions.append((fault.start, .linkFault(i)))
            if let sigterm = fault.sigtermAt { actions.append((sigterm, .sigterm(i))) }
            if fault.kind == .silent {
                actions.append((fault.start + plan.silentRoom, .windowEnd(i)))
            } else {
                actions.append((fault.end, .thaw(i)))
            }
        }
        actions.sort { $0.at < $1.at }
        var sigterms: [Task<Void, Never>] = []
        defer {
            for task in sigterms { task.cancel() }
        }
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
                    try await Self.blocking.run { try server.stopImmediately(output: log) }
                case .pgUp:
                    let began = ContinuousClock.now
                    try await Self.blocking.run { try server.start(output: log) }
                    recorder.pg(up: (began - start).seconds, accepting: (ContinuousClock.now - start).seconds)
                case .brokerDown:
                    try cluster.setBrokerDown()
                    recorder.broker(down: elapsed)
                case .brokerUp:
                    try cluster.setBrokerUp()
                    recorder.broker(up: elapsed)
                case .linkFault(let i):
                    let fault = plan.linkFaults[i]
                    let mark = await supervisor.logMark()
                    let connections =
                        fault.kind == .silent ? await links.silenceExisting(fault.link) : await links.freeze(fault.link)
                    recorder.linkFault(i, began: elapsed, connections: connections, log: mark)
                case .thaw(let i):
                    await links.thaw(plan.linkFaults[i].link)
                    recorder.linkFault(i, ended: elapsed, log: await supervisor.logMark())
                case .windowEnd(let i):
                    recorder.linkFault(i, ended: elapsed, log: await supervisor.logMark())
                case .sigterm(let i):
                    sigterms.append(
                        Task {
                            do {
                                if let (how, took) = try await supervisor.terminateAndRestart(timeout: drainTimeout) {
                                    recorder.linkFault(i, sigtermAt: elapsed, how: how, took: took.seconds)
                                } else {
                                    recorder.fail("SIGTERM during \(plan.linkFaults[i].name): no StreamSync instance was running")
                                }
                            } catch {
                                recorder.fail("SIGTERM during \(plan.linkFaults[i].name): \(error)")
                            }
                        })
                }
            } catch {
                recorder.fail("\(action): \(error)")
            }
            index += 1
        }
        for task in sigterms { await task.value }
        // Lines logged since each link fault's window began are read once it has ended.
        for (i, record) in recorder.snapshot.linkFaults.enumerated() {
            if let from = record.logFrom, let to = record.logTo {
                recorder.linkFault(i, lines: await supervisor.lines(from: from, to: to))
            }
        }
    }
}

/// What the fault injection did, and when (seconds after the first event).
/// One `--poison` event: a real change of `key` in LIMS's database, announced by an undecodable event.
struct PoisonRecord: Sendable {
    let key: RecordKey
    let kind: EventKind
    /// Seconds after the first event.
    let at: Double
}

final class FaultRecorder: Sendable {
    /// What happened to one planned link fault (times in seconds after the first event).
    struct LinkFaultRecord: Sendable {
        let fault: FaultPlan.LinkFault
        var began: Double?
        /// Connections open at the fault instant (silenced, or frozen).
        var connections = 0
        /// The thaw of a freeze; for a silent fault, the end of its slot (where its log window ends).
        var ended: Double?
        var sigterm: (at: Double, how: String, took: Double)?
        var logFrom: LogMark?
        var logTo: LogMark?
        /// What StreamSync logged from the fault instant to `ended`.
        var lines: [String] = []
    }

    struct Snapshot: Sendable {
        var killTimes: [Double] = []
        var pgDownAt: Double?
        var pgUpAt: Double?
        var pgAcceptingAt: Double?
        var brokerDownAt: Double?
        var brokerUpAt: Double?
        var errors: [String] = []
        var linkFaults: [LinkFaultRecord] = []
        /// (seconds, committed total over the plant partitions), each time the total changed.
        var commits: [(at: Double, total: Int64)] = []
        var poisoned: [PoisonRecord] = []
        var gapFaults: [GapFaultRecord] = []
    }

    private let state: Mutex<Snapshot>

    init(linkFaults: [FaultPlan.LinkFault] = []) {
        state = Mutex(Snapshot(linkFaults: linkFaults.map { LinkFaultRecord(fault: $0) }))
    }
    var snapshot: Snapshot { state.withLock { $0 } }

    func poisoned(_ record: PoisonRecord) { state.withLock { $0.poisoned.append(record) } }
    func gapFault(_ record: GapFaultRecord) { state.withLock { $0.gapFaults.append(record) } }
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
    func linkFault(_ i: Int, began t: Double, connections: Int, log: LogMark) {
        state.withLock {
            $0.linkFaults[i].began = t
            $0.linkFaults[i].connections = connections
            $0.linkFaults[i].logFrom = log
        }
    }
    func linkFault(_ i: Int, ended t: Double, log: LogMark) {
        state.withLock {
            $0.linkFaults[i].ended = t
            $0.linkFaults[i].logTo = log
        }
    }
    func linkFault(_ i: Int, sigtermAt t: Double, how: String, took: Double) {
        state.withLock { $0.linkFaults[i].sigterm = (t, how, took) }
    }
    func linkFault(_ i: Int, lines: [String]) { state.withLock { $0.linkFaults[i].lines = lines } }
    func committed(_ total: Int64, at t: Double) {
        state.withLock {
            if $0.commits.last?.total != total { $0.commits.append((t, total)) }
        }
    }

    /// ", PostgreSQL down" etc. for the progress line.
    var activeNote: String {
        let s = snapshot
        var note = ""
        if s.pgDownAt != nil && s.pgUpAt == nil { note += ", PostgreSQL down" }
        if s.brokerDownAt != nil && s.brokerUpAt == nil { note += ", brokers down" }
        for record in s.linkFaults where record.began != nil && record.ended == nil { note += ", \(record.fault.name)" }
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
