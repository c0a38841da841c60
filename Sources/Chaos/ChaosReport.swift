import Foundation
import Kafka
import SyncBenchCore

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
    let shutdown: (how: String, took: Double)
    let final: KafkaWatch.Snapshot
    let deadLetterPartition: TopicPartition
    let convergedAfter: Double?
    let verification: Verification
    let logs: URL
    let runTime: Double

    /// A StreamSync exit of its own while PostgreSQL is down (or within this long after it accepts
    /// connections again) is the expected crash loop of a process that cannot prepare its schema.
    static let outageGrace = 5.0

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
        let acknowledged = deliveries.delivered == options.events && deliveries.failed == 0 && deliveryError == nil
        var producedText = "\(fmt(options.events)) events (\(kinds)); "
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
        if !faults.errors.isEmpty {
            add(false, "faults", "\(faults.errors.count) fault injections failed (first: \(faults.errors[0]))")
        }
        let inOutage = unplannedExits.filter { exit in
            guard let down = faults.pgDownAt else { return false }
            return exit.at >= down && exit.at <= (faults.pgAcceptingAt ?? .infinity) + Self.outageGrace
        }
        let outside = unplannedExits.filter { exit in !inOutage.contains { $0.instance == exit.instance } }
        if unplannedExits.isEmpty {
            add(true, "exits", "StreamSync never exited by itself")
        } else if outside.isEmpty {
            add(
                true, "exits",
                "\(inOutage.count) exits of its own, all while PostgreSQL was down, each restarted (first: instance \(inOutage[0].instance), \(inOutage[0].how): \(inOutage[0].lastLine))"
            )
        } else {
            add(
                false, "exits",
                "\(outside.count) exits of its own outside the PostgreSQL outage (first: instance \(outside[0].instance) at \(secs(outside[0].at)), \(outside[0].how): \(outside[0].lastLine))"
            )
        }
        add(
            final.retentionViolations == 0, "retention",
            final.retentionViolations == 0
                ? "no partition was trimmed past the group's committed offset (\(fmt(final.samples)) samples)"
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
        if let dead = final.watermarks[deadLetterPartition]?.high {
            add(
                dead == 0, "dead-letters",
                dead == 0
                    ? "none (\(ChaosRun.deadLetterTopic) end offset 0)"
                    : "\(fmt(Int(dead))) messages dead-lettered (\(ChaosRun.deadLetterTopic) end offset \(dead))")
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
        add(
            shutdown.how == "exit 0", "shutdown",
            String(format: "SIGTERM → %@ in %.1f s", shutdown.how, shutdown.took))
        return lines
    }

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
            "         \(kills) SIGKILLs, \(instances) StreamSync instances, \(unplannedExits.count) exits of its own; PostgreSQL down \(pg); brokers down \(broker)\n"
        out += "         converged \(convergedAfter.map(secs) ?? "never") after the last event; \(fmt(keys)) keys checked "
        out +=
            "(\(fmt(verification.liveKeys)) live, \(fmt(verification.deletedKeys)) hard-deleted); run \(secs(runTime)); logs in \(logs.path)\n"
        let failed = lines.filter(\.failed).map(\.name)
        out += failed.isEmpty ? "result: ok\n" : "result: FAIL (\(failed.joined(separator: ", ")))\n"
        return out
    }
}
