import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

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
