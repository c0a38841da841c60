import BlockingExecutor
import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// A Kafka consumer with manual offset commits.
///
/// - One dedicated poll thread calls `rd_kafka_consumer_poll`; every librdkafka callback (rebalance,
///   statistics) therefore runs there, and hands results to Swift through a Mutex-protected buffer read
///   as `events` (an AsyncSequence).
/// - Offsets are committed only by `commit(_:)`: `enable.auto.commit` and `enable.auto.offset.store`
///   are off.
/// - Group mode (`subscribe`) uses the cooperative-sticky assignor; a revocation is delivered as an
///   event after every message of the revoked partitions, and the poll thread waits (up to
///   `revokeTimeout`) for the caller to flush, commit and acknowledge before it lets go.
/// - Memory is bounded: when the queued messages weigh more than `bufferBytes`, the poll thread pauses
///   fetching of every assigned partition and resumes once the caller has drained half of it.
/// - `close()` leaves the group and destroys the client; call it exactly once.
/// - Calls that wait on the broker run on the consumer's own `BlockingExecutor`, each with a deadline
///   (docs/design.md §4): commits `commitTimeout`, offset queries their `timeout`.
public final class KafkaConsumer: @unchecked Sendable {
    // @unchecked Sendable is safe: `handle` is a librdkafka client, whose API is thread-safe for the
    // calls made off the poll thread (commit, committed, assign, subscribe); polling and all callbacks
    // stay on the poll thread; the handle is destroyed only after the poll thread ended, and calls on
    // `control` check `closed` (under `lock`) before touching it. Other state is immutable or in Mutexes.

    public let events: KafkaConsumerEvents
    private let client: ClientPointer
    private var handle: OpaquePointer { client.pointer }
    private let context: ConsumerContext
    private let control = BlockingExecutor(label: "plantsync.kafka.consumer.control")
    private let lock = Mutex(Lifecycle())
    private let threadDone = DispatchSemaphore(value: 0)

    private struct Lifecycle {
        var closing = false
        var closed = false
    }

    /// - Parameters:
    ///   - bufferBytes: soft bound on message bytes waiting for the caller.
    ///   - revokeTimeout: how long a revocation waits for `acknowledge()`.
    ///   - onStatistics: called on the poll thread with each statistics report; keep it short.
    public init(
        configuration: KafkaConfiguration, logger: Logger = Logger(label: "plantsync.kafka"),
        bufferBytes: Int = 64 << 20, revokeTimeout: Duration = .seconds(60),
        onStatistics: (@Sendable (KafkaStatistics) -> Void)? = nil
    ) throws(KafkaError) {
        let buffer = EventBuffer<KafkaConsumerEvent> { event in
            if case .message(let m) = event { return m.size + 64 }
            return 0
        }
        context = ConsumerContext(
            logger: logger, buffer: buffer, revokeTimeout: revokeTimeout, onStatistics: onStatistics)
        events = KafkaConsumerEvents(buffer: buffer)
        let opaque = Unmanaged.passUnretained(context as KafkaCallbackContext).toOpaque()
        client = ClientPointer(
            try KafkaClientHandle.make(
                type: RD_KAFKA_CONSUMER, properties: configuration.consumerProperties(), opaque: opaque
            ) { conf in
                rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
                rd_kafka_conf_set_stats_cb(conf, statisticsCallback)
            })
        rd_kafka_poll_set_consumer(client.pointer)
        let thread = Thread { [client, context, threadDone, bufferBytes] in
            Self.pollLoop(handle: client.pointer, context: context, bufferBytes: bufferBytes)
            threadDone.signal()
        }
        thread.name = "plantsync-kafka-poll"
        thread.start()
    }

    // MARK: Assignment

    /// Joins the group and subscribes to `topics` (on the consumer's executor: librdkafka takes locks
    /// the poll thread may hold).
    public func subscribe(topics: [String]) async throws(KafkaError) {
        let list = SendableList(topics.map { (TopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA), nil) })
        try await onControl("subscribe to \(topics.joined(separator: ","))") { handle throws(KafkaError) in
            let err = rd_kafka_subscribe(handle, list.pointer)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "subscribe", err) }
        }
    }

    /// Reads exactly these partitions, without group membership (offsets are still committed to the
    /// group). Emits `partitionsAssigned`.
    public func assign(_ partitions: [TopicPartition], from start: KafkaStartOffset = .committed) async throws(KafkaError) {
        let list = SendableList(partitions.map { ($0, start.raw) })
        try await onControl("assign \(partitions.count) partitions") { handle throws(KafkaError) in
            let err = rd_kafka_assign(handle, list.pointer)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "assign", err) }
        }
        context.didAssign(partitions)
    }

    /// The partitions currently assigned.
    public var assignment: Set<TopicPartition> { context.assignment }

    // MARK: Offsets

    /// How long a commit waits for the group coordinator's answer.
    public static let defaultCommitTimeout: Duration = .seconds(30)

    /// Commits `offsets` (for each partition, the offset of the next message to read) and waits for the
    /// coordinator's answer, at most `timeout`: a commit that is not answered by then fails (the caller
    /// commits these offsets again with its next commit; an answer arriving later is harmless).
    public func commit(_ offsets: [TopicPartition: Int64], timeout: Duration = defaultCommitTimeout) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = SendableList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let ms = Int32(clamping: timeout.milliseconds)
        try await onControl("commit offsets") { handle throws(KafkaError) in
            // rd_kafka_commit would wait for the coordinator without a limit; the queue form keeps to one.
            guard let queue = rd_kafka_queue_new(handle) else {
                throw KafkaError(operation: "commit offsets", message: "cannot create a reply queue")
            }
            defer { rd_kafka_queue_destroy(queue) }
            let err = rd_kafka_commit_queue(handle, list.pointer, queue, nil, nil)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "commit offsets", err) }
            guard let event = rd_kafka_queue_poll(queue, ms) else {
                throw KafkaError(operation: "commit offsets", message: "no answer from the group coordinator within \(timeout)")
            }
            defer { rd_kafka_event_destroy(event) }
            let eventErr = rd_kafka_event_error(event)
            guard eventErr == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "commit offsets", eventErr) }
            if let committed = rd_kafka_event_topic_partition_list(event) {
                for (tp, _, perr) in PartitionList.entries(committed) where perr != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError(operation: "commit offset of \(tp)", perr)
                }
            }
        }
    }

    /// Restarts fetching of assigned partitions at `offsets`: what resumes a partition that
    /// `offsetOutOfRange` stopped. librdkafka refuses to seek a stopped partition (its fetch state is
    /// NONE, the seek answers `_STATE`), so each partition is unassigned and assigned again at its offset
    /// (incrementally: the rest of the assignment keeps fetching).
    public func seek(_ offsets: [TopicPartition: Int64], timeout: Duration = .seconds(10)) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let at = SendableList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let bare = SendableList(offsets.keys.sorted().map { ($0, nil) })
        try await onControl("restart fetching") { handle throws(KafkaError) in
            if let error = rd_kafka_incremental_unassign(handle, bare.pointer) {
                throw KafkaError(operation: "restart fetching (unassign)", consuming: error)
            }
            if let error = rd_kafka_incremental_assign(handle, at.pointer) {
                throw KafkaError(operation: "restart fetching (assign)", consuming: error)
            }
        }
    }

    /// The group's committed offsets (next offset to read) of `partitions`; absent when none.
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [TopicPartition:
        Int64]
    {
        let list = SendableList(partitions.map { ($0, nil) })
        let ms = Int32(clamping: timeout.milliseconds)
        return try await onControl("read committed offsets") { handle throws(KafkaError) in
            let err = rd_kafka_committed(handle, list.pointer, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "read committed offsets", err) }
            var result: [TopicPartition: Int64] = [:]
            for (tp, offset, _) in PartitionList.entries(list.pointer) where offset >= 0 { result[tp] = offset }
            return result
        }
    }

    /// The low and high watermarks of `partitions`, asked of their leaders: the log start offset and
    /// the end offset (the offset the next produced message gets). Throws when a leader does not answer
    /// within `timeout` (twice: the two bounds are two requests).
    ///
    /// Asked as ListOffsets for the "earliest" and "latest" times (`rd_kafka_offsets_for_times`), which
    /// keeps to its timeout; librdkafka 2.0's `rd_kafka_query_watermark_offsets` waits for the broker's
    /// answer regardless of its timeout and blocks for as long as the leader is down.
    public func watermarks(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError)
        -> [TopicPartition: KafkaWatermarks]
    {
        guard !partitions.isEmpty else { return [:] }
        let ms = Int32(clamping: timeout.milliseconds)
        return try await onControl("query watermark offsets") { handle throws(KafkaError) in
            func offsets(at time: Int64) throws(KafkaError) -> [TopicPartition: Int64] {
                let list = PartitionList(partitions.map { ($0, time) })
                let err = rd_kafka_offsets_for_times(handle, list.pointer, ms)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "query watermark offsets", err) }
                var result: [TopicPartition: Int64] = [:]
                for (tp, offset, perr) in PartitionList.entries(list.pointer) {
                    guard perr == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "query watermark offsets of \(tp)", perr) }
                    result[tp] = offset
                }
                return result
            }
            let low = try offsets(at: Int64(RD_KAFKA_OFFSET_BEGINNING))
            let high = try offsets(at: Int64(RD_KAFKA_OFFSET_END))
            var result: [TopicPartition: KafkaWatermarks] = [:]
            for tp in partitions {
                guard let l = low[tp], let h = high[tp] else {
                    throw KafkaError(operation: "query watermark offsets", message: "no answer for \(tp)")
                }
                result[tp] = KafkaWatermarks(low: l, high: h)
            }
            return result
        }
    }

    // MARK: Closing

    /// Stops polling, leaves the group (revocations during close are not waited for: the caller has
    /// already flushed), destroys the client and ends `events`. Commits nothing. Waits at most `timeout`
    /// (leaving the group needs the coordinator): past it, or when the caller is cancelled, the client is
    /// released in the background once librdkafka lets go.
    public func close(timeout: Duration = .seconds(10)) async {
        let first = lock.withLock { s -> Bool in
            defer { s.closing = true }
            return !s.closing
        }
        guard first else { return }
        context.requestStop()
        _ = try? await control.run(timeout: timeout) { [self] in
            threadDone.wait()  // the poll thread leaves the group (rd_kafka_consumer_close) and ends
            lock.withLock { $0.closed = true }
            rd_kafka_destroy(client.pointer)
        }
        context.buffer.finish()
    }

    // MARK: Running on the handle

    /// Runs blocking librdkafka calls off Swift's cooperative pool, serialized with `close()`.
    private func onControl<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (OpaquePointer) throws(KafkaError) -> T
    ) async throws(KafkaError) -> T {
        try await control.runKafka(operation) { [self] () throws(KafkaError) -> T in
            guard !lock.withLock({ $0.closed }) else {
                throw KafkaError(operation: operation, message: "the consumer is closed")
            }
            return try body(client.pointer)
        }
    }
}
