import Kafka
import SyncModel

/// Everything the pipeline needs to know besides its collaborators. The defaults here are the
/// documented ones; the command line reads its defaults from this type.
public struct StreamSyncSettings: Sendable {
    /// Topics to subscribe to (LIMS's: one per plant, named after it).
    public var topics: [String]
    /// A regex subscription besides `topics` (librdkafka's `^…`, `KafkaTopicPattern`): topics created
    /// later that match it — a plant LIMS adds — are read without a restart, from the next metadata
    /// refresh (`topic.metadata.refresh.interval.ms`).
    public var topicPattern: String?
    public var format: EventDecoder.Format
    /// Topic → plant for topics not named after their plant; any other topic's plant is its last
    /// dot-separated segment (`EventDecoder.topicPlants`).
    public var topicPlants: [String: Plant]
    /// A batch is applied when it holds this many messages…
    public var batchMaxSize: Int
    /// …or when its oldest message has waited this long.
    public var batchMaxWait: Duration
    /// …or when it holds this many bytes of message values.
    public var batchMaxBytes: Int
    /// Where poison messages go.
    public var deadLetterTopic: String
    /// Store retry backoff: first delay, cap.
    public var retryInitialDelay: Duration
    public var retryMaxDelay: Duration
    /// Largest accepted message value.
    public var maxValueBytes: Int
    /// Store connections the runner opens for applying: up to this many batches are in the database at
    /// once (the version rule makes their order irrelevant; offsets are still committed in order).
    public var applyConnections: Int
    /// Debezium's unavailable-value placeholder (the connector's `unavailable.value.placeholder`): in a
    /// Debezium `after` it means "not carried", and the stored value stays (docs/design.md §2).
    public var debeziumUnavailablePlaceholder: UnavailableValuePlaceholder
    /// The producer's timestamp precision (`milliseconds` beside a MongoDB producer, whose BSON dates
    /// keep milliseconds), so that events and BatchSync's reads give a record one version.
    public var timestampPrecision: TimestampPrecision

    public init(
        topics: [String] = Plant.lims.map(\.rawValue), topicPattern: String? = nil, format: EventDecoder.Format = .auto,
        topicPlants: [String: Plant] = [:], batchMaxSize: Int = 2000,
        batchMaxWait: Duration = .milliseconds(200), batchMaxBytes: Int = 32 << 20,
        deadLetterTopic: String = "plantsync.deadletter", retryInitialDelay: Duration = .milliseconds(100),
        retryMaxDelay: Duration = .seconds(10), maxValueBytes: Int = 4 << 20, applyConnections: Int = 2,
        debeziumUnavailablePlaceholder: UnavailableValuePlaceholder = EventDecoder.defaultUnavailablePlaceholder,
        timestampPrecision: TimestampPrecision = .microseconds
    ) {
        self.topics = topics
        self.topicPattern = topicPattern
        self.format = format
        self.topicPlants = topicPlants
        self.batchMaxSize = batchMaxSize
        self.batchMaxWait = batchMaxWait
        self.batchMaxBytes = batchMaxBytes
        self.deadLetterTopic = deadLetterTopic
        self.retryInitialDelay = retryInitialDelay
        self.retryMaxDelay = retryMaxDelay
        self.maxValueBytes = maxValueBytes
        self.applyConnections = applyConnections
        self.debeziumUnavailablePlaceholder = debeziumUnavailablePlaceholder
        self.timestampPrecision = timestampPrecision
    }

    /// The store retry backoff (applies, and the wait for the database at start-up).
    public var backoff: Backoff { Backoff(initial: retryInitialDelay, cap: retryMaxDelay) }

    public var decoder: EventDecoder {
        EventDecoder(
            format: format, topicPlants: topicPlants, maxValueBytes: maxValueBytes,
            unavailablePlaceholder: debeziumUnavailablePlaceholder, timestampPrecision: timestampPrecision)
    }

    /// What the consumer subscribes to: the topics, then the pattern.
    public var subscription: [String] { topics + (topicPattern.map { [$0] } ?? []) }

    /// Checks every value; the error names the command-line flag that sets it.
    public func validate() throws(StreamSyncError) {
        guard !topics.contains(where: \.isEmpty), !topics.isEmpty || topicPattern != nil else {
            throw .configuration(
                field: "--topics", value: topics.joined(separator: ","), detail: "name at least one topic (or a --topic-pattern)")
        }
        if let bad = topics.first(where: { $0.hasPrefix("^") }) {
            throw .configuration(field: "--topics", value: bad, detail: "a pattern goes in --topic-pattern")
        }
        // A LIMS event names its plant by its topic alone: a topic that names none would dead-letter
        // every message. (A Debezium event may name it by its source collection or table instead.)
        if format == .lims {
            for topic in topics {
                do throws(EventDecodingError) {
                    _ = try decoder.plant(forTopic: topic)
                } catch {
                    throw .configuration(field: "--topics", value: topic, detail: error.detail)
                }
            }
        }
        var pattern: KafkaTopicPattern?
        if let topicPattern {
            do throws(KafkaTopicPattern.Invalid) {
                pattern = try KafkaTopicPattern(topicPattern)
            } catch {
                throw .configuration(field: "--topic-pattern", value: topicPattern, detail: error.reason)
            }
        }
        guard (1...100_000).contains(batchMaxSize) else {
            throw .configuration(field: "--batch-size", value: String(batchMaxSize), detail: "must be within 1…100000")
        }
        guard (1...16).contains(applyConnections) else {
            throw .configuration(field: "--apply-connections", value: String(applyConnections), detail: "must be within 1…16")
        }
        guard batchMaxWait >= .milliseconds(1), batchMaxWait <= .seconds(600) else {
            throw .configuration(field: "--batch-wait-ms", value: String(batchMaxWait.milliseconds), detail: "must be within 1…600000")
        }
        guard retryMaxDelay >= .milliseconds(100), retryMaxDelay >= retryInitialDelay else {
            throw .configuration(field: "--retry-max-ms", value: String(retryMaxDelay.milliseconds), detail: "must be at least 100")
        }
        guard !deadLetterTopic.isEmpty, !topics.contains(deadLetterTopic) else {
            throw .configuration(
                field: "--dead-letter-topic", value: deadLetterTopic, detail: "must be a topic that is not consumed")
        }
        // Consuming its own dead letters would send each back to the dead-letter topic, forever.
        if let pattern, pattern.matches(deadLetterTopic) {
            throw .configuration(
                field: "--topic-pattern", value: pattern.text,
                detail: "matches the dead-letter topic '\(deadLetterTopic)' (anchor it, e.g. '^[a-z][a-z0-9_]*$')")
        }
    }
}

/// Where StreamSync keeps its state and serves HTTP, and how long it may drain. Defaults are the
/// documented ones; the command line reads its defaults from this type.
public struct StreamSyncServerSettings: Sendable {
    /// Consumer database URI (`postgresql://…` or `mongodb://…`).
    public var storeURI: String
    /// PostgreSQL schema holding the consumer tables.
    public var schema: String
    public var httpHost: String
    public var httpPort: Int
    /// How long a graceful shutdown may take before the services are cancelled.
    public var drainDeadline: Duration
    /// Consumer tombstones older than this are purged, at start and then every `purgeInterval`.
    public var tombstoneRetention: TombstoneRetention
    public var purgeInterval: Duration
    /// How long start-up waits for an unreachable consumer database (transient errors) before it gives up.
    public var storeStartupWait: Duration
    /// How long one consumer-database call may run before it is interrupted and retried as a transient
    /// error (a connection gone silent: a failover, a partition; docs/design.md §4).
    public var dbTimeout: Duration

    public init(
        storeURI: String = "", schema: String = "plantsync", httpHost: String = "0.0.0.0", httpPort: Int = 8080,
        drainDeadline: Duration = .seconds(25), tombstoneRetention: TombstoneRetention = .default,
        purgeInterval: Duration = .seconds(3600), storeStartupWait: Duration = .seconds(120),
        dbTimeout: Duration = StoreCallTimeout.stream
    ) {
        self.dbTimeout = dbTimeout
        self.storeURI = storeURI
        self.schema = schema
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.drainDeadline = drainDeadline
        self.tombstoneRetention = tombstoneRetention
        self.purgeInterval = purgeInterval
        self.storeStartupWait = storeStartupWait
    }

    /// Checks every value; the error names the command-line flag that sets it.
    public func validate() throws(StreamSyncError) {
        guard !storeURI.isEmpty else {
            throw .configuration(field: "--store-uri", value: "", detail: "required (or set PLANTSYNC_STORE_URI)")
        }
        guard !schema.isEmpty else { throw .configuration(field: "--schema", value: schema, detail: "must not be empty") }
        guard (1...65535).contains(httpPort) else {
            throw .configuration(field: "--http-port", value: String(httpPort), detail: "must be within 1…65535")
        }
        guard storeStartupWait >= .zero else {
            throw .configuration(
                field: "--store-wait-seconds", value: String(storeStartupWait.components.seconds), detail: "must not be negative")
        }
        guard dbTimeout > .zero else {
            throw .configuration(field: "--db-timeout", value: String(dbTimeout.components.seconds), detail: "must be positive")
        }
        guard drainDeadline > .zero else {
            throw .configuration(field: "--drain-timeout", value: String(drainDeadline.components.seconds), detail: "must be positive")
        }
    }
}

/// Parses the `--debezium-unavailable-placeholder` flag: any non-empty string.
public func parseUnavailablePlaceholder(_ text: String) throws(StreamSyncError) -> UnavailableValuePlaceholder {
    guard let placeholder = UnavailableValuePlaceholder(text) else {
        throw StreamSyncError.configuration(
            field: "--debezium-unavailable-placeholder", value: text,
            detail: "must not be empty (the connector's unavailable.value.placeholder)")
    }
    return placeholder
}

/// Parses `topic=plant[,topic=plant…]` (the `--topic-plant` flag).
public func parseTopicPlants(_ text: String) throws(StreamSyncError) -> [String: Plant] {
    var result: [String: Plant] = [:]
    for item in text.split(separator: ",") where !item.isEmpty {
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw StreamSyncError.configuration(field: "--topic-plant", value: String(item), detail: "expected topic=plant")
        }
        do throws(PlantNameError) {
            result[parts[0]] = try Plant(validating: parts[1], field: "--topic-plant")
        } catch {
            throw StreamSyncError.configuration(field: "--topic-plant", value: String(item), detail: "'\(parts[1])': \(error.reason)")
        }
    }
    return result
}
