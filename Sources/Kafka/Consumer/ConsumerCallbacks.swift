import CRdKafka
import Foundation
import Logging

// The C callbacks librdkafka calls on the poll thread; they find their Swift state through the
// client's opaque pointer (a `ConsumerContext`).

/// Rebalance: assign incrementally (cooperative) or eagerly; before revoking, let the caller flush.
let rebalanceCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
    ) -> Void = { rk, err, partitions, opaque in
        guard let rk, let context = KafkaCallbackContext.from(opaque) as? ConsumerContext else { return }
        let cooperative = cString(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let list = PartitionList.partitions(partitions)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    context.logger.error("\(KafkaError(operation: "incremental assign", consuming: error))")
                }
            } else {
                _ = rd_kafka_assign(rk, partitions)
            }
            context.logger.info(
                "Partitions assigned", metadata: ["partitions": "\(list.sorted().map(\.description).joined(separator: ","))"])
            context.didAssign(list)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            context.logger.info(
                lost ? "Partitions lost" : "Partitions revoked",
                metadata: ["partitions": "\(list.sorted().map(\.description).joined(separator: ","))"])
            context.willRevoke(list, lost: lost)
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    context.logger.error("\(KafkaError(operation: "incremental unassign", consuming: error))")
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            context.didRevoke(list)
        default:
            context.logger.error("Rebalance failed", metadata: ["error": "\(cString(rd_kafka_err2name(err)))"])
            _ = rd_kafka_assign(rk, nil)
            context.didRevoke(Array(context.assignment))
        }
    }

/// Statistics JSON → `KafkaStatistics` → the caller's handler. Returning 0 lets librdkafka free the JSON.
let statisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, length, opaque in
    guard let json, let context = KafkaCallbackContext.from(opaque) as? ConsumerContext, let handler = context.onStatistics
    else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: json, count: length))
    if let statistics = KafkaStatistics(json: bytes) { handler(statistics) }
    return 0
}
