import Foundation
import Kafka
import KafkaMock

/// Runs `body` with a fresh mock cluster, shut down afterwards.
func withMockCluster<T>(brokers: Int = 1, _ body: (KafkaMockCluster) async throws -> T) async throws -> T {
    let cluster = try KafkaMockCluster(brokers: brokers)
    defer { cluster.shutdown() }
    return try await body(cluster)
}

func configuration(_ cluster: KafkaMockCluster, group: String = "g-\(UUID().uuidString.prefix(8))") -> KafkaConfiguration {
    var c = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, groupId: group, clientId: "kafka-tests")
    c.properties["log_level"] = "3"
    return c
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

final class NSLockLike: @unchecked Sendable {
    // @unchecked Sendable is safe: NSLock is thread-safe.
    private let lock = NSLock()
    func with<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}
