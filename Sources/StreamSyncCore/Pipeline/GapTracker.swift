import Kafka
import Logging
import SyncModel
import Synchronization

/// What the pipeline needs to notice every offset it will never read (docs/design.md §8, "Gaps").
public struct GapDetection: Sendable {
    public let ledger: any GapLedger
    /// The consumer group: on each assignment its committed offsets are compared with the positions
    /// the ledger holds (an operator's reset). `nil` without a group (assigned partitions).
    public let group: String?
    /// Where the user asked to go when an offset is out of range (`--auto-offset-reset`); the consumer
    /// itself runs with `auto.offset.reset=error`, so that the pipeline sees the exact range it skips.
    public let reset: KafkaConfiguration.OffsetReset

    public init(ledger: any GapLedger, group: String?, reset: KafkaConfiguration.OffsetReset) {
        self.ledger = ledger
        self.group = group
        self.reset = reset
    }
}

/// Where an out-of-range partition goes, and what that skips: pure, so the rules are tested alone.
public enum OutOfRangeRule {
    public struct Outcome: Equatable, Sendable {
        /// Where to seek; `nil`: stay stopped (`--auto-offset-reset error`).
        public var target: Int64?
        /// What is skipped: first offset, end (nil when unknown) and why; `nil` when nothing is.
        public var first: Int64?
        public var end: Int64?
        public var reason: GapReason?

        public init(target: Int64?, first: Int64? = nil, end: Int64? = nil, reason: GapReason? = nil) {
            self.target = target
            self.first = first
            self.end = end
            self.reason = reason
        }
    }

    /// - Parameters:
    ///   - failed: the offset librdkafka could not fetch (the committed one), `nil` when the group has none.
    ///   - marks: the partition's log start and end.
    public static func resolve(failed: Int64?, marks: KafkaWatermarks, reset: KafkaConfiguration.OffsetReset) -> Outcome {
        let target: Int64
        switch reset {
        case .earliest: target = marks.low
        case .latest: target = marks.high
        case .error: return Outcome(target: nil)
        }
        guard let failed else {
            // A group that never committed: everything before the start position was never read.
            guard target > 0 else { return Outcome(target: target) }
            return Outcome(target: target, first: 0, end: target, reason: reset == .latest ? .startedAtLatest : .retention)
        }
        if failed < marks.low { return Outcome(target: target, first: failed, end: max(target, marks.low), reason: .retention) }
        if failed > marks.high { return Outcome(target: target, first: failed, end: nil, reason: .logTruncated) }
        return Outcome(target: failed)  // within the log after all (a leader change): nothing skipped
    }
}

/// The pipeline's gap bookkeeping: turns out-of-range partitions, reset offsets and dead letters into
/// `StreamGap`s, writes them to the ledger before anything past them is committed, counts and logs
/// them, and records the positions it is about to commit.
final class GapTracker: Sendable {
    let detection: GapDetection
    let decoder: EventDecoder
    let metrics: StreamMetrics
    let logger: Logger
    let backoff: Backoff
    /// Gaps this process has recorded (ids), so a retried record is counted once.
    private let recorded = Mutex<Set<String>>([])
    /// Per partition that resumed after an out-of-range gap, the log end when it did: until the stream
    /// has committed that far, the events that survived are still being applied, and a repair then
    /// would fetch their keys from the producer as well.
    private let catchUp = Mutex<[TopicPartition: Int64]>([:])

    /// Whether the stream has applied what the log held when `gap` was met (always, for a gap met
    /// elsewhere: another process, or a key gap).
    func caughtUp(_ gap: StreamGap, committed: [TopicPartition: Int64]) -> Bool {
        let tp = TopicPartition(topic: gap.partition.topic, partition: gap.partition.partition)
        guard let end = catchUp.withLock({ $0[tp] }) else { return true }
        return (committed[tp] ?? 0) >= end
    }

    init(detection: GapDetection, decoder: EventDecoder, metrics: StreamMetrics, logger: Logger, backoff: Backoff) {
        self.detection = detection
        self.decoder = decoder
        self.metrics = metrics
        self.logger = logger
        self.backoff = backoff
    }

    /// The gap of a message that is dead-lettered: a key gap when its plant and id decode, else an
    /// offset gap of that one offset; `nil` when even its plant is no valid name (nothing to heal).
    func deadLetterGap(_ message: KafkaMessage, at now: Timestamp) -> StreamGap? {
        let key = decoder.bestEffortKey(message)
        guard let plant = key?.plant ?? (try? decoder.plant(forTopic: message.topic)) else { return nil }
        return Self.messageGap(message, plant: plant, recordID: key?.id, reason: .deadLetter, at: now)
    }

    /// The gap of one message whose change is not applied: a key gap when `recordID` is known, else an
    /// offset gap of that one offset (its plant is healed whole). Its id names the reason and the
    /// offset, so recording it again changes nothing.
    static func messageGap(_ message: KafkaMessage, plant: Plant, recordID: Int64?, reason: GapReason, at now: Timestamp) -> StreamGap {
        StreamGap(
            id: "\(reason.rawValue)/\(message.topic)/\(message.partition)/\(message.offset)", plant: plant,
            partition: StreamPartition(topic: message.topic, partition: message.partition), firstOffset: message.offset,
            endOffset: message.offset + 1, recordID: recordID, reason: reason, detectedAt: now)
    }

    /// Writes gaps to the ledger (retrying transient errors: nothing past them may be committed before),
    /// then counts and logs the ones new to this process.
    func record(_ gaps: [StreamGap]) async throws {
        guard !gaps.isEmpty else { return }
        try await retrying("record \(gaps.count) stream gaps") { try await self.detection.ledger.recordGaps(gaps) }
        let new = recorded.withLock { seen in gaps.filter { seen.insert($0.id).inserted } }
        for gap in new {
            metrics.gapDetected(gap)
            logger.warning(
                "Stream gap: changes StreamSync will never read; healing repairs them from the producer",
                metadata: [
                    "plant": "\(gap.plant)", "topic": "\(gap.partition.topic)", "partition": "\(gap.partition.partition)",
                    "first_offset": "\(gap.firstOffset)", "end_offset": "\(gap.endOffset.map(String.init) ?? "unknown")",
                    "key": "\(gap.recordID.map(String.init) ?? "-")", "reason": "\(gap.reason)", "gap": "\(gap.id)",
                ])
        }
    }

    /// A partition whose offset is outside its log: asks where the log is, records what is skipped,
    /// then seeks where `--auto-offset-reset` says (the gap is durable before the first message read
    /// there could be committed).
    func outOfRange(_ tp: TopicPartition, failed: Int64?, detail: String, events: any ChangeEventSource) async throws {
        let marks = try await retrying("query the watermarks of \(tp)") {
            guard let marks = try await events.watermarks(of: [tp])[tp] else {
                throw KafkaError(operation: "query watermark offsets", message: "no answer for \(tp)")
            }
            return marks
        }
        let outcome = OutOfRangeRule.resolve(failed: failed, marks: marks, reset: detection.reset)
        guard let target = outcome.target else {
            logger.error(
                "Partition offset out of range and --auto-offset-reset is error: the partition stays stopped until its offset is reset",
                metadata: ["partition": "\(tp)", "offset": "\(failed.map(String.init) ?? "none committed")", "detail": "\(detail)"])
            return
        }
        // The catch-up target before the gap is recorded: a healer that sees the gap in the ledger must
        // also see that the stream has not yet applied what survived in the log.
        if outcome.reason != nil, target < marks.high { catchUp.withLock { $0[tp] = marks.high } }
        if let first = outcome.first, let reason = outcome.reason {
            if let plant = try? decoder.plant(forTopic: tp.topic) {
                let end = outcome.end.map { "\($0)" } ?? "end"
                try await record([
                    StreamGap(
                        id: "\(reason)/\(tp.topic)/\(tp.partition)/\(first)-\(end)", plant: plant,
                        partition: StreamPartition(topic: tp.topic, partition: tp.partition), firstOffset: first, endOffset: outcome.end,
                        reason: reason, detectedAt: .now)
                ])
            } else {
                logger.warning("Offsets skipped on a topic that names no valid plant", metadata: ["partition": "\(tp)"])
            }
        }
        try await retrying("seek \(tp) to \(target)") { try await events.seek([tp: target]) }
    }

    /// Newly assigned partitions: a committed offset beyond the position this group recorded before its
    /// last commit was moved by someone else (an operator's reset): what lies between is a gap.
    func assigned(_ partitions: [TopicPartition], events: any ChangeEventSource) async throws {
        guard let group = detection.group, !partitions.isEmpty else { return }
        let stored = try await retrying("read the stream positions") { try await self.detection.ledger.streamPositions(group: group) }
        let committed: [TopicPartition: Int64]
        do {
            committed = try await events.committedOffsets(partitions)
        } catch {
            logger.warning("Cannot read the group's committed offsets: an offset reset would go unnoticed", metadata: ["error": "\(error)"])
            return
        }
        var gaps: [StreamGap] = []
        for tp in partitions.sorted() {
            let partition = StreamPartition(topic: tp.topic, partition: tp.partition)
            guard let position = stored[partition], let offset = committed[tp], offset > position,
                let plant = try? decoder.plant(forTopic: tp.topic)
            else { continue }
            gaps.append(
                StreamGap(
                    id: "offset-reset/\(tp.topic)/\(tp.partition)/\(position)-\(offset)", plant: plant, partition: partition,
                    firstOffset: position, endOffset: offset, reason: .offsetReset, detectedAt: .now))
        }
        try await record(gaps)
    }

    /// Records the offsets about to be committed (before the commit).
    func recordPositions(_ offsets: [TopicPartition: Int64]) async throws {
        guard let group = detection.group, !offsets.isEmpty else { return }
        var positions: [StreamPartition: Int64] = [:]
        for (tp, offset) in offsets { positions[StreamPartition(topic: tp.topic, partition: tp.partition)] = offset }
        try await detection.ledger.recordStreamPositions(positions, group: group)
    }

    /// Kafka calls tried this often before the pipeline gives up (and the process restarts, which
    /// meets the same offsets again).
    static let kafkaAttempts = 8

    /// Retries transient store errors (as long as they last, as an apply does) and Kafka errors
    /// (`kafkaAttempts` times) with the pipeline's backoff; a permanent store error ends the pipeline as
    /// a failed apply would.
    private func retrying<T: Sendable>(_ operation: String, _ body: @Sendable () async throws -> T) async throws -> T {
        var kafkaFailures = 0
        do {
            return try await backoff.retry(
                shouldRetry: { error in
                    if let store = error as? any StoreError { return store.isTransient }
                    guard error is KafkaError else { return false }
                    kafkaFailures += 1
                    return kafkaFailures < Self.kafkaAttempts
                },
                onRetry: { error, attempt, delay in
                    if attempt == 1 || attempt.isMultiple(of: 10) {
                        logger.warning(
                            "Gap bookkeeping failed; retrying with backoff",
                            metadata: ["operation": "\(operation)", "error": "\(error)", "attempt": "\(attempt)", "delay": "\(delay)"])
                    }
                }
            ) { try await body() }
        } catch let error as CancellationError {
            throw error
        } catch let error as any StoreError {
            throw StreamSyncError.permanentStoreFailure("\(operation): \(error)")
        }
    }
}
