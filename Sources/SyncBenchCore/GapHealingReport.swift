import Foundation

/// The gap experiment's result (`SyncBench --gap`, issue #20): what a retention gap cost to heal from
/// the producer, beside what the lost changes weigh and what a full re-snapshot of the plant moves.
public struct GapHealingReport: Sendable, Codable {
    public struct Parameters: Sendable, Codable {
        public var plant: String
        public var records: Int
        public var recordBytes: Int
        public var gapPercent: Double
        public var seed: UInt64
        public var startedAt: String
        public var producer: ProducerDescription
        public var seeding: String
        public init(
            plant: String, records: Int, recordBytes: Int, gapPercent: Double, seed: UInt64, startedAt: String, producer: ProducerDescription,
            seeding: String
        ) {
            self.plant = plant
            self.records = records
            self.recordBytes = recordBytes
            self.gapPercent = gapPercent
            self.seed = seed
            self.startedAt = startedAt
            self.producer = producer
            self.seeding = seeding
        }
    }

    /// What the stream lost: the partition's offsets below the log start the group never read.
    public struct Loss: Sendable, Codable {
        /// The group's committed offset, and the partition's watermarks once the log was pushed.
        public var committedOffset: Int64
        public var logStart: Int64
        public var logEnd: Int64
        /// The 1 % changes (`--gap-percent`): keys, their events' bytes and their rows' bytes in the producer.
        public var changedKeys: Int
        public var changedEventBytes: Int
        public var changedRowBytes: Int
        /// Every key whose event is below the log start (the changes, plus any large filler record trimmed too).
        public var lostKeys: Int
        public var lostEventBytes: Int
        public var lostRowBytes: Int
        /// The large changes of other keys that pushed the log past the broker's retention.
        public var fillerEvents: Int
        public var fillerEventBytes: Int
        public init(
            committedOffset: Int64, logStart: Int64, logEnd: Int64, changedKeys: Int, changedEventBytes: Int, changedRowBytes: Int,
            lostKeys: Int, lostEventBytes: Int, lostRowBytes: Int, fillerEvents: Int, fillerEventBytes: Int
        ) {
            self.committedOffset = committedOffset
            self.logStart = logStart
            self.logEnd = logEnd
            self.changedKeys = changedKeys
            self.changedEventBytes = changedEventBytes
            self.changedRowBytes = changedRowBytes
            self.lostKeys = lostKeys
            self.lostEventBytes = lostEventBytes
            self.lostRowBytes = lostRowBytes
            self.fillerEvents = fillerEvents
            self.fillerEventBytes = fillerEventBytes
        }
    }

    /// The heal, as StreamSync did it after its restart.
    public struct Heal: Sendable, Codable {
        /// Seconds from StreamSync's start to /status showing the gap closed, and to no stale key left.
        public var secondsToGapClosed: Double?
        public var secondsToNoStaleKeys: Double?
        /// StreamSync's "Stream gaps healed from the producer" notice (nil fields if not found in its log).
        public var differences: Int?
        public var rowsWritten: Int?
        public var reportedBytes: Int?
        public var reportedSeconds: Double?
        /// The producer link, counted on the wire by a proxy (sent = StreamSync → producer).
        public var producerSent: Int
        public var producerReceived: Int
        /// The consumer link (everything StreamSync did in the run, the retained events' writes too).
        public var consumerSent: Int
        public var consumerReceived: Int
        public var producerBytes: Int { producerSent + producerReceived }
        public init(
            secondsToGapClosed: Double?, secondsToNoStaleKeys: Double?, differences: Int?, rowsWritten: Int?, reportedBytes: Int?,
            reportedSeconds: Double?, producerSent: Int, producerReceived: Int, consumerSent: Int, consumerReceived: Int
        ) {
            self.secondsToGapClosed = secondsToGapClosed
            self.secondsToNoStaleKeys = secondsToNoStaleKeys
            self.differences = differences
            self.rowsWritten = rowsWritten
            self.reportedBytes = reportedBytes
            self.reportedSeconds = reportedSeconds
            self.producerSent = producerSent
            self.producerReceived = producerReceived
            self.consumerSent = consumerSent
            self.consumerReceived = consumerReceived
        }
    }

    /// A full re-snapshot of the plant: its rows' bytes in the producer, and what a BatchSync `--strategy
    /// full --dry-run` read over the producer link (nil if not measured).
    public struct Snapshot: Sendable, Codable {
        public var plantRowBytes: Int
        public var fullRunProducerBytes: Int?
        public init(plantRowBytes: Int, fullRunProducerBytes: Int?) {
            self.plantRowBytes = plantRowBytes
            self.fullRunProducerBytes = fullRunProducerBytes
        }
    }

    /// One corrupt event for a valid key while StreamSync runs: seconds from its publication to the
    /// consumer holding the producer's version.
    public struct DeadLetter: Sendable, Codable {
        public var secondsToHealed: Double?
        public init(secondsToHealed: Double?) { self.secondsToHealed = secondsToHealed }
    }

    /// One key whose version or digest differs between the producer and the consumer, both sides'
    /// `version/digest` (nil: the side lacks the key), and what the run did to it.
    public struct Difference: Sendable, Codable, Hashable {
        public var id: Int64
        /// `changed (lost)`, `filler (lost)`, `filler (retained)` (its event is still in the log), or `untouched`.
        public var role: String
        public var producer: String?
        public var consumer: String?
        public init(id: Int64, role: String, producer: String?, consumer: String?) {
            self.id = id
            self.role = role
            self.producer = producer
            self.consumer = consumer
        }
    }

    /// Which keys differed between producer and consumer, read directly (not through the proxies) by
    /// their versions and digests: what the heal had to repair, and what it found beyond the loss.
    public struct Differences: Sendable, Codable {
        /// Right after the initial load, before anything changed.
        public var afterLoad: [Difference]
        /// Just before StreamSync started, counted by role (`Difference.role`).
        public var beforeStart: [String: Int]
        /// Of those, the keys the run never touched (listed: the heal would repair them beyond the loss).
        public var beforeStartUntouched: [Difference]
        /// Events still in the log whose decoded version is not the producer's (the stream would write
        /// a record the heal then repairs).
        public var retainedEventMismatches: [Difference]
        /// The keys StreamSync's heal found differing (its `--log-level debug` "Differing key" lines)
        /// that are not among the lost ones, with the versions it read (nil: not logged).
        public var healedBeyondLoss: [Difference]?
        public init(afterLoad: [Difference], beforeStart: [String: Int], beforeStartUntouched: [Difference], retainedEventMismatches: [Difference]) {
            self.afterLoad = afterLoad
            self.beforeStart = beforeStart
            self.beforeStartUntouched = beforeStartUntouched
            self.retainedEventMismatches = retainedEventMismatches
        }
    }

    public var parameters: Parameters
    public var loss: Loss
    public var differences: Differences?
    public var heal: Heal
    public var snapshot: Snapshot
    public var deadLetter: DeadLetter?
    /// Keys differing between consumer and producer at the end (BatchSync merkle --dry-run; -1: check failed).
    public var remainingDifferences: Int

    public init(
        parameters: Parameters, loss: Loss, differences: Differences? = nil, heal: Heal, snapshot: Snapshot, deadLetter: DeadLetter?,
        remainingDifferences: Int
    ) {
        self.parameters = parameters
        self.loss = loss
        self.differences = differences
        self.heal = heal
        self.snapshot = snapshot
        self.deadLetter = deadLetter
        self.remainingDifferences = remainingDifferences
    }

    /// Issue #20's byte target: 1.5 × the changed records' bytes + 200 kB.
    public var byteTarget: Int { loss.changedRowBytes * 3 / 2 + 200_000 }
    /// The same target over every lost key's rows (the changes plus any filler the broker trimmed too).
    public var lostByteTarget: Int { loss.lostRowBytes * 3 / 2 + 200_000 }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(["gap_healing": self])
    }

    /// The result lines (also printed at the end of a run).
    public func table() -> String {
        let mb = BenchReport.mb
        func s(_ value: Double?) -> String { value.map { String(format: "%.2f s", $0) } ?? "not reached" }
        func ratio(_ a: Int, _ b: Int) -> String { b > 0 ? String(format: "%.2f×", Double(a) / Double(b)) : "–" }
        let l = loss
        let h = heal
        var lines = [
            "| figure | value |", "|---|---:|",
            "| changed records (\(parameters.gapPercent) %) | \(l.changedKeys) keys, rows \(mb(l.changedRowBytes)), events \(mb(l.changedEventBytes)) |",
            "| lost from the stream (offsets \(l.committedOffset)…\(l.logStart - 1) of \(l.logEnd)) | \(l.lostKeys) keys, rows \(mb(l.lostRowBytes)), events \(mb(l.lostEventBytes)) |",
            "| filler changes pushing the log past retention | \(l.fillerEvents) events, \(mb(l.fillerEventBytes)) |",
        ]
        if let d = differences {
            func listed(_ keys: [Difference]) -> String {
                keys.isEmpty ? "" : ": " + keys.prefix(20).map { "\($0.id) (producer \($0.producer ?? "none"), consumer \($0.consumer ?? "none"))" }.joined(separator: "; ")
                    + (keys.count > 20 ? "; …" : "")
            }
            let roles = d.beforeStart.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            lines += [
                "| keys differing right after the initial load | \(d.afterLoad.count)\(listed(d.afterLoad)) |",
                "| keys differing before StreamSync's start | \(d.beforeStart.values.reduce(0, +)): \(roles.isEmpty ? "none" : roles)\(listed(d.beforeStartUntouched)) |",
                "| retained events whose version is not the producer's | \(d.retainedEventMismatches.count)\(listed(d.retainedEventMismatches)) |",
            ]
            if let beyond = d.healedBeyondLoss {
                let roles = Dictionary(grouping: beyond, by: \.role).sorted { $0.key < $1.key }.map { "\($0.value.count) \($0.key)" }.joined(separator: ", ")
                lines.append("| keys the heal repaired beyond the lost ones | \(beyond.count)\(roles.isEmpty ? "" : " (\(roles))")\(listed(beyond)) |")
            }
        }
        lines += [
            "| StreamSync start → gap closed (/status) | \(s(h.secondsToGapClosed)) |",
            "| StreamSync start → 0 stale keys | \(s(h.secondsToNoStaleKeys)) |",
            "| heal (StreamSync's notice) | \(h.differences.map(String.init) ?? "–") differences, \(h.rowsWritten.map(String.init) ?? "–") rows written, "
                + "\(h.reportedBytes.map(mb) ?? "–"), \(h.reportedSeconds.map { String(format: "%.2f s", $0) } ?? "–") |",
            "| producer link on the wire (sent / received) | \(mb(h.producerBytes)) (\(mb(h.producerSent)) / \(mb(h.producerReceived))) |",
            "| … vs changed records' rows / vs all lost keys' rows | \(ratio(h.producerBytes, l.changedRowBytes)) / \(ratio(h.producerBytes, l.lostRowBytes)) |",
            "| issue target: ≤ 1.5 × changed rows + 200 kB | \(mb(byteTarget)): " + (h.producerBytes <= byteTarget ? "met" : "**missed** by \(mb(h.producerBytes - byteTarget))") + " |",
            "| same target over all lost keys' rows | \(mb(lostByteTarget)): " + (h.producerBytes <= lostByteTarget ? "met" : "**missed** by \(mb(h.producerBytes - lostByteTarget))") + " |",
            "| full re-snapshot: the plant's rows | \(mb(snapshot.plantRowBytes)) (heal = \(ratio(h.producerBytes, snapshot.plantRowBytes)) of it) |",
        ]
        if let full = snapshot.fullRunProducerBytes {
            lines.append("| full re-snapshot: BatchSync --strategy full, producer link | \(mb(full)) (heal = \(ratio(h.producerBytes, full)) of it) |")
        }
        lines.append(
            "| issue target: 0 stale keys ≤ 10 s after restart | "
                + (h.secondsToNoStaleKeys.map { $0 <= 10 ? "met" : "**missed** by \(String(format: "%.2f s", $0 - 10))" } ?? "**not reached**") + " |")
        if let deadLetter {
            lines.append("| dead-lettered event → healed (target ≤ 5 s) | \(s(deadLetter.secondsToHealed)) |")
        }
        lines.append("| consumer = producer at the end (merkle dry run) | " + (remainingDifferences == 0 ? "yes" : "**no** (\(remainingDifferences))") + " |")
        return lines.joined(separator: "\n")
    }

    public func markdown() -> String {
        let p = parameters
        return """
            # PlantSync: healing a stream gap

            ## Gap healing

            Run of \(p.startedAt), seed \(p.seed): plant `\(p.plant)`, \(p.records) records of \(p.recordBytes) B images in a \
            \(p.producer.description); consumer: PlantSync's PostgreSQL store, seeded \(p.seeding). While StreamSync was down, \
            \(p.gapPercent) % of the records changed (producer, then Kafka) and large changes of other keys pushed the partition \
            past the mock broker's retention, trimming those events before StreamSync read them. StreamSync was then started \
            with `--producer-uri` through a counting proxy and healed the gap itself (no BatchSync process).

            \(table())

            """
    }
}
