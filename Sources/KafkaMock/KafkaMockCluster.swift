import CRdKafkaMock
import Synchronization

/// librdkafka's in-process mock Kafka cluster: a real Kafka protocol endpoint on loopback, for tests,
/// benchmarks and demos. Any Kafka client can connect to `bootstrapServers`.
///
/// The cluster lives inside a host producer handle, which must outlive it: `shutdown()` (or deinit)
/// destroys the cluster first, then the host.
public final class KafkaMockCluster: @unchecked Sendable {
    // @unchecked Sendable is safe: the mock API calls are thread-safe (each posts an operation to the
    // cluster's own thread and waits for it); `destroyed` (a Mutex) guards against use after shutdown.
    private let host: OpaquePointer
    private let cluster: OpaquePointer
    private let destroyed = Mutex(false)

    /// The `host:port,…` list of the mock brokers.
    public let bootstrapServers: String
    /// Broker ids are 1…brokerCount.
    public let brokerCount: Int

    @available(*, noasync, message: "starts librdkafka threads and waits for them: run it on a BlockingExecutor")
    public init(brokers: Int = 1) throws(KafkaMockError) {
        guard (1...16).contains(brokers) else { throw KafkaMockError("brokers must be within 1…16, got \(brokers)") }
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        // The host handle never talks to a broker: keep it quiet.
        _ = rd_kafka_conf_set(conf, "log_level", "0", &errstr, errstr.count)
        guard let host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaMockError("cannot create the host client: \(Self.text(errstr))")
        }
        guard let cluster = rd_kafka_mock_cluster_new(host, Int32(brokers)) else {
            rd_kafka_destroy(host)
            throw KafkaMockError("cannot create a mock cluster of \(brokers) brokers")
        }
        self.host = host
        self.cluster = cluster
        self.brokerCount = brokers
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit { shutdown() }

    /// Destroys the cluster and its host (idempotent). Clients still connected see brokers go away.
    @available(*, noasync, message: "joins librdkafka threads: run it on a BlockingExecutor")
    public func shutdown() {
        let first = destroyed.withLock { d -> Bool in
            defer { d = true }
            return !d
        }
        guard first else { return }
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }

    /// Creates a topic (before any client auto-creates it with the default partition count).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaMockError) {
        try check("create topic \(name)") { rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor)) }
    }

    /// Makes a broker (or all with -1) refuse and drop connections, until `setBrokerUp`.
    public func setBrokerDown(_ id: Int32 = -1) throws(KafkaMockError) {
        try check("set broker \(id) down") { rd_kafka_mock_broker_set_down(cluster, id) }
    }

    public func setBrokerUp(_ id: Int32 = -1) throws(KafkaMockError) {
        try check("set broker \(id) up") { rd_kafka_mock_broker_set_up(cluster, id) }
    }

    /// Adds round-trip delay to a broker (or all with -1).
    public func setRoundTripTime(_ milliseconds: Int, broker id: Int32 = -1) throws(KafkaMockError) {
        try check("set broker \(id) RTT") { rd_kafka_mock_broker_set_rtt(cluster, id, Int32(milliseconds)) }
    }

    /// The next `errors.count` requests of Kafka API `apiKey` (e.g. 0 Produce, 1 Fetch, 8 OffsetCommit)
    /// fail with these librdkafka error codes, in order.
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        guard !destroyed.withLock({ $0 }) else { return }
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        codes.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, apiKey, codes.count, $0.baseAddress) }
    }

    /// Moves a partition's leadership to another broker.
    public func setPartitionLeader(topic: String, partition: Int32, broker id: Int32) throws(KafkaMockError) {
        try check("set leader of \(topic)[\(partition)]") { rd_kafka_mock_partition_set_leader(cluster, topic, partition, id) }
    }

    private func check(_ operation: String, _ call: () -> rd_kafka_resp_err_t) throws(KafkaMockError) {
        guard !destroyed.withLock({ $0 }) else { throw KafkaMockError("\(operation): the cluster is shut down") }
        let err = call()
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaMockError("\(operation): \(String(cString: rd_kafka_err2str(err)))")
        }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Well-known librdkafka error codes for `pushRequestErrors`.
public enum KafkaMockErrorCode {
    public static let notLeaderForPartition: Int32 = 6
    public static let requestTimedOut: Int32 = 7
    public static let notCoordinator: Int32 = 16
    public static let rebalanceInProgress: Int32 = 27
}

public struct KafkaMockError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "Kafka mock cluster: " + description }
}
