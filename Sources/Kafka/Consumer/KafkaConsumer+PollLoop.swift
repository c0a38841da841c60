import CRdKafka
import Logging

/// The poll thread: the one place that calls `rd_kafka_consumer_poll`, so every librdkafka callback
/// runs here; it hands messages to the caller through the event buffer and bounds its weight.
extension KafkaConsumer {

    /// Most messages handed over per wake-up of the consumer task.
    static let burst = 256

    static func pollLoop(handle: OpaquePointer, context: ConsumerContext, bufferBytes: Int) {
        var paused = false
        // Per partition, the offset after the last message handed over: where a resumed partition must
        // continue. librdkafka 2.0 keeps its own "application position" for that, but under rapid
        // pause/resume it was seen to resume past messages it had purged from its queue (a test lost
        // the tail of a partition), so resuming seeks here explicitly, as its maintainers advise.
        var positions: [TopicPartition: Int64] = [:]
        while !context.stopRequested {
            let weight = context.buffer.weight
            if !paused && weight > bufferBytes {
                paused = setPaused(true, handle: handle, context: context, positions: positions)
            } else if paused && weight <= bufferBytes / 2 {
                paused = !setPaused(false, handle: handle, context: context, positions: positions)
            }
            // Take what librdkafka has already fetched (up to `burst` messages) before waking the
            // consumer task once. Callbacks pushing events meanwhile keep their place in the order.
            var next = rd_kafka_consumer_poll(handle, 100)
            var taken = 0
            while let message = next {
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    let consumed = KafkaMessage(message)
                    positions[consumed.topicPartition] = consumed.offset + 1
                    context.buffer.push(.message(consumed), wake: false)
                } else if err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, let topic = message.pointee.rkt {
                    // `auto.offset.reset=error`: the caller decides where to go, and what was lost.
                    let tp = TopicPartition(topic: cString(rd_kafka_topic_name(topic)), partition: message.pointee.partition)
                    let offset = message.pointee.offset
                    positions[tp] = nil
                    context.buffer.push(
                        .offsetOutOfRange(tp, offset: offset >= 0 ? offset : nil, detail: cString(rd_kafka_message_errstr(message))),
                        wake: false)
                } else if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    context.reportConsumeError(err, detail: cString(rd_kafka_message_errstr(message)))
                }
                rd_kafka_message_destroy(message)
                taken += 1
                next =
                    taken < Self.burst && context.buffer.weight <= bufferBytes
                    ? rd_kafka_consumer_poll(handle, 0) : nil
            }
            context.buffer.wake()
        }
        context.closing()
        let err = rd_kafka_consumer_close(handle)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            context.logger.warning("Kafka consumer close reported an error", metadata: ["error": "\(cString(rd_kafka_err2name(err)))"])
        }
    }

    /// Pauses or resumes every assigned partition; true on success. Resuming first seeks each partition
    /// to `positions` (when known), so fetching continues right after the last message handed over.
    private static func setPaused(
        _ pause: Bool, handle: OpaquePointer, context: ConsumerContext, positions: [TopicPartition: Int64]
    ) -> Bool {
        var raw: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(handle, &raw) == RD_KAFKA_RESP_ERR_NO_ERROR, let raw else { return false }
        let list = PartitionList(owning: raw)
        if !pause {
            let known = PartitionList.partitions(list.pointer).compactMap { tp in positions[tp].map { (tp, Optional($0)) } }
            if !known.isEmpty {
                let seek = PartitionList(known)
                if let error = rd_kafka_seek_partitions(handle, seek.pointer, 5000) {
                    context.logger.warning("Seek before resuming failed", metadata: ["error": "\(cString(rd_kafka_error_string(error)))"])
                    rd_kafka_error_destroy(error)
                }
            }
        }
        let err = pause ? rd_kafka_pause_partitions(handle, list.pointer) : rd_kafka_resume_partitions(handle, list.pointer)
        context.logger.debug(pause ? "Fetching paused: buffer full" : "Fetching resumed")
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }
}
