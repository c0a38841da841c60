import Kafka

/// How the pipeline gets its partitions.
public enum EventSubscription: Sendable, CustomStringConvertible {
    /// Join the consumer group and subscribe (production).
    case subscribe([String])
    /// Read exactly these partitions without group membership (tests, benchmark).
    case assign([TopicPartition], from: KafkaStartOffset)

    public var description: String {
        switch self {
        case .subscribe(let topics): return "subscribe(\(topics.joined(separator: ",")))"
        case .assign(let partitions, let start): return "assign(\(partitions.count) partitions from \(start))"
        }
    }
}

/// Where the stream pipeline reads change events from and commits its progress to (docs/design.md §2,
/// §4): `KafkaConsumer` in production, an in-memory script in the pipeline's unit tests.
///
/// Every message of a partition that will ever be delivered comes before a `.partitionsRevoked` event
/// naming it; the pipeline answers that event only after the messages before it are durable and
/// committed.
public protocol ChangeEventSource: Sendable {
    /// Starts delivering events for `subscription`.
    func start(_ subscription: EventSubscription) async throws
    /// The next event, waiting at most `timeout`; `nil` on timeout or once shut down.
    func next(within timeout: Duration) async -> KafkaConsumerEvent?
    /// Commits, per partition, the next offset to read.
    func commit(_ offsets: [TopicPartition: Int64]) async throws
    /// Some partitions are assigned (readiness).
    var hasAssignment: Bool { get }
    /// Moves the fetch position of assigned partitions (after `offsetOutOfRange`).
    func seek(_ offsets: [TopicPartition: Int64]) async throws
    /// The group's committed offsets of `partitions`; absent where none.
    func committedOffsets(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64]
    /// The log start and end offsets of `partitions`.
    func watermarks(of partitions: [TopicPartition]) async throws -> [TopicPartition: KafkaWatermarks]
    /// Leaves the group and releases the client; events end.
    func shutdown() async
}

extension KafkaConsumer: ChangeEventSource {
    public func start(_ subscription: EventSubscription) async throws {
        switch subscription {
        case .subscribe(let topics): try await subscribe(topics: topics)
        case .assign(let partitions, let start): try await assign(partitions, from: start)
        }
    }

    public func next(within timeout: Duration) async -> KafkaConsumerEvent? { await events.next(within: timeout) }

    public var hasAssignment: Bool { !assignment.isEmpty }

    public func commit(_ offsets: [TopicPartition: Int64]) async throws {
        try await commit(offsets, timeout: KafkaConsumer.defaultCommitTimeout)
    }

    public func shutdown() async { await close() }

    public func seek(_ offsets: [TopicPartition: Int64]) async throws { try await seek(offsets, timeout: .seconds(10)) }

    public func committedOffsets(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        try await committed(partitions)
    }

    public func watermarks(of partitions: [TopicPartition]) async throws -> [TopicPartition: KafkaWatermarks] {
        try await watermarks(partitions)
    }
}
