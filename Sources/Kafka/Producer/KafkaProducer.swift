import BlockingExecutor
import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// A record to produce.
public struct KafkaProducerRecord: Sendable, Hashable {
    public var topic: String
    /// nil lets the partitioner choose (by key hash).
    public var partition: Int32?
    public var key: [UInt8]?
    /// nil produces a tombstone.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Create time in milliseconds; nil lets librdkafka use "now".
    public var timestampMillis: Int64?

    public init(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8]?, headers: [KafkaHeader] = [],
        timestampMillis: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMillis = timestampMillis
    }
}

/// A Kafka producer: `send` enqueues (copying the bytes), `flush` waits until every enqueued record is
/// acknowledged by the broker and reports whether any delivery failed since the previous flush.
/// A dedicated thread polls for delivery reports and statistics.
///
/// Every wait has a deadline (docs/design.md §4): enqueueing waits at most `enqueueTimeout` while
/// librdkafka's local queue is full, `flush` at most its `timeout`; async code sends a batch with
/// `send(_:)` on the producer's own executor (the single-record `send` may block, so it is `noasync`).
public final class KafkaProducer: @unchecked Sendable {
    // @unchecked Sendable is safe: the librdkafka handle is thread-safe for produce/poll/flush; it is
    // destroyed in `close()` only after the poll thread ended and flushes (on `control`) are done;
    // mutable state is in Mutexes.
    private let client: ClientPointer
    private let context: ProducerContext
    private let control = BlockingExecutor(label: "plantsync.kafka.producer.control")
    private let threadDone = DispatchSemaphore(value: 0)
    private let closed = Mutex(false)

    public init(
        configuration: KafkaConfiguration, logger: Logger = Logger(label: "plantsync.kafka.producer"),
        onStatistics: (@Sendable (KafkaStatistics) -> Void)? = nil
    ) throws(KafkaError) {
        context = ProducerContext(logger: logger, onStatistics: onStatistics)
        let opaque = Unmanaged.passUnretained(context as KafkaCallbackContext).toOpaque()
        client = ClientPointer(
            try KafkaClientHandle.make(type: RD_KAFKA_PRODUCER, properties: configuration.producerProperties(), opaque: opaque) {
                conf in
                rd_kafka_conf_set_dr_msg_cb(conf, deliveryCallback)
                rd_kafka_conf_set_stats_cb(conf, producerStatisticsCallback)
            })
        let thread = Thread { [client, context, threadDone] in
            while !context.stopRequested { rd_kafka_poll(client.pointer, 100) }
            threadDone.signal()
        }
        thread.name = "plantsync-kafka-producer-poll"
        thread.start()
    }

    /// How long enqueueing a record waits while librdkafka's local queue is full (the broker is away
    /// and `queue.buffering.max.*` is reached) before it fails.
    public static let defaultEnqueueTimeout: Duration = .seconds(30)

    /// Enqueues `records` in order on the producer's executor (off Swift's cooperative pool), each
    /// waiting at most `enqueueTimeout` for room in librdkafka's queue. `flush` then awaits delivery.
    public func send(_ records: [KafkaProducerRecord], enqueueTimeout: Duration = defaultEnqueueTimeout) async throws(KafkaError) {
        guard !records.isEmpty else { return }
        try await control.runKafka("produce") { () throws(KafkaError) in
            for record in records { try self.send(record, enqueueTimeout: enqueueTimeout) }
        }
    }

    /// Enqueues a record. Waits (polling) while librdkafka's local queue is full, at most `enqueueTimeout`.
    @available(*, noasync, message: "may wait for room in the queue: use send(_ records:) from async code")
    public func send(_ record: KafkaProducerRecord, enqueueTimeout: Duration = defaultEnqueueTimeout) throws(KafkaError) {
        guard !closed.withLock({ $0 }) else { throw KafkaError(operation: "produce", message: "the producer is closed") }
        var allocations: [UnsafeMutableRawPointer] = []
        defer { allocations.forEach { free($0) } }
        func copy(_ bytes: [UInt8]) -> UnsafeMutableRawPointer {
            let p = malloc(max(bytes.count, 1))!
            bytes.withUnsafeBytes { if let base = $0.baseAddress { p.copyMemory(from: base, byteCount: bytes.count) } }
            allocations.append(p)
            return p
        }
        func cstr(_ s: String) -> UnsafePointer<CChar> {
            let p = strdup(s)!
            allocations.append(UnsafeMutableRawPointer(p))
            return UnsafePointer(p)
        }
        var args: [rd_kafka_vu_t] = []
        var vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_TOPIC
        vu.u.cstr = cstr(record.topic)
        args.append(vu)
        vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_PARTITION
        vu.u.i32 = record.partition ?? RD_KAFKA_PARTITION_UA
        args.append(vu)
        vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
        vu.u.i = RD_KAFKA_MSG_F_COPY
        args.append(vu)
        if let key = record.key {
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_KEY
            vu.u.mem.ptr = copy(key)
            vu.u.mem.size = key.count
            args.append(vu)
        }
        vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_VALUE
        if let value = record.value {
            vu.u.mem.ptr = copy(value)
            vu.u.mem.size = value.count
        }
        args.append(vu)
        for header in record.headers {
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_HEADER
            vu.u.header.name = cstr(header.name)
            if let value = header.value {
                vu.u.header.val = UnsafeRawPointer(copy(value))
                vu.u.header.size = value.count
            } else {
                vu.u.header.size = -1
            }
            args.append(vu)
        }
        if let ts = record.timestampMillis {
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_TIMESTAMP
            vu.u.i64 = ts
            args.append(vu)
        }
        let deadline = ContinuousClock.now + enqueueTimeout
        while true {
            guard let error = rd_kafka_produceva(client.pointer, &args, args.count) else { return }
            if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL, ContinuousClock.now < deadline {
                rd_kafka_error_destroy(error)
                rd_kafka_poll(client.pointer, 10)
                continue
            }
            throw KafkaError(operation: "produce to \(record.topic)", consuming: error)
        }
    }

    /// Waits until every enqueued record is delivered (or `timeout`); throws if any delivery failed
    /// since the previous flush, or if records are still pending at the timeout.
    public func flush(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        let ms = Int32(clamping: timeout.milliseconds)
        try await control.runKafka("flush") { [self] () throws(KafkaError) in
            guard !closed.withLock({ $0 }) else { throw KafkaError(operation: "flush", message: "the producer is closed") }
            let err = rd_kafka_flush(client.pointer, ms)  // returns by `timeout` (librdkafka keeps to it)
            if let failure = context.takeFailure() { throw failure }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(operation: "flush", err) }
        }
    }

    /// Records delivered and failed since the producer started.
    public var deliveries: (delivered: Int, failed: Int) { context.counts }

    /// Flushes (bounded by `timeout`), stops the poll thread and destroys the client.
    public func close(timeout: Duration = .seconds(10)) async {
        try? await flush(timeout: timeout)
        guard
            closed.withLock({ c -> Bool in
                defer { c = true }
                return !c
            })
        else { return }
        context.requestStop()
        _ = try? await control.run { [client, threadDone] in
            threadDone.wait()  // the poll thread ends within one 100 ms poll
            rd_kafka_destroy(client.pointer)
        }
    }
}

final class ProducerContext: KafkaCallbackContext, @unchecked Sendable {
    // @unchecked Sendable is safe: mutable state is in `state` (a Mutex).
    let onStatistics: (@Sendable (KafkaStatistics) -> Void)?
    private let state = Mutex(State())

    struct State {
        var stop = false
        var delivered = 0
        var failed = 0
        var firstFailure: KafkaError?
    }

    init(logger: Logger, onStatistics: (@Sendable (KafkaStatistics) -> Void)?) {
        self.onStatistics = onStatistics
        super.init(logger: logger)
    }

    var stopRequested: Bool { state.withLock { $0.stop } }
    var counts: (delivered: Int, failed: Int) { state.withLock { ($0.delivered, $0.failed) } }
    func requestStop() { state.withLock { $0.stop = true } }

    func delivered(error: KafkaError?) {
        state.withLock { s in
            if let error {
                s.failed += 1
                if s.firstFailure == nil { s.firstFailure = error }
            } else {
                s.delivered += 1
            }
        }
    }

    func takeFailure() -> KafkaError? {
        state.withLock { s in
            defer { s.firstFailure = nil }
            return s.firstFailure
        }
    }
}

private let deliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let context = KafkaCallbackContext.from(opaque) as? ProducerContext else { return }
    let err = message.pointee.err
    if err == RD_KAFKA_RESP_ERR_NO_ERROR {
        context.delivered(error: nil)
    } else {
        let topic = cString(rd_kafka_topic_name(message.pointee.rkt))
        context.delivered(error: KafkaError(operation: "deliver to \(topic)", err))
    }
}

private let producerStatisticsCallback:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
        _, json, length, opaque in
        guard let json, let context = KafkaCallbackContext.from(opaque) as? ProducerContext, let handler = context.onStatistics
        else { return 0 }
        if let statistics = KafkaStatistics(json: Array(UnsafeRawBufferPointer(start: json, count: length))) { handler(statistics) }
        return 0
    }
