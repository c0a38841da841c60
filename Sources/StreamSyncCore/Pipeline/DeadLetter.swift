import Kafka
import SyncModel

/// A poison message bound for the dead-letter topic: the original key, value and headers, plus headers
/// naming the error and where the message came from.
public enum DeadLetter {
    public static let kindHeader = "plantsync.error.kind"
    public static let fieldHeader = "plantsync.error.field"
    public static let valueHeader = "plantsync.error.value"
    public static let detailHeader = "plantsync.error.detail"
    public static let topicHeader = "plantsync.source.topic"
    public static let partitionHeader = "plantsync.source.partition"
    public static let offsetHeader = "plantsync.source.offset"

    public static func record(for message: KafkaMessage, error: EventDecodingError, topic: String) -> KafkaProducerRecord {
        var headers = message.headers
        headers.append(KafkaHeader(name: kindHeader, text: error.kind.rawValue))
        if let field = error.field { headers.append(KafkaHeader(name: fieldHeader, text: field)) }
        if let value = error.value { headers.append(KafkaHeader(name: valueHeader, text: String(value.prefix(200)))) }
        headers.append(KafkaHeader(name: detailHeader, text: error.detail))
        headers.append(KafkaHeader(name: topicHeader, text: message.topic))
        headers.append(KafkaHeader(name: partitionHeader, text: String(message.partition)))
        headers.append(KafkaHeader(name: offsetHeader, text: String(message.offset)))
        return KafkaProducerRecord(
            topic: topic, key: message.key, value: message.value, headers: headers, timestampMillis: message.timestampMillis)
    }
}
