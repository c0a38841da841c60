import Foundation
import Kafka
import KafkaMock
import LibPQ
import Logging
import PostgresStore
import StreamSyncCore
import SyncModel
import TestSupport
import Testing

/// A fresh PostgreSQL store in its own schema, dropped afterwards.
func withStore<T>(_ body: (PostgresStore) async throws -> T) async throws -> T { try await withPostgresStore(body) }

/// A fresh mock cluster, shut down afterwards.
func withCluster<T>(_ body: (KafkaMockCluster) async throws -> T) async throws -> T { try await withMockCluster(body) }

func kafkaConfig(_ cluster: KafkaMockCluster, group: String = uniqueName("g-")) -> KafkaConfiguration {
    mockKafkaConfiguration(cluster, group: group, clientId: "streamsync-tests", logLevel: 2)
}

var quietLogger: Logger {
    var logger = Logger(label: "streamsync-tests")
    logger.logLevel = .error
    return logger
}

/// A running pipeline and the task that runs it.
struct RunningPipeline {
    let pipeline: StreamPipeline
    let task: Task<Void, any Error>

    /// Graceful stop: drain, commit, leave.
    func stop() async throws {
        pipeline.stop()
        try await task.value
    }
}

func startPipeline(
    cluster: KafkaMockCluster, store: any ChangeApplier, additionalStores: [any ChangeApplier] = [], source: EventSubscription,
    group: String = uniqueName("g-"),
    settings: StreamSyncSettings = StreamSyncSettings(batchMaxSize: 50, batchMaxWait: .milliseconds(50)),
    metrics: StreamMetrics = StreamMetrics(), properties: [String: String] = [:], gapDetection: GapDetection? = nil,
    afterApply: (@Sendable () async throws -> Void)? = nil
) throws -> RunningPipeline {
    var config = kafkaConfig(cluster, group: group)
    config.properties.merge(properties) { $1 }
    // With gap detection the consumer reports what it cannot fetch, as StreamSync runs it.
    if gapDetection != nil { config.autoOffsetReset = .error }
    let consumer = try KafkaConsumer(configuration: config, logger: quietLogger)
    let producer = try KafkaProducer(configuration: config, logger: quietLogger)
    let pipeline = StreamPipeline(
        settings: settings, events: consumer, deadLetters: producer, stores: [store] + additionalStores,
        subscription: source, metrics: metrics,
        logger: quietLogger, gapDetection: gapDetection, afterApply: afterApply)
    return RunningPipeline(pipeline: pipeline, task: Task { try await pipeline.run() })
}

/// Polls `condition` until true or `timeout` (no timing assertion: only a generous upper bound).
@discardableResult
func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

func partitions(_ topic: String, _ count: Int) -> [TopicPartition] {
    (0..<count).map { TopicPartition(topic: topic, partition: Int32($0)) }
}

// MARK: Events

/// A deterministic LIMS record: version grows with `revision`.
func record(_ plant: Plant, _ id: Int64, revision: Int = 0, dataBytes: Int = 64) -> ImageRecord {
    let created = Timestamp(microsecondsSinceEpoch: 1_696_779_589_000_000 + id * 1_000)
    return ImageRecord(
        plant: plant, id: id, cameraId: id % 7, data: (0..<dataBytes).map { UInt8(truncatingIfNeeded: Int(id) &* 31 &+ $0) },
        latitude: 52.0 + Double(id % 10) / 100, longitude: 21.0, disease: revision > 0 ? "Healthy" : nil,
        percentage: revision > 0 ? 0.5 + Double(revision % 5) / 10 : nil, createdAt: created,
        updatedAt: revision > 0 ? Timestamp(microsecondsSinceEpoch: created.microsecondsSinceEpoch + Int64(revision) * 1_000_000) : nil,
        isActive: revision % 2 == 0)
}

func limsValue(_ record: ImageRecord) -> [UInt8] { Array(RecordJSON.encode(record).utf8) }

/// Produces records (LIMS format) to their plant topic; `partition(i)` chooses the partition.
func produce(
    _ records: [ImageRecord], cluster: KafkaMockCluster, partitions: Int32 = 2, topic: ((Plant) -> String)? = nil
) async throws {
    let producer = try KafkaProducer(configuration: kafkaConfig(cluster), logger: quietLogger)
    try await producer.send(
        records.enumerated().map { i, r in
            KafkaProducerRecord(
                topic: topic?(r.plant) ?? r.plant.rawValue, partition: Int32(i) % partitions, key: Array(String(r.id).utf8),
                value: limsValue(r))
        })
    try await producer.flush()
    await producer.close()
}

func send(_ records: [KafkaProducerRecord], cluster: KafkaMockCluster) async throws {
    let producer = try KafkaProducer(configuration: kafkaConfig(cluster), logger: quietLogger)
    try await producer.send(records)
    try await producer.flush()
    await producer.close()
}

/// True when the store holds exactly what `changes` come to (`KeyWinners.resultingRecord`: the record
/// of the greatest version with the bytes of the greatest version that carried bytes; deletes absent).
func storeMatches(_ store: any RecordReader, _ changes: [Change]) async throws -> Bool {
    let reduced = Change.reduce(changes)
    for (key, winners) in reduced where try await store.record(key) != winners.resultingRecord { return false }
    var live: [Plant: Int] = [:]
    for winners in reduced.values where winners.resultingRecord != nil { live[winners.key.plant, default: 0] += 1 }
    for plant in Plant.lims where try await store.count(of: plant) != live[plant, default: 0] { return false }
    return true
}

/// Reads every message of `topic` (assigned manually, from the beginning).
func readAll(_ topic: String, partitions count: Int, cluster: KafkaMockCluster, expecting: Int) async throws -> [KafkaMessage] {
    let consumer = try KafkaConsumer(configuration: kafkaConfig(cluster), logger: quietLogger)
    try await consumer.assign(partitions(topic, count), from: .beginning)
    var messages: [KafkaMessage] = []
    let deadline = ContinuousClock.now + .seconds(30)
    while messages.count < expecting, ContinuousClock.now < deadline {
        if case .message(let m)? = await consumer.events.next(within: .milliseconds(200)) { messages.append(m) }
    }
    await consumer.close()
    return messages
}
