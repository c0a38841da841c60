import Logging

/// Sets a consumer group's committed offsets from outside its application, as an operator's
/// `kafka-consumer-groups --reset-offsets --execute` (or a group that read long ago) leaves them: what
/// the gap tests and `scripts/chaos --offset-reset` do to StreamSync's group (docs/design.md §8).
public enum KafkaGroupOffsets {
    /// Commits `offsets` as `configuration.groupId`, with a consumer of its own that reads nothing
    /// (`auto.offset.reset=error` whatever the configuration says) and is closed before returning.
    ///
    /// A group that has had members commits as a member (`asMember`: the mock broker refuses a commit
    /// from outside a group it still tracks): the consumer joins, subscribed to the offsets' topics, and
    /// commits once it has partitions (a member that left without closing is waited out by the group, up
    /// to its session timeout). A group that never had members commits from an assigned consumer.
    public static func commit(
        _ offsets: [TopicPartition: Int64], configuration: KafkaConfiguration, asMember: Bool, joinTimeout: Duration = .seconds(60),
        logger: Logger = Logger(label: "plantsync.kafka.group-offsets")
    ) async throws(KafkaError) {
        var configuration = configuration
        configuration.autoOffsetReset = .error
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        do throws(KafkaError) {
            if asMember {
                try await consumer.subscribe(topics: Array(Set(offsets.keys.map(\.topic))).sorted())
                let deadline = ContinuousClock.now + joinTimeout
                var assigned = false
                while !assigned, ContinuousClock.now < deadline {
                    if case .partitionsAssigned = await consumer.events.next(within: .milliseconds(200)) { assigned = true }
                }
                guard assigned else {
                    throw KafkaError(
                        operation: "commit offsets as group \(configuration.groupId)",
                        message: "no partitions assigned within \(joinTimeout)")
                }
            } else {
                try await consumer.assign(Array(offsets.keys), from: .committed)
            }
            try await consumer.commit(offsets)
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }
}
