import Kafka
import SyncModel

/// The decoder reads Kafka messages directly: `KafkaMessage` has every field `EventMessage` asks for.
extension KafkaMessage: EventMessage {}
