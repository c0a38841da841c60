import SyncModel

/// Everything the pipeline needs to know besides its collaborators. Defaults are the documented ones.
public struct StreamSyncSettings: Sendable {
    /// Topics to subscribe to.
    public var topics: [String]
    public var format: EventDecoder.Format
    /// Topic → plant; topics not listed fall back to their last dot-separated segment.
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

    public init(
        topics: [String] = ["potato", "tomato", "pepper"], format: EventDecoder.Format = .auto,
        topicPlants: [String: Plant] = EventDecoder.defaultTopicPlants, batchMaxSize: Int = 2000,
        batchMaxWait: Duration = .milliseconds(200), batchMaxBytes: Int = 32 << 20,
        deadLetterTopic: String = "plantsync.deadletter", retryInitialDelay: Duration = .milliseconds(100),
        retryMaxDelay: Duration = .seconds(10), maxValueBytes: Int = 4 << 20, applyConnections: Int = 2
    ) {
        self.topics = topics
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
    }

    public var decoder: EventDecoder {
        EventDecoder(format: format, topicPlants: topicPlants, maxValueBytes: maxValueBytes)
    }
}

/// Parses `topic=plant[,topic=plant…]` (the `--topic-plant` flag).
public func parseTopicPlants(_ text: String) throws(StreamSyncError) -> [String: Plant] {
    var result: [String: Plant] = [:]
    for item in text.split(separator: ",") where !item.isEmpty {
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw StreamSyncError.configuration(field: "--topic-plant", value: String(item), detail: "expected topic=plant")
        }
        guard let plant = Plant(name: parts[1]) else {
            throw StreamSyncError.configuration(
                field: "--topic-plant", value: String(item), detail: "unknown plant '\(parts[1])' (potato, tomato or pepper)")
        }
        result[parts[0]] = plant
    }
    return result
}
