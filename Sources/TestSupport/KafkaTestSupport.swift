import Kafka
import KafkaMock

/// Runs `body` with a fresh in-process mock Kafka cluster, shut down afterwards.
public func withMockCluster<T>(brokers: Int = 1, _ body: (KafkaMockCluster) async throws -> T) async throws -> T {
    let cluster = try await offPool("plantsync.tests.mock-cluster") { try KafkaMockCluster(brokers: brokers) }
    return try await withCleanup { try await body(cluster) } cleanup: {
        _ = try? await offPool("plantsync.tests.mock-cluster") { cluster.shutdown() }
    }
}

/// A client configuration for `cluster`, in a fresh consumer group unless `group` is given; librdkafka's
/// own log is kept to errors (`logLevel` 3) or critical only (2).
public func mockKafkaConfiguration(
    _ cluster: KafkaMockCluster, group: String = uniqueName("g-"), clientId: String, logLevel: Int = 3
) -> KafkaConfiguration {
    var configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, groupId: group, clientId: clientId)
    configuration.properties["log_level"] = String(logLevel)
    return configuration
}
