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
public final class KafkaConsumer: @unchecked Sendable {
    // @unchecked Sendable is safe: `handle` is a librdkafka client, whose API is thread-safe for the
    // calls made off the poll thread (commit, committed, assign, subscribe); polling and all callbacks
    // stay on the poll thread; the handle is destroyed only after the poll thread ended, and calls on
    // `control` check `closed` (under `lock`) before touching it. Other state is immutable or in Mutexes.

    public let events: KafkaConsumerEvents
    private let client: ClientPointer
    private var handle: OpaquePointer { client.pointer }
    private let context: ConsumerContext
    private let control = DispatchQueue(label: "plantsync.kafka.consumer.control")
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
        client = ClientPointer(try KafkaClientHandle.make(
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

    /// Joins the group and subscribes to `topics`.
    public func subscribe(topics: [String]) throws(KafkaError) {
        let list = PartitionList(topics.map { (TopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA), nil) })
        try onHandle("subscribe to \(topics.joined(separator: ","))") { handle throws(KafkaError) in
            let err = rd_kafka_subscribe(handle, list.pointer)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "subscribe", err) }
        }
    }

    /// Reads exactly these partitions, without group membership (offsets are still committed to the
    /// group). Emits `partitionsAssigned`.
    public func assign(_ partitions: [TopicPartition], from start: KafkaStartOffset = .committed) throws(KafkaError) {
        let list = PartitionList(partitions.map { ($0, start.raw) })
        try onHandle("assign \(partitions.count) partitions") { handle throws(KafkaError) in
            let err = rd_kafka_assign(handle, list.pointer)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "assign", err) }
        }
        context.didAssign(partitions)
    }

    /// The partitions currently assigned.
    public var assignment: Set<TopicPartition> { context.assignment }

    // MARK: Offsets

    /// Commits `offsets` (for each partition, the offset of the next message to read) synchronously.
    public func commit(_ offsets: [TopicPartition: Int64]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = SendableList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        try await onControl("commit offsets") { handle throws(KafkaError) in
            let err = rd_kafka_commit(handle, list.pointer, 0)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "commit offsets", err) }
            for (tp, _, perr) in PartitionList.entries(list.pointer) where perr != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(operation: "commit offset of \(tp)", perr)
            }
        }
    }

    /// The group's committed offsets (next offset to read) of `partitions`; absent when none.
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [TopicPartition: Int64] {
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
    /// already flushed), destroys the client and ends `events`. Commits nothing.
    public func close() async {
        let first = lock.withLock { s -> Bool in
            defer { s.closing = true }
            return !s.closing
        }
        guard first else { return }
        context.requestStop()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            control.async { [self] in
                threadDone.wait()
                lock.withLock { $0.closed = true }
                rd_kafka_destroy(client.pointer)
                continuation.resume()
            }
        }
        context.buffer.finish()
    }

    // MARK: Running on the handle

    private func onHandle<T>(_ operation: String, _ body: (OpaquePointer) throws(KafkaError) -> T) throws(KafkaError) -> T {
        let usable = lock.withLock { !$0.closing }
        guard usable else { throw KafkaError(operation: operation, message: "the consumer is closed") }
        return try body(handle)
    }

    /// Runs blocking librdkafka calls off Swift's cooperative pool, serialized with `close()`.
    private func onControl<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (OpaquePointer) throws(KafkaError) -> T
    ) async throws(KafkaError) -> T {
        let result: Result<T, KafkaError> = await withCheckedContinuation { continuation in
            control.async { [self] in
                guard !lock.withLock({ $0.closed }) else {
                    continuation.resume(returning: .failure(KafkaError(operation: operation, message: "the consumer is closed")))
                    return
                }
                do throws(KafkaError) {
                    continuation.resume(returning: .success(try body(client.pointer)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    // MARK: The poll thread

    /// Most messages handed over per wake-up of the consumer task.
    static let burst = 256

    private static func pollLoop(handle: OpaquePointer, context: ConsumerContext, bufferBytes: Int) {
        var paused = false
        // Per partition, the offset after the last message handed over: where a resumed partition must
        // continue. librdkafka 2.0 keeps its own "application position" for that, but under rapid
        // pause/resume it was seen to resume past messages it had purged from its queue (a test lost
        // the tail of a partition), so resuming seeks here explicitly, as its maintainers advise.
        var positions: [TopicPartition: Int64] = [:]
        while !context.stopRequested {
            let weight = context.buffer.weight
            if !paused && weight > bufferBytes {
                paused = setPaused(true, handle: handle, context: context, positions: positions)
            } else if paused && weight <= bufferBytes / 2 {
                paused = !setPaused(false, handle: handle, context: context, positions: positions)
            }
            // Take what librdkafka has already fetched (up to `burst` messages) before waking the
            // consumer task once. Callbacks pushing events meanwhile keep their place in the order.
            var next = rd_kafka_consumer_poll(handle, 100)
            var taken = 0
            while let message = next {
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    let consumed = KafkaMessage(message)
                    positions[consumed.topicPartition] = consumed.offset + 1
                    context.buffer.push(.message(consumed), wake: false)
                } else if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    context.reportConsumeError(err, detail: cString(rd_kafka_message_errstr(message)))
                }
                rd_kafka_message_destroy(message)
                taken += 1
                next = taken < Self.burst && context.buffer.weight <= bufferBytes
                    ? rd_kafka_consumer_poll(handle, 0) : nil
            }
            context.buffer.wake()
        }
        context.closing()
        let err = rd_kafka_consumer_close(handle)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            context.logger.warning("Kafka consumer close reported an error", metadata: ["error": "\(cString(rd_kafka_err2name(err)))"])
        }
    }

    /// Pauses or resumes every assigned partition; true on success. Resuming first seeks each partition
    /// to `positions` (when known), so fetching continues right after the last message handed over.
    private static func setPaused(
        _ pause: Bool, handle: OpaquePointer, context: ConsumerContext, positions: [TopicPartition: Int64]
    ) -> Bool {
        var raw: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(handle, &raw) == RD_KAFKA_RESP_ERR_NO_ERROR, let raw else { return false }
        let list = PartitionList(owning: raw)
        if !pause {
            let known = PartitionList.partitions(list.pointer).compactMap { tp in positions[tp].map { (tp, Optional($0)) } }
            if !known.isEmpty {
                let seek = PartitionList(known)
                if let error = rd_kafka_seek_partitions(handle, seek.pointer, 5000) {
                    context.logger.warning("Seek before resuming failed", metadata: ["error": "\(cString(rd_kafka_error_string(error)))"])
                    rd_kafka_error_destroy(error)
                }
            }
        }
        let err = pause ? rd_kafka_pause_partitions(handle, list.pointer) : rd_kafka_resume_partitions(handle, list.pointer)
        context.logger.debug(pause ? "Fetching paused: buffer full" : "Fetching resumed")
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }
}

/// State shared with librdkafka's callbacks (found through the client's opaque pointer).
final class ConsumerContext: KafkaCallbackContext, @unchecked Sendable {
    // @unchecked Sendable is safe: mutable state is in `state` (a Mutex); the rest is immutable.
    let buffer: EventBuffer<KafkaConsumerEvent>
    let revokeTimeout: Duration
    let onStatistics: (@Sendable (KafkaStatistics) -> Void)?
    private let state = Mutex(State())

    struct State {
        var assignment: Set<TopicPartition> = []
        var stop = false
        var closing = false
        var pendingRevocation: KafkaRevocation?
    }

    init(
        logger: Logger, buffer: EventBuffer<KafkaConsumerEvent>, revokeTimeout: Duration,
        onStatistics: (@Sendable (KafkaStatistics) -> Void)?
    ) {
        self.buffer = buffer
        self.revokeTimeout = revokeTimeout
        self.onStatistics = onStatistics
        super.init(logger: logger)
    }

    var assignment: Set<TopicPartition> { state.withLock { $0.assignment } }
    var stopRequested: Bool { state.withLock { $0.stop } }
    var isClosing: Bool { state.withLock { $0.closing } }

    /// Stops the poll loop; a revocation still waiting for the caller is released (the caller is
    /// closing and will not flush any more).
    func requestStop() {
        let pending = state.withLock { s -> KafkaRevocation? in
            s.stop = true
            return s.pendingRevocation
        }
        pending?.acknowledge()
    }
    func closing() { state.withLock { $0.closing = true } }

    func didAssign(_ partitions: [TopicPartition]) {
        state.withLock { $0.assignment.formUnion(partitions) }
        buffer.push(.partitionsAssigned(partitions))
    }

    /// On the poll thread: tells the caller, waits for its acknowledgement (not while closing).
    func willRevoke(_ partitions: [TopicPartition], lost: Bool) {
        guard !isClosing else { return }
        let revocation = KafkaRevocation(partitions: partitions, lost: lost)
        let stopping = state.withLock { s -> Bool in
            s.pendingRevocation = revocation
            return s.stop
        }
        defer { state.withLock { $0.pendingRevocation = nil } }
        if stopping { return }
        buffer.push(.partitionsRevoked(revocation))
        if !revocation.wait(timeout: revokeTimeout) {
            logger.warning(
                "Revocation not acknowledged in time; letting partitions go",
                metadata: ["partitions": "\(partitions.count)", "timeout": "\(revokeTimeout)"])
        }
    }

    func didRevoke(_ partitions: [TopicPartition]) {
        state.withLock { $0.assignment.subtract(partitions) }
    }

    /// Logs a consume error at most once a minute per error code (librdkafka retries by itself).
    func reportConsumeError(_ err: rd_kafka_resp_err_t, detail: String) {
        let log = shouldLog("consume.\(err.rawValue)")
        if log {
            logger.warning(
                "Kafka consume error (librdkafka retries)",
                metadata: ["error": "\(cString(rd_kafka_err2name(err)))", "detail": "\(detail)"])
        }
    }
}

/// Rebalance: assign incrementally (cooperative) or eagerly; before revoking, let the caller flush.
private let rebalanceCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
    ) -> Void = { rk, err, partitions, opaque in
        guard let rk, let context = KafkaCallbackContext.from(opaque) as? ConsumerContext else { return }
        let cooperative = cString(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let list = PartitionList.partitions(partitions)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    context.logger.error("\(KafkaError(operation: "incremental assign", consuming: error))")
                }
            } else {
                _ = rd_kafka_assign(rk, partitions)
            }
            context.logger.info("Partitions assigned", metadata: ["partitions": "\(list.sorted().map(\.description).joined(separator: ","))"])
            context.didAssign(list)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            context.logger.info(
                lost ? "Partitions lost" : "Partitions revoked",
                metadata: ["partitions": "\(list.sorted().map(\.description).joined(separator: ","))"])
            context.willRevoke(list, lost: lost)
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    context.logger.error("\(KafkaError(operation: "incremental unassign", consuming: error))")
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            context.didRevoke(list)
        default:
            context.logger.error("Rebalance failed", metadata: ["error": "\(cString(rd_kafka_err2name(err)))"])
            _ = rd_kafka_assign(rk, nil)
            context.didRevoke(Array(context.assignment))
        }
    }

/// Statistics JSON → `KafkaStatistics` → the caller's handler. Returning 0 lets librdkafka free the JSON.
private let statisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, length, opaque in
    guard let json, let context = KafkaCallbackContext.from(opaque) as? ConsumerContext, let handler = context.onStatistics
    else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: json, count: length))
    if let statistics = KafkaStatistics(json: bytes) { handler(statistics) }
    return 0
}
