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

    /// Kafka Connect's error-context headers (`errors.deadletterqueue.context.headers.enable=true`), so
    /// the DLQ tooling teams already run on a sink's dead-letter topic reads PlantSync's too.
    public enum Connect {
        public static let topic = "__connect.errors.topic"
        public static let partition = "__connect.errors.partition"
        public static let offset = "__connect.errors.offset"
        public static let connectorName = "__connect.errors.connector.name"
        public static let taskID = "__connect.errors.task.id"
        public static let stage = "__connect.errors.stage"
        public static let exceptionClass = "__connect.errors.exception.class.name"
        public static let exceptionMessage = "__connect.errors.exception.message"
        /// What StreamSync names itself as in `connector.name`.
        public static let connector = "plantsync-streamsync"
    }

    public static func record(for message: KafkaMessage, error: EventDecodingError, topic: String) -> KafkaProducerRecord {
        var headers = message.headers
        headers.append(KafkaHeader(name: kindHeader, text: error.kind.rawValue))
        if let field = error.field { headers.append(KafkaHeader(name: fieldHeader, text: field)) }
        if let value = error.value { headers.append(KafkaHeader(name: valueHeader, text: String(value.prefix(200)))) }
        headers.append(KafkaHeader(name: detailHeader, text: error.detail))
        headers.append(KafkaHeader(name: topicHeader, text: message.topic))
        headers.append(KafkaHeader(name: partitionHeader, text: String(message.partition)))
        headers.append(KafkaHeader(name: offsetHeader, text: String(message.offset)))
        headers.append(KafkaHeader(name: Connect.topic, text: message.topic))
        headers.append(KafkaHeader(name: Connect.partition, text: String(message.partition)))
        headers.append(KafkaHeader(name: Connect.offset, text: String(message.offset)))
        headers.append(KafkaHeader(name: Connect.connectorName, text: Connect.connector))
        headers.append(KafkaHeader(name: Connect.taskID, text: "0"))
        // Decoding a record's value is what Connect's value converter does.
        headers.append(KafkaHeader(name: Connect.stage, text: "VALUE_CONVERTER"))
        headers.append(KafkaHeader(name: Connect.exceptionClass, text: "PlantSync.EventDecodingError.\(error.kind.rawValue)"))
        headers.append(KafkaHeader(name: Connect.exceptionMessage, text: String("\(error)".prefix(1000))))
        return KafkaProducerRecord(
            topic: topic, key: message.key, value: message.value, headers: headers, timestampMillis: message.timestampMillis)
    }
}
