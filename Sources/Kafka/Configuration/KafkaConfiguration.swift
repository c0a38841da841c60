/// Typed client configuration: the settings PlantSync cares about, plus librdkafka properties passed
/// through verbatim (`-X key=value`), which are applied last and so win.
public struct KafkaConfiguration: Sendable, Hashable {
    public enum OffsetReset: String, Sendable, Hashable, CaseIterable {
        case earliest, latest, error
    }

    /// `bootstrap.servers`: comma-separated `host:port` list.
    public var bootstrapServers: String
    /// `group.id` of the consumer group.
    public var groupId: String
    /// `client.id`, as brokers log it.
    public var clientId: String
    /// `auto.offset.reset`: where to start when the group has no committed offset.
    public var autoOffsetReset: OffsetReset
    /// `statistics.interval.ms`; 0 disables statistics.
    public var statisticsIntervalMs: Int
    /// Any other librdkafka property (`-X key=value`, or extra keys of the JSON file).
    public var properties: [String: String]

    public init(
        bootstrapServers: String = "localhost:9092", groupId: String = "plantsync-streamsync",
        clientId: String = "plantsync", autoOffsetReset: OffsetReset = .earliest, statisticsIntervalMs: Int = 0,
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupId = groupId
        self.clientId = clientId
        self.autoOffsetReset = autoOffsetReset
        self.statisticsIntervalMs = statisticsIntervalMs
        self.properties = properties
    }

    /// Sets one property from `key=value` text (the `-X` flag). Typed keys update the typed fields.
    public mutating func set(passthrough text: String) throws(KafkaConfigurationError) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw KafkaConfigurationError(field: "-X", value: text, detail: "expected key=value")
        }
        try set(String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// Sets one property by its librdkafka name.
    public mutating func set(_ key: String, _ value: String) throws(KafkaConfigurationError) {
        switch key {
        case "bootstrap.servers", "metadata.broker.list":
            guard !value.isEmpty else { throw KafkaConfigurationError(field: key, value: value, detail: "must not be empty") }
            bootstrapServers = value
        case "group.id":
            guard !value.isEmpty else { throw KafkaConfigurationError(field: key, value: value, detail: "must not be empty") }
            groupId = value
        case "client.id": clientId = value
        case "auto.offset.reset":
            switch value {
            case "earliest", "smallest", "beginning": autoOffsetReset = .earliest
            case "latest", "largest", "end": autoOffsetReset = .latest
            case "error": autoOffsetReset = .error
            default:
                throw KafkaConfigurationError(field: key, value: value, detail: "expected earliest, latest or error")
            }
        case "statistics.interval.ms":
            guard let ms = Int(value), ms >= 0 else {
                throw KafkaConfigurationError(field: key, value: value, detail: "expected a non-negative integer")
            }
            statisticsIntervalMs = ms
        case "enable.auto.commit" where value != "false", "enable.auto.offset.store" where value != "false":
            throw KafkaConfigurationError(
                field: key, value: value, detail: "offsets are committed only after the store applied them; this must stay false")
        default:
            properties[key] = value
        }
    }

    /// Properties for a consumer: manual commits only, cooperative-sticky assignment.
    public func consumerProperties() -> [(String, String)] {
        var list = common()
        list += [
            ("group.id", groupId),
            ("auto.offset.reset", autoOffsetReset.rawValue),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.partition.eof", "false"),
        ]
        return merged(list)
    }

    /// Properties for a producer (dead-letter topic, test and benchmark fillers).
    public func producerProperties() -> [(String, String)] {
        var list = common()
        list += [("enable.idempotence", "false"), ("linger.ms", "5")]
        return merged(list, excluding: Self.consumerOnly)
    }

    private func common() -> [(String, String)] {
        [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientId),
            ("statistics.interval.ms", String(statisticsIntervalMs)),
        ]
    }

    /// Typed values, then pass-through properties (which win), without duplicates.
    private func merged(_ typed: [(String, String)], excluding: Set<String> = []) -> [(String, String)] {
        var result = typed.filter { properties[$0.0] == nil }
        for key in properties.keys.sorted() where !excluding.contains(key) { result.append((key, properties[key]!)) }
        return result
    }

    static let consumerOnly: Set<String> = [
        "group.id", "auto.offset.reset", "enable.auto.commit", "enable.auto.offset.store",
        "partition.assignment.strategy", "enable.partition.eof", "session.timeout.ms", "max.poll.interval.ms",
        "fetch.max.bytes", "fetch.min.bytes", "fetch.wait.max.ms", "queued.max.messages.kbytes",
        "queued.min.messages", "max.partition.fetch.bytes", "group.instance.id", "heartbeat.interval.ms",
        "auto.commit.interval.ms", "isolation.level", "check.crcs",
    ]
}

/// A configuration value that cannot be used, naming the field and the value.
public struct KafkaConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let field: String
    public let value: String
    public let detail: String

    public init(field: String, value: String, detail: String) {
        self.field = field
        self.value = value
        self.detail = detail
    }

    public var description: String { "Kafka configuration: '\(field)' = \"\(value)\": \(detail)" }
}
