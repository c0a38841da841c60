import Kafka
import KafkaMock
import Synchronization
import TestSupport
import Testing

/// Group membership and flow control (each group join costs ~3 s on librdkafka 2.0.2).
@Suite struct KafkaGroupTests {
    @Test func secondMemberTriggersARevocationTheFirstMustAcknowledge() async throws {
        try await withMockCluster { cluster in
            try cluster.createTopic("g", partitions: 4)
            var config = configuration(cluster, group: "pair")
            config.properties["session.timeout.ms"] = "6000"
            config.properties["heartbeat.interval.ms"] = "500"
            let all = Set((0..<4).map { TopicPartition(topic: "g", partition: Int32($0)) })

            let a = try KafkaConsumer(configuration: config)
            try await a.subscribe(topics: ["g"])
            #expect(await waitForEvent(a) { if case .partitionsAssigned = $0 { return true } else { return false } })
            #expect(a.assignment == all)

            let b = try KafkaConsumer(configuration: config)
            try await b.subscribe(topics: ["g"])
            // A is asked to give partitions up, and holds on to them until it acknowledges.
            let revoked = Mutex<(partitions: [TopicPartition], lost: Bool, heldUntilAck: Bool)>(([], true, false))
            let sawRevocation = await waitForEvent(a) { event in
                guard case .partitionsRevoked(let r) = event else { return false }
                let held = a.assignment.isSuperset(of: r.partitions)
                revoked.withLock { $0 = (r.partitions, r.lost, held) }
                r.acknowledge()
                return true
            }
            #expect(sawRevocation)
            let revocation = revoked.withLock { $0 }
            #expect(!revocation.lost)
            #expect(revocation.heldUntilAck)
            #expect(!revocation.partitions.isEmpty)
            #expect(await waitForEvent(b) { if case .partitionsAssigned = $0 { return true } else { return false } })
            // Keep serving both members (cooperative-sticky may take more than one round).
            let settled = await eventuallyTrue {
                for consumer in [a, b] {
                    while let event = consumer.events.nextIfReady() {
                        if case .partitionsRevoked(let r) = event { r.acknowledge() }
                    }
                }
                return !b.assignment.isEmpty && a.assignment.union(b.assignment) == all && a.assignment.isDisjoint(with: b.assignment)
            }
            #expect(settled)
            #expect(!b.assignment.isEmpty)
            #expect(Set(revocation.partitions).isSubset(of: b.assignment))
            await b.close()
            await a.close()
        }
    }

    @Test func fullBufferPausesFetchingAndLosesNothing() async throws {
        try await withMockCluster { cluster in
            try cluster.createTopic("f", partitions: 1)
            let producer = try KafkaProducer(configuration: configuration(cluster))
            let payload = [UInt8](repeating: 7, count: 1000)
            try await producer.send((0..<300).map { i in KafkaProducerRecord(topic: "f", partition: 0, key: bytes("\(i)"), value: payload) })
            try await producer.flush()
            await producer.close()

            let consumer = try KafkaConsumer(configuration: configuration(cluster), bufferBytes: 10_000)
            try await consumer.assign([.init(topic: "f", partition: 0)], from: .beginning)
            try await Task.sleep(for: .seconds(2))  // not reading: the buffer fills and fetching pauses
            #expect(consumer.events.bufferedBytes < 150_000)
            let messages = await collect(consumer, count: 300, timeout: .seconds(120))  // a safety deadline: the suite shares 2 cores
            await consumer.close()
            #expect(messages.map(\.offset) == (0..<300).map(Int64.init))
        }
    }
}

/// Reads events until `match` accepts one (acknowledging revocations it ignores), or 30 s pass.
func waitForEvent(_ consumer: KafkaConsumer, _ match: (KafkaConsumerEvent) -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        guard let event = await consumer.events.next(within: .milliseconds(200)) else { continue }
        if match(event) { return true }
        if case .partitionsRevoked(let r) = event { r.acknowledge() }
    }
    return false
}

func eventuallyTrue(_ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return condition()
}
