import BlockingExecutor
import BatchSyncCore
import CountingProxy
import Foundation
import Kafka
import KafkaMock
import LibPQ
import PostgresStore
import Synchronization
import SyncBenchCore
import SyncModel

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `SyncBench --gap` (issue #20, docs/design.md §8): the cost of healing a retention gap. One plant's
/// records are in the producer and, identically, in the consumer; while StreamSync is down
/// `--gap-percent` of them change (producer, then Kafka) and large changes of other keys push the
/// partition past the mock broker's ~5 MB retention, so those events are trimmed before StreamSync
/// reads them. StreamSync then starts with `--producer-uri` through a counting proxy and heals the gap
/// itself; the run measures time to the gap closed and to no stale key, the producer link's bytes, and
/// sets them beside the changed records' bytes and a full re-snapshot of the plant. Then one corrupt
/// event for a valid key (dead-lettered) and the time to its heal.
extension Harness {
    /// The consumer's name (schema `syncbench_gap`, proxies `gap/producer` and `gap/consumer`).
    static let gapConsumer = "gap"
    /// Image bytes of each filler change (LIMS's JPEGs are 10–30 KB): small, so that when the broker
    /// trims past the last change's event it trims at most about one filler more.
    static let fillerImageBytes = 20_000

    func runGapExperiment() async throws -> GapHealingReport {
        guard case .postgres = producerSide.engine, producerSide.layout == .lims else {
            throw HarnessError("--gap: needs a PostgreSQL producer in LIMS's layout (--producer-layout lims, a postgresql:// --producer-uri)")
        }
        let plant = plants[0]
        let records = command.records
        let changed = max(1, Int((Double(records) * command.gapPercent / 100).rounded()))
        try FileManager.default.createDirectory(at: outDirectory, withIntermediateDirectories: true)
        let run = Run()
        run.logs = outDirectory.appendingPathComponent("logs", isDirectory: true)
        try FileManager.default.createDirectory(at: run.logs, withIntermediateDirectories: true)
        return try await withCleanup {
            // 1. Producer and consumer, identical; the group committed at the end of the (empty) log.
            let schema = Self.consumerSchema(Self.gapConsumer)
            try await Self.blocking.run { [pgURI] in _ = try PGConnection(conninfo: pgURI).execute("DROP SCHEMA IF EXISTS \(schema) CASCADE") }
            let producer = try producerSide.makeProducer(schema: Self.producerSchema, plants: [plant])
            guard let limsProducer = producer as? PostgresLimsProducer else { throw HarnessError("--gap: unexpected producer \(producer.description)") }
            run.producer = producer
            try await producer.prepare()
            let consumer = try PostgresStore(.init(conninfo: pgURI, schema: schema, applicationName: "syncbench"))
            try await consumer.prepareSchema()
            run.consumers[Self.gapConsumer] = consumer
            run.cluster = try await Self.blocking.run { try KafkaMockCluster(brokers: 1) }
            run.bootstrap = run.cluster!.bootstrapServers
            try run.cluster!.createTopic(plant.rawValue, partitions: 1)
            try run.cluster!.createTopic("plantsync.deadletter", partitions: 1)
            run.kafkaProducer = try KafkaProducer(
                configuration: KafkaConfiguration(bootstrapServers: run.bootstrap, clientId: "syncbench-image-api"))
            let recorder = RecordingPublisher(KafkaPublisher(producer: run.kafkaProducer))
            let workload = Workload(
                producer: producer, publisher: recorder, seed: command.seed, imageBytes: command.recordBytes, perPlant: records, plants: [plant])
            progress("==> \(producer.description): loading \(records) records of \(command.recordBytes) B into it and into the consumer\n")
            let loadStart = Date()
            try await workload.loadInitialData(createdBefore: Date(), mirror: consumer)
            let seeding =
                "by the producer's own batches (500 records each, SyncBench's initial load) applied to it as upserts, "
                + String(format: "%.0f s for both", Date().timeIntervalSince(loadStart))
            // Which keys differ, read directly: none should after the load.
            let (source, domain) = try await Self.limsSource(producerSide.directURI, consumer)
            let afterLoad = try await Self.differingKeys(source, consumer, plant: plant, domain: domain)
            progress("==> keys differing after the initial load: \(afterLoad.count)\n")
            for difference in afterLoad.prefix(50) {
                progress("    \(difference.id): producer \(difference.producer ?? "none"), consumer \(difference.consumer ?? "none")\n")
            }
            let group = "syncbench-gap-\(command.seed)"
            let tp = TopicPartition(topic: plant.rawValue, partition: 0)
            var observerConfiguration = KafkaConfiguration(bootstrapServers: run.bootstrap, groupId: group, clientId: "syncbench-gap-observer")
            observerConfiguration.autoOffsetReset = .error
            let observer = try KafkaConsumer(configuration: observerConfiguration)
            try await observer.assign([tp], from: .committed)
            let committedOffset = try await observer.watermarks([tp])[tp]?.high ?? 0
            try await observer.commit([tp: committedOffset])

            // 2. While StreamSync is down: the changes, then large changes of other keys until the log
            // start has passed every one of their events.
            progress("==> StreamSync down: changing \(changed) records (\(command.gapPercent) %), then pushing the log past retention\n")
            var rng = SeededGenerator(seed: command.seed ^ 0x6a9)
            var keys = (1...Int64(records)).map { RecordKey(plant: plant, id: $0) }
            keys.shuffle(using: &rng)
            var changes: [WorkloadChange] = []
            for key in keys.prefix(changed) { changes.append(try await workload.edit(key, rng: &rng)) }
            try await run.kafkaProducer.flush()
            let lastChangeOffset = committedOffset + Int64(recorder.count) - 1
            var fillers: [WorkloadChange] = []
            var fillerKeys = keys.dropFirst(changed).makeIterator()
            do {
                _ = try await MockRetention.trim(
                    past: lastChangeOffset, maxFillers: 2_000, logStart: { try await observer.watermarks([tp])[tp]!.low }
                ) { _ in
                    guard let key = fillerKeys.next() else { throw HarnessError("--gap: no key left for a filler change") }
                    fillers.append(try await workload.edit(key, imageBytes: Self.fillerImageBytes, rng: &rng))
                    try await run.kafkaProducer.flush()  // one message set each: the broker trims whole sets
                }
            } catch let error as MockRetention.TrimError {
                throw HarnessError("--gap: \(error)")
            }
            let marks = try await observer.watermarks([tp])[tp]!
            await observer.close()
            let published = recorder.events
            guard marks.high == committedOffset + Int64(published.count) else {
                throw HarnessError("--gap: the log ends at \(marks.high), but \(published.count) events were published after offset \(committedOffset)")
            }
            let lost = published.prefix(Int(marks.low - committedOffset))
            let lostIDs = Set(lost.map(\.id))
            let changedIDs = Set(changes.map(\.key.id))
            let table = limsProducer.table(plant)
            let (changedRowBytes, lostRowBytes, plantRowBytes) = try await Self.blocking.run { [producerSide] in
                let connection = try PGConnection(conninfo: producerSide.directURI)
                func rowBytes(_ ids: Set<Int64>?) throws -> Int {
                    let filter = ids.map { _ in "WHERE id = ANY($1::bigint[])" } ?? ""
                    let parameters: [PGParameter] = ids.map { [.text("{" + $0.map(String.init).joined(separator: ",") + "}")] } ?? []
                    return Int(try connection.execute("SELECT coalesce(sum(pg_column_size(t.*)), 0)::bigint FROM \(table) t \(filter)", parameters).int64(0, 0) ?? 0)
                }
                return (try rowBytes(changedIDs), try rowBytes(lostIDs), try rowBytes(nil))
            }
            let loss = GapHealingReport.Loss(
                committedOffset: committedOffset, logStart: marks.low, logEnd: marks.high, changedKeys: changedIDs.count,
                changedEventBytes: changes.reduce(0) { $0 + $1.eventBytes }, changedRowBytes: changedRowBytes, lostKeys: lostIDs.count,
                lostEventBytes: lost.reduce(0) { $0 + $1.bytes }, lostRowBytes: lostRowBytes, fillerEvents: fillers.count,
                fillerEventBytes: fillers.reduce(0) { $0 + $1.eventBytes })
            progress(
                "==> log \(marks.low)…\(marks.high) (committed \(committedOffset)): \(lostIDs.count) keys lost, rows \(BenchReport.mb(lostRowBytes)); "
                    + "the \(changedIDs.count) changed: rows \(BenchReport.mb(changedRowBytes))\n")
            guard changedIDs.isSubset(of: lostIDs) else { throw HarnessError("--gap: some changed records' events are still in the log") }

            // What differs now, by role: the heal repairs the lost keys, the stream the retained ones;
            // anything else it finds is beyond the loss.
            let roles = GapRoles(
                changed: changedIDs, lost: lostIDs, fillers: Set(fillers.map(\.key.id)), retained: Set(published.dropFirst(lost.count).map(\.id)))
            var keyDifferences = try await Self.gapDifferences(
                source, consumer, plant: plant, domain: domain, afterLoad: afterLoad, retained: Array(published.dropFirst(lost.count)), roles: roles)
            progress(
                "==> keys differing before StreamSync's start: "
                    + keyDifferences.beforeStart.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                    + "; retained events unlike the producer: \(keyDifferences.retainedEventMismatches.count)\n")
            for difference in Array(keyDifferences.beforeStartUntouched.prefix(50)) + Array(keyDifferences.retainedEventMismatches.prefix(50)) {
                progress("    \(difference.id) \(difference.role): producer \(difference.producer ?? "none"), consumer \(difference.consumer ?? "none")\n")
            }

            // 3. StreamSync, reaching both databases through counting proxies; no BatchSync process.
            let name = Self.gapConsumer
            for peer in ["producer", "consumer"] {
                run.proxies["\(name)/\(peer)"] = try await CountingProxy.start(
                    name: "\(name)/\(peer)", upstream: peer == "producer" ? producerSide.upstream : endpoint.upstream)
            }
            let tracker = FreshnessTracker(consumers: [name: consumer])
            for change in changes + fillers { await tracker.track(change) }
            let stream = JobProcess(
                name: "stream-gap", executable: binDirectory.appendingPathComponent("StreamSync"),
                arguments: [
                    "--bootstrap-servers", run.bootstrap, "--group-id", group, "--batch-wait-ms", "50",
                    "--store-uri", endpoint.uri(throughPort: run.proxies["\(name)/consumer"]!.port), "--schema", schema,
                    "--topics", plant.rawValue, "--http-host", "127.0.0.1", "--http-port", String(run.httpPort),
                    "--producer-uri", producerSide.uri(throughPort: run.proxies["\(name)/producer"]!.port),
                    "--log-level", "debug",  // the heal's "Differing key" lines
                ] + producerSide.batchSyncArguments(schema: Self.producerSchema), logDirectory: run.logs)
            run.jobs["stream"] = stream
            progress("==> starting StreamSync with --producer-uri (through a counting proxy)\n")
            let started = Date()
            try stream.start()
            var gapClosed: Double?
            var noStale: Double?
            let status = URL(string: "http://127.0.0.1:\(run.httpPort)/status")!
            while Date().timeIntervalSince(started) < 300, gapClosed == nil || noStale == nil {
                guard stream.isRunning else { throw HarnessError("StreamSync exited early; see \(stream.logFile.path)") }
                if gapClosed == nil, let (body, _) = try? await URLSession.shared.data(from: status),
                    let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                    (object["gaps_healed"] as? Int ?? 0) >= 1, object["open_gaps"] as? Int == 0
                {
                    gapClosed = Date().timeIntervalSince(started)
                }
                if noStale == nil {
                    try await tracker.poll()
                    if await tracker.pendingCount(name) == 0 { noStale = Date().timeIntervalSince(started) }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let producerCounts = run.proxies["\(name)/producer"]!.counts
            let consumerCounts = run.proxies["\(name)/consumer"]!.counts
            progress("==> gap closed after \(gapClosed.map { String(format: "%.2f s", $0) } ?? "—"), 0 stale keys after \(noStale.map { String(format: "%.2f s", $0) } ?? "—")\n")

            // 5. A corrupt event for a valid key: dead-lettered, healed by its key.
            progress("==> one corrupt event for a changed key (dead letter)\n")
            let victim = keys[changed + fillers.count]
            let corrupt = try await workload.edit(victim, publisher: CorruptPublisher(producer: run.kafkaProducer), rng: &rng)
            try await run.kafkaProducer.flush()
            let published_ = Date()
            var deadLetterHealed: Double?
            while Date().timeIntervalSince(published_) < 120, stream.isRunning {
                let versions = try await consumer.versions(of: plant, in: KeyRange(lower: victim.id, upper: victim.id + 1), pageSize: 1).collect()
                if let version = versions.first?.version, version >= corrupt.version {
                    deadLetterHealed = Date().timeIntervalSince(published_)
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            run.exits["stream"] = await stream.stop()

            // The heal as StreamSync reported it.
            let log = (try? String(contentsOf: stream.logFile, encoding: .utf8)) ?? ""
            let notice = log.split(separator: "\n").first { $0.contains("Stream gaps healed from the producer") && $0.contains("reconcile") }
                .map(String.init) ?? ""
            func field(_ key: String) -> Double? {
                guard let range = notice.range(of: #"\b\#(key)[=:]\s*"?([0-9.]+)"#, options: .regularExpression) else { return nil }
                return Double(notice[range].drop { !$0.isNumber })
            }
            // The keys the heal found differing, beyond the lost ones.
            let beyond = Self.healedBeyondLoss(log: log, roles: roles)
            keyDifferences.healedBeyondLoss = beyond
            progress("==> keys the heal repaired beyond the \(lostIDs.count) lost: \(beyond.count)\n")
            for difference in beyond.prefix(50) {
                progress("    \(difference.id) \(difference.role): producer \(difference.producer ?? "?"), consumer \(difference.consumer ?? "?")\n")
            }
            let heal = GapHealingReport.Heal(
                secondsToGapClosed: gapClosed, secondsToNoStaleKeys: noStale, differences: field("differences").map { Int($0) },
                rowsWritten: field("rows_written").map { Int($0) }, reportedBytes: field("bytes").map { Int($0) },
                reportedSeconds: field("seconds"), producerSent: producerCounts.sent, producerReceived: producerCounts.received,
                consumerSent: consumerCounts.sent, consumerReceived: consumerCounts.received)

            // Consumer = producer? A merkle dry run, directly (not counted).
            progress("==> convergence check (BatchSync --strategy merkle --dry-run)\n")
            let check = try await runOnce("gap-check", batchArguments(.merkle, run: run, consumer: name, direct: true, plants: [plant]) + ["--dry-run"], run: run)
            let differences = check.status == 0 ? (check.report?["differences"] as? Int ?? -1) : -1
            // A full re-snapshot's producer bytes: BatchSync --strategy full --dry-run reads every record through the proxy.
            progress("==> a full re-snapshot's producer bytes (BatchSync --strategy full --dry-run through the proxy)\n")
            let before = run.proxies["\(name)/producer"]!.counts
            let full = try await runOnce("gap-full-snapshot", batchArguments(.full, run: run, consumer: name, plants: [plant]) + ["--dry-run"], run: run)
            let after = run.proxies["\(name)/producer"]!.counts
            let fullBytes = full.status == 0 ? after.sent + after.received - before.sent - before.received : nil
            if full.status != 0 { progress("!! the full run failed (exit \(full.status)); see \(full.log.path)\n") }

            let report = GapHealingReport(
                parameters: .init(
                    plant: plant.rawValue, records: records, recordBytes: command.recordBytes, gapPercent: command.gapPercent,
                    seed: command.seed, startedAt: run.startedAt, producer: producer.description, seeding: seeding),
                loss: loss, differences: keyDifferences, heal: heal, snapshot: .init(plantRowBytes: plantRowBytes, fullRunProducerBytes: fullBytes),
                deadLetter: .init(secondsToHealed: deadLetterHealed), remainingDifferences: differences)
            try report.json().write(to: outDirectory.appendingPathComponent("report.json"))
            try Data(report.markdown().utf8).write(to: outDirectory.appendingPathComponent("report.md"))
            return report
        } cleanup: {
            for job in run.jobs.values where job.isRunning { _ = await job.stop() }
            for proxy in run.proxies.values { try? await proxy.stop() }
            if let kafkaProducer = run.kafkaProducer { await kafkaProducer.close() }
            if let cluster = run.cluster { _ = try? await Self.blocking.run { cluster.shutdown() } }
        }
    }
}

/// What the gap run did to each key (`GapHealingReport.Difference.role`).
struct GapRoles: Sendable {
    let changed: Set<Int64>
    let lost: Set<Int64>
    let fillers: Set<Int64>
    let retained: Set<Int64>

    func role(_ id: Int64) -> String {
        if changed.contains(id) { return "changed (lost)" }
        if lost.contains(id) { return fillers.contains(id) ? "filler (lost)" : "other (lost)" }
        if retained.contains(id) { return fillers.contains(id) ? "filler (retained)" : "other (retained)" }
        return "untouched"
    }
}

extension Harness {
    /// LIMS's tables read directly as BatchSync reads them, and the digest domain it shares with `consumer`.
    static func limsSource(_ uri: String, _ consumer: PostgresStore) async throws -> (any DiffSource, DigestDomain) {
        let source: any DiffSource
        do {
            source = try ForeignPostgresStore(.init(conninfo: uri, layout: .lims, applicationName: "syncbench"))
        } catch {
            throw HarnessError("--gap: cannot read the producer's tables: \(error)")
        }
        return (source, try await Reconciler(producer: source, consumer: consumer, options: BatchOptions()).domain())
    }

    /// The differences before StreamSync's start, by role, and the retained events (as the stream will
    /// decode them) whose version is not the producer's.
    static func gapDifferences(
        _ source: any DiffSource, _ consumer: PostgresStore, plant: Plant, domain: DigestDomain, afterLoad: [GapHealingReport.Difference],
        retained: [(id: Int64, bytes: Int, value: String)], roles: GapRoles
    ) async throws -> GapHealingReport.Differences {
        var beforeStart = try await differingKeys(source, consumer, plant: plant, domain: domain)
        for i in beforeStart.indices { beforeStart[i].role = roles.role(beforeStart[i].id) }
        let producerVersions = try await source.versions(of: plant, ids: roles.retained.sorted(), pageSize: 1_000, domain: domain).collect()
        var producerVersion: [Int64: Version] = [:]
        for v in producerVersions { producerVersion[v.id] = v.version }
        var latestEvent: [Int64: Version] = [:]
        for event in retained {
            let json = try JSONValue.parse(Array(event.value.utf8))
            latestEvent[event.id] = try RecordJSON.decode(json, plant: plant).record.version
        }
        var mismatches: [GapHealingReport.Difference] = []
        for (id, version) in latestEvent.sorted(by: { $0.key < $1.key }) where producerVersion[id] != version {
            mismatches.append(.init(id: id, role: roles.role(id), producer: producerVersion[id].map { "\($0)" }, consumer: "event \(version)"))
        }
        var counts: [String: Int] = [:]
        for d in beforeStart { counts[d.role, default: 0] += 1 }
        return GapHealingReport.Differences(
            afterLoad: afterLoad, beforeStart: counts, beforeStartUntouched: beforeStart.filter { $0.role == "untouched" },
            retainedEventMismatches: mismatches)
    }

    /// The keys StreamSync's reconcile logged as differing ("Differing key", `--log-level debug`) that
    /// are not lost ones, up to its notice (the dead letter's key repair comes after it).
    static func healedBeyondLoss(log: String, roles: GapRoles) -> [GapHealingReport.Difference] {
        var beyond: [GapHealingReport.Difference] = []
        for line in log.split(separator: "\n") {
            if line.contains("Stream gaps healed from the producer") && line.contains("reconcile") { break }
            guard line.contains("Differing key") else { continue }
            func token(_ key: String) -> String? {
                guard let range = line.range(of: "\\b\(key)=[^ ]+", options: .regularExpression) else { return nil }
                return String(line[range].dropFirst(key.count + 1))
            }
            guard let id = token("id").flatMap({ Int64($0) }), !roles.lost.contains(id) else { continue }
            beyond.append(.init(id: id, role: roles.role(id), producer: token("producer"), consumer: token("consumer")))
        }
        return beyond
    }

    /// The keys of `plant` whose version or digest differs between the producer and the consumer (what
    /// a diff repairs), both sides' versions and digests; role `untouched` until the caller says.
    static func differingKeys(
        _ source: any DiffSource, _ consumer: PostgresStore, plant: Plant, domain: DigestDomain
    ) async throws -> [GapHealingReport.Difference] {
        async let p = source.versions(of: plant, in: .all, pageSize: 20_000, domain: domain).collect()
        async let c = consumer.versions(of: plant, in: .all, pageSize: 20_000, domain: domain).collect()
        let (producer, consumerVersions) = try await (p, c)
        let held = Dictionary(consumerVersions.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func text(_ v: KeyVersion?) -> String? { v.map { "\($0.version)/\(String(UInt64(bitPattern: $0.digest), radix: 16))" } }
        var differences: [GapHealingReport.Difference] = []
        var seen = Set<Int64>()
        for version in producer {
            seen.insert(version.id)
            let other = held[version.id]
            if other?.version != version.version || other?.digest != version.digest {
                differences.append(.init(id: version.id, role: "untouched", producer: text(version), consumer: text(other)))
            }
        }
        for version in consumerVersions where !seen.contains(version.id) && !version.isTombstone {
            differences.append(.init(id: version.id, role: "untouched", producer: nil, consumer: text(version)))
        }
        return differences.sorted { $0.id < $1.id }
    }
}

/// Forwards events and remembers, in publication order, each one's key, bytes and value (the
/// partition's offsets follow that order: one partition, one producer).
final class RecordingPublisher: EventPublisher {
    let inner: any EventPublisher
    private let published = Mutex<[(id: Int64, bytes: Int, value: String)]>([])
    init(_ inner: any EventPublisher) { self.inner = inner }

    func publish(topic: String, key: String, value: String) async throws {
        published.withLock { $0.append((Int64(key) ?? -1, value.utf8.count, value)) }
        try await inner.publish(topic: topic, key: key, value: value)
    }

    var events: [(id: Int64, bytes: Int, value: String)] { published.withLock { $0 } }
    var count: Int { published.withLock { $0.count } }
}

/// Publishes a truncated event for the key (JSON that does not parse): StreamSync dead-letters it.
struct CorruptPublisher: EventPublisher {
    let producer: KafkaProducer
    func publish(topic: String, key: String, value: String) async throws {
        try await producer.send([KafkaProducerRecord(topic: topic, key: Array(key.utf8), value: Array("{\"id\": \(key), \"camera_id\":".utf8))])
    }
}
