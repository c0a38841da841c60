import Kafka
import SyncModel

extension KafkaMessage {
    /// The message as `EventDecoder` takes it.
    public var incoming: IncomingMessage {
        IncomingMessage(
            topic: topic, partition: partition, offset: offset, key: key, value: value, timestampMillis: timestampMillis)
    }
}
