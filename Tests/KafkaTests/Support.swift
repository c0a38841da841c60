import Foundation
import Kafka
import KafkaMock
import TestSupport

func configuration(_ cluster: KafkaMockCluster, group: String = uniqueName("g-")) -> KafkaConfiguration {
    mockKafkaConfiguration(cluster, group: group, clientId: "kafka-tests")
}

/// Collects `count` messages (ignoring other events), giving up after `timeout`.
func collect(_ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30)) async -> [KafkaMessage] {
    var messages: [KafkaMessage] = []
    let deadline = ContinuousClock.now + timeout
    while messages.count < count, ContinuousClock.now < deadline {
        switch await consumer.events.next(within: .milliseconds(200)) {
        case .message(let m)?: messages.append(m)
        case .partitionsRevoked(let r)?: r.acknowledge()
        default: break
        }
    }
    return messages
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
