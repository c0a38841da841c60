import Foundation

/// What PlantSync reads from librdkafka's statistics JSON (`statistics.interval.ms`).
public struct KafkaStatistics: Sendable, Hashable {
    /// Bytes received from / sent to all brokers since the client started (`rx_bytes`, `tx_bytes`).
    public var rxBytes: Int64
    public var txBytes: Int64
    /// Messages consumed / produced since the client started (`rxmsgs`, `txmsgs`).
    public var rxMessages: Int64
    public var txMessages: Int64
    /// Consumer lag per assigned partition (`consumer_lag`: high watermark − committed offset; before the
    /// first commit, high watermark − read position); partitions whose lag is unknown are absent.
    public var consumerLag: [TopicPartition: Int64]

    public init(
        rxBytes: Int64 = 0, txBytes: Int64 = 0, rxMessages: Int64 = 0, txMessages: Int64 = 0, consumerLag: [TopicPartition: Int64] = [:]
    ) {
        self.rxBytes = rxBytes
        self.txBytes = txBytes
        self.rxMessages = rxMessages
        self.txMessages = txMessages
        self.consumerLag = consumerLag
    }

    /// Parses librdkafka's statistics JSON; nil if it is not the expected shape.
    public init?(json: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else { return nil }
        func int(_ any: Any?) -> Int64? { (any as? NSNumber)?.int64Value }
        rxBytes = int(object["rx_bytes"]) ?? 0
        txBytes = int(object["tx_bytes"]) ?? 0
        rxMessages = int(object["rxmsgs"]) ?? 0
        txMessages = int(object["txmsgs"]) ?? 0
        consumerLag = [:]
        for (topic, value) in (object["topics"] as? [String: Any]) ?? [:] {
            guard let partitions = (value as? [String: Any])?["partitions"] as? [String: Any] else { continue }
            for (key, p) in partitions {
                guard let partition = Int32(key), partition >= 0, let fields = p as? [String: Any] else { continue }
                var lag = int(fields["consumer_lag"]) ?? -1
                // Before the first commit librdkafka reports -1: fall back to what was read so far.
                if lag < 0, let high = int(fields["hi_offset"]), let read = int(fields["app_offset"]), high >= 0, read >= 0 {
                    lag = max(0, high - read)
                }
                if lag >= 0 { consumerLag[TopicPartition(topic: topic, partition: partition)] = lag }
            }
        }
    }
}
