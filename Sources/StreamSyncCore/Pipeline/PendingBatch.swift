import Kafka
import SyncModel

/// Messages read but not yet applied and committed.
struct PendingBatch {
    var changes: [Change] = []
    /// Approximate bytes the changes put on the wire to the store.
    var changeBytes = 0
    /// Kafka record timestamps (ms) of the changes, for the freshness histogram.
    var timestamps: [Int64] = []
    var deadLetters: [KafkaProducerRecord] = []
    /// The gaps the dead letters leave (docs/design.md §8), recorded before the batch is committed.
    var gaps: [StreamGap] = []
    /// Per partition, the offset after the last message of the batch: what to commit once applied.
    var nextOffsets: [TopicPartition: Int64] = [:]
    var messageCount = 0
    var valueBytes = 0
    var openedAt: ContinuousClock.Instant?

    var isEmpty: Bool { messageCount == 0 }

    /// The keys of the batch's changes.
    func touches(_ key: RecordKey) -> Bool { changes.contains { $0.key == key } }

    /// A message that changes nothing in the store (a patch of a deleted record), or whose change cannot
    /// be applied and is left to healing (`gap`, recorded before the batch commits): its offset is
    /// committed with the batch.
    mutating func add(_ message: KafkaMessage, leaving gap: StreamGap?) {
        count(message)
        if let gap { gaps.append(gap) }
    }

    mutating func add(
        _ message: KafkaMessage, outcome: Result<Change, EventDecodingError>, deadLetterTopic: String, gap: StreamGap? = nil
    ) {
        count(message)
        switch outcome {
        case .success(let change):
            changes.append(change)
            changeBytes += PayloadSize.of(change)
            if let ts = message.timestampMillis { timestamps.append(ts) }
        case .failure(let error):
            deadLetters.append(DeadLetter.record(for: message, error: error, topic: deadLetterTopic))
            if let gap { gaps.append(gap) }
        }
    }

    private mutating func count(_ message: KafkaMessage) {
        if openedAt == nil { openedAt = .now }
        messageCount += 1
        valueBytes += message.value?.count ?? 0
        nextOffsets[message.topicPartition] = max(nextOffsets[message.topicPartition] ?? 0, message.offset + 1)
    }
}
