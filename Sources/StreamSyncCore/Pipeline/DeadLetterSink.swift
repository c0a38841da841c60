import Kafka

/// Where poison messages go (docs/design.md §2): the dead-letter topic through `KafkaProducer` in
/// production, a recorder in the pipeline's unit tests.
public protocol DeadLetterSink: Sendable {
    /// Delivers the records; returns once every one is acknowledged (the pipeline commits the offsets
    /// of a batch only after its dead letters are delivered).
    func deliver(_ records: [KafkaProducerRecord]) async throws
    /// Flushes what is left and releases the client.
    func shutdown() async
}

extension KafkaProducer: DeadLetterSink {
    public func deliver(_ records: [KafkaProducerRecord]) async throws {
        try await send(records)
        try await flush()
    }

    public func shutdown() async { await close(timeout: .seconds(5)) }
}
