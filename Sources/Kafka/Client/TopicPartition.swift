import CRdKafka

/// One partition of one topic.
public struct TopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// Where a manually assigned partition starts.
public enum KafkaStartOffset: Sendable, Hashable {
    /// The group's committed offset, else `auto.offset.reset`.
    case committed
    case beginning
    case end
    case offset(Int64)

    var raw: Int64 {
        switch self {
        case .committed: return Int64(RD_KAFKA_OFFSET_STORED)
        case .beginning: return Int64(RD_KAFKA_OFFSET_BEGINNING)
        case .end: return Int64(RD_KAFKA_OFFSET_END)
        case .offset(let offset): return offset
        }
    }
}

/// An owned `rd_kafka_topic_partition_list_t`, destroyed on deinit. Internal: never escapes the target.
final class PartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ entries: [(TopicPartition, Int64?)]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))
        for (tp, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)!
            if let offset { element.pointee.offset = offset }
        }
    }

    /// Takes ownership of a list librdkafka returned.
    init(owning pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    static func entries(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [(TopicPartition, Int64, rd_kafka_resp_err_t)] {
        guard let list, let elems = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { i in
            let e = elems[i]
            return (TopicPartition(topic: cString(e.topic), partition: e.partition), e.offset, e.err)
        }
    }

    static func partitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        entries(list).map(\.0)
    }
}

/// A `PartitionList` handed to a block on a dispatch queue.
struct SendableList: @unchecked Sendable {
    // @unchecked Sendable is safe: the list is built before the hand-over and then used by one block
    // at a time (the caller awaits that block).
    let list: PartitionList
    init(_ entries: [(TopicPartition, Int64?)]) { list = PartitionList(entries) }
    var pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t> { list.pointer }
}

/// A librdkafka client handle captured by blocks that run on other threads.
struct ClientPointer: @unchecked Sendable {
    // @unchecked Sendable is safe: librdkafka client handles are thread-safe; the owners (consumer,
    // producer) destroy the handle only after every thread that uses it has finished.
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

/// A partition's log bounds: `low` is the first offset still held (the broker trims older messages),
/// `high` the offset the next produced message gets (the end offset).
public struct KafkaWatermarks: Sendable, Hashable, CustomStringConvertible {
    public let low: Int64
    public let high: Int64

    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }

    public var description: String { "[\(low), \(high))" }
}
