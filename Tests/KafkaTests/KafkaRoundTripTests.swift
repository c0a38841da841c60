import Kafka
import KafkaMock
import Synchronization
import TestSupport
import Testing

@Suite struct KafkaRoundTripTests {
    @Test func producedRecordsArriveWithKeysHeadersTimestampsAndTombstones() async throws {
        try await withMockCluster { cluster in
            try cluster.createTopic("t", partitions: 2)
            let producer = try KafkaProducer(configuration: configuration(cluster))
            try await producer.send(
                (0..<20).map { i in
                    KafkaProducerRecord(
                        topic: "t", partition: Int32(i % 2), key: bytes("k\(i)"), value: i == 7 ? nil : bytes("v\(i)"),
                        headers: [KafkaHeader(name: "h", text: "x\(i)"), KafkaHeader(name: "empty", value: nil)],
                        timestampMillis: 1_700_000_000_000 + Int64(i))
                })
            try await producer.flush()
            #expect(producer.deliveries.delivered == 20)
            await producer.close()

            let consumer = try KafkaConsumer(configuration: configuration(cluster))
            try await consumer.assign([.init(topic: "t", partition: 0), .init(topic: "t", partition: 1)], from: .beginning)
            let messages = await collect(consumer, count: 20)
            await consumer.close()
            #expect(messages.count == 20)
            let byKey = Dictionary(uniqueKeysWithValues: messages.map { (String(decoding: $0.key ?? [], as: UTF8.self), $0) })
            let m7 = try #require(byKey["k7"])
            #expect(m7.value == nil)
            let m3 = try #require(byKey["k3"])
            #expect(m3.value == bytes("v3"))
            #expect(m3.partition == 1)
            #expect(m3.timestampMillis == 1_700_000_000_003)
            #expect(m3.headers.first { $0.name == "h" }?.text == "x3")
            #expect(m3.headers.contains { $0.name == "empty" && $0.value == nil })
            // Per-partition order is preserved.
            for p: Int32 in [0, 1] {
                let offsets = messages.filter { $0.partition == p }.map(\.offset)
                #expect(offsets == offsets.sorted())
            }
        }
    }

    @Test func committedOffsetsAreWhereAManualAssignmentResumes() async throws {
        try await withMockCluster { cluster in
            try cluster.createTopic("c", partitions: 1)
            let producer = try KafkaProducer(configuration: configuration(cluster))
            try await producer.send((0..<10).map { i in KafkaProducerRecord(topic: "c", partition: 0, value: bytes("\(i)")) })
            try await producer.flush()
            await producer.close()

            let config = configuration(cluster, group: "resume")
            let tp = TopicPartition(topic: "c", partition: 0)
            let first = try KafkaConsumer(configuration: config)
            try await first.assign([tp])
            let read = await collect(first, count: 10)
            #expect(read.count == 10)
            try await first.commit([tp: 6])
            #expect(try await first.committed([tp]) == [tp: 6])
            await first.close()

            let second = try KafkaConsumer(configuration: config)
            try await second.assign([tp])
            let rest = await collect(second, count: 4)
            await second.close()
            #expect(rest.map(\.offset) == [6, 7, 8, 9])
        }
    }

    @Test func watermarksAreTheLogBoundsAndFailWhileTheBrokerIsDown() async throws {
        try await withMockCluster { cluster in
            try cluster.createTopic("w", partitions: 2)
            let producer = try KafkaProducer(configuration: configuration(cluster))
            try await producer.send((0..<7).map { i in KafkaProducerRecord(topic: "w", partition: Int32(i % 2), value: bytes("\(i)")) })
            try await producer.flush()
            await producer.close()

            // A consumer that never joins nor assigns can still ask for the bounds.
            let consumer = try KafkaConsumer(configuration: configuration(cluster))
            let p0 = TopicPartition(topic: "w", partition: 0)
            let p1 = TopicPartition(topic: "w", partition: 1)
            let marks = try await consumer.watermarks([p0, p1])
            #expect(marks == [p0: KafkaWatermarks(low: 0, high: 4), p1: KafkaWatermarks(low: 0, high: 3)])
            // While the leader is away the call fails (its timeout) instead of blocking: it returns, with an error.
            try cluster.setBrokerDown()
            await #expect(throws: KafkaError.self) { try await consumer.watermarks([p0], timeout: .milliseconds(500)) }
            try cluster.setBrokerUp()
            var again: [TopicPartition: KafkaWatermarks]?
            for _ in 0..<50 where again == nil {
                again = try? await consumer.watermarks([p1], timeout: .seconds(1))
                if again == nil { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(again == [p1: KafkaWatermarks(low: 0, high: 3)])
            await consumer.close()
        }
    }

    @Test func statisticsReportBytesAndLag() async throws {
        try await withMockCluster { cluster in
            try cluster.createTopic("s", partitions: 1)
            let producer = try KafkaProducer(configuration: configuration(cluster))
            try await producer.send((0..<50).map { i in KafkaProducerRecord(topic: "s", partition: 0, value: bytes("message \(i)")) })
            try await producer.flush()
            await producer.close()

            let seen = StatisticsBox()
            var config = configuration(cluster)
            config.statisticsIntervalMs = 100
            let consumer = try KafkaConsumer(configuration: config, onStatistics: { seen.set($0) })
            try await consumer.assign([.init(topic: "s", partition: 0)], from: .beginning)
            _ = await collect(consumer, count: 50)
            var stats: KafkaStatistics?
            for _ in 0..<100 {
                stats = seen.get()
                if let s = stats, s.rxBytes > 0, s.consumerLag[.init(topic: "s", partition: 0)] != nil { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            await consumer.close()
            let s = try #require(stats)
            #expect(s.rxBytes > 0)
            #expect(s.consumerLag[.init(topic: "s", partition: 0)] != nil)
        }
    }
}

final class StatisticsBox: Sendable {
    private let value = Mutex<KafkaStatistics?>(nil)
    func set(_ s: KafkaStatistics) { value.withLock { $0 = s } }
    func get() -> KafkaStatistics? { value.withLock { $0 } }
}
