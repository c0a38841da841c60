import Dispatch
import Synchronization

/// What the consumer hands to the caller, in order.
public enum KafkaConsumerEvent: Sendable {
    case message(KafkaMessage)
    /// Partitions were added to this consumer's assignment.
    case partitionsAssigned([TopicPartition])
    /// Partitions are about to be taken away: flush and commit what was read from them, then call
    /// `acknowledge()`; librdkafka lets go of them only after that (or after the revoke timeout).
    case partitionsRevoked(KafkaRevocation)
    /// The partition's fetch offset is outside its log (librdkafka's `auto.offset.reset=error`): the
    /// committed offset is below the log start (retention, compaction) or past its end (a recreated
    /// topic), or the group has no committed offset (`offset` is nil). Fetching of the partition stops
    /// until the caller `seek`s it.
    case offsetOutOfRange(TopicPartition, offset: Int64?, detail: String)
}

/// A pending revocation. Every message of these partitions that will ever reach this consumer came
/// before this event.
public final class KafkaRevocation: Sendable {
    public let partitions: [TopicPartition]
    /// The partitions were lost (session timed out), not handed over: committing for them will fail,
    /// and another member may already own them.
    public let lost: Bool
    private let done = DispatchSemaphore(value: 0)
    private let acknowledged = Mutex(false)

    public init(partitions: [TopicPartition], lost: Bool) {
        self.partitions = partitions
        self.lost = lost
    }

    /// Lets the consumer give the partitions up. Safe to call more than once.
    public func acknowledge() {
        let first = acknowledged.withLock { a -> Bool in
            defer { a = true }
            return !a
        }
        if first { done.signal() }
    }

    /// `acknowledge()` was called.
    public var isAcknowledged: Bool { acknowledged.withLock { $0 } }

    /// Blocks the poll thread until acknowledged or `timeout`; true if acknowledged.
    func wait(timeout: Duration) -> Bool {
        let ms = Int(timeout.milliseconds)
        return done.wait(timeout: .now() + .milliseconds(ms)) == .success
    }
}

/// The consumer's events as an AsyncSequence (one iterating task at a time).
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    let buffer: EventBuffer<KafkaConsumerEvent>

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: EventBuffer<KafkaConsumerEvent>
        public mutating func next() async -> KafkaConsumerEvent? { await buffer.next(timeout: nil) }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }

    /// The next event, waiting at most `timeout`; nil on timeout or once the consumer is closed.
    public func next(within timeout: Duration) async -> KafkaConsumerEvent? { await buffer.next(timeout: timeout) }

    /// Bytes of the messages queued for the caller (bounded by the consumer's `bufferBytes`, softly).
    public var bufferedBytes: Int { buffer.weight }

    /// The next event if one is already queued.
    public func nextIfReady() -> KafkaConsumerEvent? { buffer.pop() }
}
