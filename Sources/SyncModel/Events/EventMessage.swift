/// A Kafka message as the decoder sees it. `KafkaMessage` (the Kafka wrapper's type) conforms as it is;
/// `IncomingMessage` is the plain value for tests, benchmarks and other clients.
public protocol EventMessage: Sendable {
    var topic: String { get }
    var partition: Int32 { get }
    var offset: Int64 { get }
    var key: [UInt8]? { get }
    /// `nil` for a tombstone.
    var value: [UInt8]? { get }
    /// The Kafka record timestamp in milliseconds, when the broker or producer set one.
    var timestampMillis: Int64? { get }
}

/// A message built by hand (tests, benchmarks, a client other than the Kafka wrapper).
public struct IncomingMessage: EventMessage, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var timestampMillis: Int64?

    public init(
        topic: String, partition: Int32 = 0, offset: Int64 = 0, key: [UInt8]? = nil, value: [UInt8]?,
        timestampMillis: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMillis = timestampMillis
    }
}
