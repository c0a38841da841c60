import Foundation
import Kafka
import SyncBenchCore
import SyncModel

/// The outcome of a run: one line per check (`ok` / `FAIL` / `skip`), then a summary with figures.
struct ChaosReport {
    struct Exit {
        let instance: Int
        /// Seconds after the first event.
        let at: Double
        let how: String
        let lastLine: String
    }

    let options: ChaosOptions
    let plan: FaultPlan
    let stream: LimsStream
    let partitions: [TopicPartition]
    let produced: [TopicPartition: Int]
    let deliveries: (delivered: Int, failed: Int)
    let deliveryError: String?
    let eventBytes: Int
    let productionTime: Double
    let stalled: Double
    let faults: FaultRecorder.Snapshot
    let kills: Int
    let killsWhileReady: Int
    let restartsAfterKill: Int
    let unplannedExits: [Exit]
    let readyTimes: [Double]
    let instances: Int
    /// Start of every instance after the first, in seconds after the first event.
    let restarts: [Double]
    let kafkaRewrites: KafkaRewriteStats.Counts
    let shutdown: (how: String, took: Double)
    let final: KafkaWatch.Snapshot
    let deadLetterPartition: TopicPartition
    let convergedAfter: Double?
    let verification: Verification
    /// LIMS's producer database (`LimsProducerDatabase`) against the same model.
    let producerVerification: Verification
    /// StreamSync's gap ledger at the end.
    let gaps: GapLedger
    let batch: BatchSyncCheck.Outcome?
    let logs: URL
    let runTime: Double

    /// A StreamSync exit of its own while PostgreSQL is down (or within this long after it accepts
    /// connections again) is the expected crash loop of a process that cannot prepare its schema.
    static let outageGrace = 5.0

    /// A SIGTERMed StreamSync must be gone this long after its drain timeout at the latest (the process
    /// exits after the drain deadline, it does not stop at it).
    static let exitGrace: Duration = .seconds(5)

    /// After a silent fault, offsets committed this soon may belong to work finished before it.
    static let silentSettle = 2.0

    /// StreamSync's gap ledger (`<schema>.stream_gap`), one row per gap, oldest first.
    struct GapLedger: Sendable {
        struct Row: Sendable {
            var reason: String
            var plant: String
            var topic: String
            var partition: Int64
            var firstOffset: Int64
            var endOffset: Int64?
            var recordID: Int64?
            /// Milliseconds from detection to closing; nil: open.
            var closedAfterMs: Int64?
            var closedBy: String
            var text: String {
                "\(reason) \(topic)/\(partition) [\(firstOffset), \(endOffset.map(String.init) ?? "-"))"
                    + (recordID.map { " key \($0)" } ?? "") + (closedAfterMs == nil ? " open" : " closed")
            }
        }
        var rows: [Row] = []
    }

    struct Line {
        let status: String
        let name: String
        let text: String
        var failed: Bool { status == "FAIL" }
    }

    var lines: [Line] {
        var lines: [Line] = []
        func add(_ ok: Bool, _ name: String, _ text: String) { lines.append(Line(status: ok ? "ok" : "FAIL", name: name, text: text)) }
        func skip(_ name: String, _ text: String) { lines.append(Line(status: "skip", name: name, text: text)) }

        // What went in.
        let kinds = EventKind.allCases.map { "\(fmt(stream.counts[$0] ?? 0)) \($0.rawValue)" }.joined(separator: ", ")
        let offEnd = partitions.filter { Int64(produced[$0] ?? 0) != final.watermarks[$0]?.high }
        let sentTotal = options.events + stream.faultUpdates
        let acknowledged = deliveries.delivered == sentTotal && deliveries.failed == 0 && deliveryError == nil
        let encoding =
            switch options.format {
            case .lims: ""
            case .mongodbChangeStream:
                " as MongoDB change stream documents: partial updates as patches and hard deletes by _id only"
            }
        var producedText =
            "\(fmt(options.events)) events (\(kinds))\(encoding)"
            + (stream.faultUpdates > 0 ? " + \(fmt(stream.faultUpdates)) full updates of the gap faults" : "") + "; "
        producedText +=
            acknowledged
            ? "all acknowledged"
            : "\(fmt(deliveries.delivered)) acknowledged, \(fmt(deliveries.failed)) failed\(deliveryError.map { " (\($0))" } ?? "")"
        producedText +=
            offEnd.isEmpty
            ? "; end offset = events produced on \(partitions.count)/\(partitions.count) partitions"
            : "; end offset ≠ events produced on \(offEnd.count) partitions (first: \(offEnd[0]) ends at \(final.watermarks[offEnd[0]]?.high ?? -1), \(produced[offEnd[0]] ?? 0) produced)"
        add(acknowledged && offEnd.isEmpty, "produced", producedText)

        // The faults.
        var readyText = ""
        if !readyTimes.isEmpty {
            let sorted = readyTimes.sorted()
            readyText = String(format: " (start → ready p50 %.1f s, max %.1f s)", sorted[sorted.count / 2], sorted[sorted.count - 1])
        }
        add(
            kills == options.kills && restartsAfterKill == kills, "kills",
            "\(kills) SIGKILLs (\(killsWhileReady) of an instance that had been ready), restarts \(restartsAfterKill)\(readyText)")
        if options.pgOutage > 0 {
            if let down = faults.pgDownAt, let up = faults.pgUpAt, let accepting = faults.pgAcceptingAt {
                add(
                    true, "pg-outage",
                    String(
                        format:
                            "PostgreSQL stopped (pg_ctl stop -m immediate) at %.1f s for %.1f s, then started (accepting after %.1f s more)",
                        down, up - down, accepting - up))
            } else {
                add(false, "pg-outage", "PostgreSQL outage not completed (see faults)")
            }
        } else {
            skip("pg-outage", "none requested")
        }
        if options.brokerOutage > 0 {
            if let down = faults.brokerDownAt, let up = faults.brokerUpAt {
                add(true, "broker-outage", String(format: "every broker down at %.1f s for %.1f s", down, up - down))
            } else {
                add(false, "broker-outage", "broker outage not completed (see faults)")
            }
        } else {
            skip("broker-outage", "none requested")
        }
        for record in faults.linkFaults { addLinkFault(record, add) }
        do {
            let r = kafkaRewrites
            add(
                r.unparsed == 0 && r.unknownPorts.isEmpty && r.rewritten > 0, "broker-links",
                "StreamSync reached the brokers only through their proxies: \(r.rewritten) Metadata/FindCoordinator responses rewritten"
                    + (r.unparsed > 0 ? ", \(r.unparsed) not understood" : "")
                    + (r.unknownPorts.isEmpty ? "" : ", unknown broker ports \(r.unknownPorts.sorted())"))
        }
        if !faults.errors.isEmpty {
            add(false, "faults", "\(faults.errors.count) fault injections failed (first: \(faults.errors[0]))")
        }
        // PostgreSQL unreachable: the outage, and every PostgreSQL freeze (a start-up then cannot reach it).
        var pgUnreachable: [ClosedRange<Double>] = []
        if let down = faults.pgDownAt { pgUnreachable.append(down...((faults.pgAcceptingAt ?? .infinity) + Self.outageGrace)) }
        for record in faults.linkFaults where record.fault.link == .postgres && record.fault.sigtermAt != nil {
            if let began = record.began { pgUnreachable.append(began...((record.ended ?? .infinity) + Self.outageGrace)) }
        }
        let inOutage = unplannedExits.filter { exit in pgUnreachable.contains { $0.contains(exit.at) } }
        let outside = unplannedExits.filter { exit in !inOutage.contains { $0.instance == exit.instance } }
        if unplannedExits.isEmpty {
            add(true, "exits", "StreamSync never exited by itself")
        } else if outside.isEmpty {
            add(
                true, "exits",
                "\(inOutage.count) exits of its own, all while PostgreSQL was down or frozen, each restarted (first: instance \(inOutage[0].instance), \(inOutage[0].how): \(inOutage[0].lastLine))"
            )
        } else {
            add(
                false, "exits",
                "\(outside.count) exits of its own outside the PostgreSQL outage (first: instance \(outside[0].instance) at \(secs(outside[0].at)), \(outside[0].how): \(outside[0].lastLine))"
            )
        }
        let trimmed = faults.gapFaults.filter { $0.fault.kind == .retention }.compactMap(\.partition)
        let expectedTrims =
            trimmed.isEmpty
            ? ""
            : "; \(trimmed.map { "\($0)" }.joined(separator: ", ") ) trimmed by --retention-gap on purpose until the group committed past it (\(fmt(final.expectedTrimSamples)) samples)"
        add(
            final.retentionViolations == 0, "retention",
            final.retentionViolations == 0
                ? "no partition was trimmed past the group's committed offset (\(fmt(final.samples)) samples)\(expectedTrims)"
                : "the mock trimmed unread messages in \(final.retentionViolations) samples (first: \(final.firstViolation ?? "")): lower --rate or --record-bytes"
        )

        // What came out.
        if let convergedAfter {
            add(
                true, "offsets",
                "group \(ChaosRun.group) committed the end offset of \(partitions.count)/\(partitions.count) partitions, \(secs(convergedAfter)) after the last event"
            )
        } else {
            let behind = partitions.filter { Int64(produced[$0] ?? 0) != (final.committed[$0] ?? 0) }
            let first = behind.first.map { "\($0) committed \(final.committed[$0] ?? 0) of \(produced[$0] ?? 0)" } ?? "end offsets moved"
            add(
                false, "offsets",
                "not converged within \(secs(options.convergeTimeout)): \(behind.count)/\(partitions.count) partitions behind (first: \(first))"
            )
        }
        let poisoned = faults.poisoned
        if let dead = final.watermarks[deadLetterPartition]?.high {
            add(
                dead == Int64(poisoned.count), "dead-letters",
                dead == 0 && poisoned.isEmpty
                    ? "none (\(ChaosRun.deadLetterTopic) end offset 0)"
                    : "\(fmt(Int(dead))) messages dead-lettered (\(ChaosRun.deadLetterTopic) end offset \(dead)), "
                        + "\(poisoned.count) poison events sent")
        } else {
            add(false, "dead-letters", "end offset of \(ChaosRun.deadLetterTopic) unknown (the last sample failed)")
        }
        let v = verification
        let stateOK = v.wrongFields.count == 0 && v.missing.count == 0 && v.resurrected.count == 0 && v.unknown.count == 0
        if stateOK {
            add(true, "state", "\(fmt(v.exactFields)) live keys exact (every field), \(fmt(v.deletedAbsent)) hard-deleted keys absent")
        } else {
            var problems: [String] = []
            for (finding, what) in [
                (v.wrongFields, "with wrong fields"), (v.missing, "missing"), (v.resurrected, "hard-deleted but present"),
                (v.unknown, "never produced but present"),
            ] where finding.count > 0 {
                problems.append("\(fmt(finding.count)) keys \(what) (first: \(finding.examples[0]))")
            }
            add(false, "state", problems.joined(separator: "; "))
        }
        if v.wrongBytes.count == 0 {
            add(true, "bytes", "\(fmt(v.exactBytes)) live keys hold the bytes of their last event with bytes")
        } else {
            add(
                false, "bytes",
                "\(fmt(v.wrongBytes.count)) keys with wrong bytes: \(fmt(v.wrongBytesNull)) null, \(fmt(v.wrongBytesEarlier)) an earlier "
                    + "revision of the image, \(fmt(v.wrongBytesOther)) other (first: \(v.wrongBytes.examples.joined(separator: "; ")))")
        }
        let p = producerVerification
        let producerOK =
            p.wrongFields.count == 0 && p.missing.count == 0 && p.resurrected.count == 0 && p.unknown.count == 0 && p.wrongBytes.count == 0
        if producerOK {
            add(
                true, "producer",
                "LIMS's database (\(LimsProducerDatabase.schema)) exact: \(fmt(p.exactFields)) live keys (every field and bytes), "
                    + "\(fmt(p.deletedAbsent)) hard-deleted keys absent")
        } else {
            var problems: [String] = []
            for (finding, what) in [
                (p.wrongFields, "with wrong fields"), (p.missing, "missing"), (p.resurrected, "hard-deleted but present"),
                (p.unknown, "never produced but present"), (p.wrongBytes, "with wrong bytes"),
            ] where finding.count > 0 {
                problems.append("\(fmt(finding.count)) keys \(what) (first: \(finding.examples[0]))")
            }
            add(false, "producer", "LIMS's database (\(LimsProducerDatabase.schema)): " + problems.joined(separator: "; "))
        }
        // Only --poison loses offsets in this run (kills, outages and silent links only delay): any other
        // gap in the ledger is a false one. Every gap must be closed (healed from LIMS's database) by the end.
        for record in poisoned {
            let gap = gaps.rows.first { $0.reason == "dead-letter" && $0.recordID == record.key.id && $0.plant == record.key.plant.rawValue }
            add(
                gap?.closedAfterMs != nil, "poison",
                "\(record.kind.rawValue.dropLast()) of \(record.key) sent corrupt at \(secs(record.at)); "
                    + (gap.map { g in
                        "gap \(g.reason) \(g.topic)/\(g.partition) offset \(g.firstOffset) key \(g.recordID.map(String.init) ?? "-"): "
                            + (g.closedAfterMs.map { "healed \(String(format: "%.1f", Double($0) / 1000)) s after detection by \(g.closedBy)" } ?? "still open")
                    } ?? "no dead-letter gap recorded for it"))
        }
        // Each gap fault: exactly one gap of its reason on its partition, closed by StreamSync.
        var accounted = Set<Int>()
        for record in faults.gapFaults {
            let index = addGapFault(record, add)
            if let index { accounted.insert(index) }
        }
        let expected = Set(poisoned.map { "\($0.key.plant)/\($0.key.id)" })
        let unexpected = gaps.rows.indices.filter { i in
            let row = gaps.rows[i]
            return !accounted.contains(i) && !(row.reason == GapReason.deadLetter.rawValue && expected.contains("\(row.plant)/\(row.recordID ?? -1)"))
        }.map { gaps.rows[$0] }
        let open = gaps.rows.filter { $0.closedAfterMs == nil }
        var expectedText = "\(poisoned.count) expected from --poison"
        for fault in plan.gapFaults { expectedText += ", 1 from --\(fault.name)" }
        add(
            unexpected.isEmpty && open.isEmpty, "gaps",
            "\(gaps.rows.count) recorded (\(expectedText)), \(open.count) open at the end"
                + (unexpected.isEmpty ? ", no false gaps" : "; false gaps: " + unexpected.prefix(5).map(\.text).joined(separator: "; ")))
        if let batch { addBatch(batch, add) }
        add(
            shutdown.how == "exit 0", "shutdown",
            String(format: "SIGTERM → %@ in %.1f s", shutdown.how, shutdown.took)
                + (shutdown.how == "signal 9" ? " (SIGKILLed: not gone within the drain timeout \(options.drainTimeout) s + 5 s)" : ""))
        return lines
    }

    /// One line per gap fault: what was done to which partition, and the gap StreamSync recorded for it —
    /// exactly one of the fault's reason on that partition, covering the offsets Kafka lost, closed by
    /// StreamSync itself (healed from LIMS's database; no BatchSync process runs meanwhile). Returns the
    /// ledger row it accounts for.
    private func addGapFault(_ record: GapFaultRecord, _ add: (Bool, String, String) -> Void) -> Int? {
        let name = record.fault.name
        let reason = record.fault.kind == .retention ? GapReason.retention.rawValue : GapReason.offsetReset.rawValue
        guard let tp = record.partition, let began = record.began, let down = record.down, record.error == nil,
            let end = record.endAtStop, let committed = record.committed
        else {
            add(false, name, "not carried out: \(record.error ?? "see faults")")
            return nil
        }
        var text = String(format: "at %.1f s StreamSync %@ (%@ in %.1f s); ", began, record.fault.kind == .retention ? "SIGKILLed" : "SIGTERMed", down.how, down.took)
        var ok = true
        let images = BenchReport.mb(record.changeBytes)
        switch record.fault.kind {
        case .retention:
            text += "\(record.changes) full updates of \(tp) (\(images) of values) pushed its log start to \(record.logStart ?? -1), "
                + "past offset \(end) (its end at the kill) and the group's committed offset \(committed)"
        case .offsetReset:
            text += "\(record.changes) full updates of \(tp) (offsets \(end)…\((record.resetTo ?? 0) - 1)), then the group's offset "
                + "committed forward to \(record.resetTo ?? -1) by an operator's consumer"
        }
        if let first = record.frozen.first {
            text += "; \(record.frozen.count) key\(record.frozen.count == 1 ? "" : "s") (first: \(first)) last changed in the lost offsets"
        }
        if let restarted = record.restartedAt {
            text += String(format: "; restarted %.1f s after the fault began", restarted - began)
        }
        let matching = gaps.rows.indices.filter { i in
            let row = gaps.rows[i]
            return row.reason == reason && row.topic == tp.topic && row.partition == Int64(tp.partition)
        }
        guard let index = matching.first else {
            add(false, name, text + "; no \(reason) gap recorded on \(tp)")
            return nil
        }
        let gap = gaps.rows[index]
        // The gap covers what was lost: retention from the committed offset to at least the trimmed log's
        // start; a reset from StreamSync's last position (at most the end at the stop) to the new offset.
        let covers: Bool
        switch record.fault.kind {
        case .retention:
            covers = gap.firstOffset == max(committed, 0) && (gap.endOffset ?? -1) >= (record.logStart ?? .max)
        case .offsetReset:
            covers = gap.firstOffset <= end && gap.endOffset == record.resetTo
        }
        ok = ok && covers && matching.count == 1
        text += "; gap \(gap.reason) \(gap.topic)/\(gap.partition) [\(gap.firstOffset), \(gap.endOffset.map(String.init) ?? "?"))"
        text += covers ? "" : " (does not cover the lost offsets)"
        if matching.count > 1 { text += " and \(matching.count - 1) more on it" }
        if let closed = gap.closedAfterMs {
            let byStreamSync = gap.closedBy == "streamsync"
            ok = ok && byStreamSync
            text += ": healed \(String(format: "%.1f", Double(closed) / 1000)) s after detection by \(gap.closedBy)"
            text += byStreamSync ? "" : " (not by StreamSync)"
        } else {
            ok = false
            text += ": still open"
        }
        add(ok, name, text)
        return index
    }

    /// One line per link fault: what was done, whether a SIGTERM during it ended StreamSync within its
    /// drain timeout, how soon the group committed again, and what StreamSync logged meanwhile.
    private func addLinkFault(_ record: FaultRecorder.LinkFaultRecord, _ add: (Bool, String, String) -> Void) {
        let fault = record.fault
        let link = fault.link == .postgres ? "PostgreSQL" : "Kafka broker"
        guard let began = record.began, let ended = record.ended else {
            add(false, fault.name, "not carried out (see faults)")
            return
        }
        var ok = true
        var text: String
        if fault.sigtermAt == nil {
            text = String(format: "at %.1f s StreamSync's %d open %@ connection%@ went silent for good (new ones pass)", began, record.connections, link,
                record.connections == 1 ? "" : "s")
        } else {
            text = String(format: "every %@ connection (%d open) passed nothing from %.1f s for %.1f s", link, record.connections, began, ended - began)
        }
        if fault.sigtermAt != nil {
            if let sigterm = record.sigterm {
                let inTime = sigterm.how != "signal 9" && sigterm.took <= Double(options.drainTimeout) + Self.exitGrace.seconds
                ok = ok && inTime
                text += String(format: "; SIGTERM %.1f s in → %@ in %.1f s", sigterm.at - began, sigterm.how, sigterm.took)
                text += inTime ? "" : " (drain timeout \(options.drainTimeout) s: SIGKILLed)"
                // A freeze shorter than the drain deadline lets a stuck drain finish at the thaw.
                if ended < sigterm.at + Double(options.drainTimeout) + Self.exitGrace.seconds {
                    text += " (the freeze ended before the drain deadline: make it longer than \(secs(FaultPlan.sigtermIntoFreeze + Double(options.drainTimeout) + Self.exitGrace.seconds)) to test draining under it)"
                }
            } else {
                ok = false
                text += "; the SIGTERM was not sent"
            }
        }
        // Moving again: the committed total grows past what it was when the link was back for new work
        // (the thaw), or, for a silent fault, shortly after it (commits already under way do not count).
        let from = fault.sigtermAt == nil ? began + Self.silentSettle : ended
        let base = faults.commits.last { $0.at <= from }?.total ?? 0
        if let moved = faults.commits.first(where: { $0.at > from && $0.total > base }) {
            let restart = restarts.first { $0 > began && $0 < moved.at }
            text += String(format: "; committed offsets moved again %.1f s after %@", moved.at - (fault.sigtermAt == nil ? began : ended),
                fault.sigtermAt == nil ? "the fault" : "the thaw")
            if fault.sigtermAt == nil, let restart {
                // A silent fault is StreamSync's to notice: a restart (another fault's SIGTERM) gives it new connections.
                ok = false
                text += String(format: " but only after a restart at %.1f s (not by itself within --silent-room %.0f s)", restart, options.silentRoom)
            } else {
                text += restart == nil ? " (same instance)" : " (after a restart)"
            }
        } else {
            ok = false
            let behind = Int64(produced.values.reduce(0, +)) - (faults.commits.last?.total ?? 0)
            text += "; committed offsets never moved again (\(fmt(Int(behind))) events uncommitted at the end)"
        }
        let window = String(format: "%.1f s", ended - began)
        let alarms = record.lines.filter(Self.isWarningOrWorse)
        text += alarms.isEmpty
            ? "; StreamSync logged no warning or error in the \(window) after it"
            : "; StreamSync logged \(alarms.count) warning/error line\(alarms.count == 1 ? "" : "s") in the \(window) after it (first: \(Self.clip(alarms[0])))"
        add(ok, fault.name, text)
    }

    /// `--batch-silent`: run 1 fails by itself within its db timeout of the fault, run 2 converges.
    private func addBatch(_ batch: BatchSyncCheck.Outcome, _ add: (Bool, String, String) -> Void) {
        if let error = batch.error { add(false, "batch-check", "the BatchSync check did not complete: \(error)") }
        if let first = batch.first {
            if let at = batch.faultAt {
                let bound = Double(options.batchDBTimeout) + Self.exitGrace.seconds
                let ok = first.how != "exit 0" && first.how != "signal 9" && first.took <= bound
                add(
                    ok, "batch-silent",
                    String(
                        format: "BatchSync run 1: its %d open consumer connection%@ went silent %.1f s in (%@ written); %@ %.1f s later (--db-timeout %d s, bound %.0f s): %@",
                        batch.silenced, batch.silenced == 1 ? "" : "s", at, BenchReport.mb(batch.bytesBeforeFault), first.how, first.took, options.batchDBTimeout, bound,
                        Self.clip(first.lastLine)))
            } else {
                add(
                    false, "batch-silent",
                    "BatchSync run 1 ended (\(first.how)) before writing \(BatchSyncCheck.triggerBytes >> 10) kB to the consumer: no fault (\(Self.clip(first.lastLine)))")
            }
        }
        guard let second = batch.second else { return }
        guard second.how == "exit 0", let v = batch.verification else {
            add(false, "batch-converge", "BatchSync run 2: \(second.how) after \(secs(second.took)): \(Self.clip(second.lastLine))")
            return
        }
        let exact = v.wrongFields.count == 0 && v.missing.count == 0 && v.resurrected.count == 0 && v.unknown.count == 0 && v.wrongBytes.count == 0
        let first = [v.wrongFields, v.missing, v.resurrected, v.unknown, v.wrongBytes].first { $0.count > 0 }?.examples.first
        add(
            exact, "batch-converge",
            "BatchSync run 2: exit 0 in \(secs(second.took)); \(BatchSyncCheck.consumerSchema): "
                + (exact
                    ? "\(fmt(v.exactFields)) live keys exact (fields and bytes), \(fmt(v.deletedAbsent)) hard-deleted keys absent"
                    : "\(fmt(v.wrongFields.count + v.missing.count + v.resurrected.count + v.unknown.count + v.wrongBytes.count)) keys differ (first: \(first ?? ""))"))
    }

    /// swift-log's stream handler writes `<timestamp> <level> <label>: …`.
    private static func isWarningOrWorse(_ line: String) -> Bool {
        let fields = line.split(separator: " ", maxSplits: 2)
        return fields.count > 1 && ["warning", "error", "critical"].contains(fields[1])
    }

    private static func clip(_ line: String) -> String { line.count > 160 ? String(line.prefix(160)) + " …" : line }

    var passed: Bool { !lines.contains { $0.failed } }

    var text: String {
        let lines = self.lines
        var out =
            lines.map { ($0.status.padding(toLength: 5, withPad: " ", startingAt: 0)) + "\($0.name): \($0.text)" }.joined(separator: "\n")
            + "\n"
        let pg = faults.pgDownAt.flatMap { d in faults.pgUpAt.map { secs($0 - d) } } ?? "0 s"
        let broker = faults.brokerDownAt.flatMap { d in faults.brokerUpAt.map { secs($0 - d) } } ?? "0 s"
        let keys = verification.liveKeys + verification.deletedKeys
        out +=
            "summary: seed \(options.seed); \(fmt(options.events)) events (\(BenchReport.mb(eventBytes)) of values, \(options.recordBytes) B images, "
        out += "\(options.partialPercent) % of updates partial) in \(secs(productionTime)) "
        out += String(format: "(%.0f events/s", Double(options.events) / max(productionTime, 0.001))
        out += stalled > 0.05 ? ", held back \(secs(stalled)) for the mock's retention)" : ")"
        out += " over \(partitions.count) partitions\n"
        out +=
            "         \(kills) SIGKILLs, \(instances) StreamSync instances, \(unplannedExits.count) exits of its own; PostgreSQL down \(pg); brokers down \(broker)"
        for record in faults.linkFaults {
            out += "; \(record.fault.name)" + (record.fault.sigtermAt != nil ? " \(secs(record.fault.end - record.fault.start))" : "")
        }
        for record in faults.gapFaults { out += "; \(record.fault.name)" }
        out += "\n"
        out += "         converged \(convergedAfter.map(secs) ?? "never") after the last event; \(fmt(keys)) keys checked "
        out +=
            "(\(fmt(verification.liveKeys)) live, \(fmt(verification.deletedKeys)) hard-deleted); run \(secs(runTime)); logs in \(logs.path)\n"
        let failed = lines.filter(\.failed).map(\.name)
        out += failed.isEmpty ? "result: ok\n" : "result: FAIL (\(failed.joined(separator: ", ")))\n"
        return out
    }
}
