import Kafka
import KafkaMock

/// Runs `body` with a fresh in-process mock Kafka cluster, shut down afterwards.
public func withMockCluster<T>(brokers: Int = 1, _ body: (KafkaMockCluster) async throws -> T) async throws -> T {
    let cluster = try KafkaMockCluster(brokers: brokers)
    defer { cluster.shutdown() }
    return try await body(cluster)
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
