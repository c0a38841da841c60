/// librdkafka's mock broker keeps only about 5 MB of each partition's log: on every append it drops the
/// oldest message sets while the partition holds more (`rd_kafka_mock_partition_log_append` in
/// librdkafka 2.0.2's `src/rdkafka_mock.c`; no call of `rdkafka_mock.h` sets the limit). That is how the
/// harnesses make a real retention gap, and what a run that must lose nothing has to stay clear of.
public enum MockRetention {
    /// About what the mock keeps of one partition before it trims the oldest message sets.
    public static let keptBytes = 5 << 20

    public struct TrimError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Publishes fillers, one message set each (`publishFiller` must flush), until the partition's log
    /// start is past `offset`: every message before `offset + 1` has been trimmed. Returns the log start
    /// then and how many fillers it took; throws after `maxFillers` without getting there.
    public static func trim(
        past offset: Int64, maxFillers: Int, logStart: () async throws -> Int64, publishFiller: (_ index: Int) async throws -> Void
    ) async throws -> (logStart: Int64, fillers: Int) {
        var start = try await logStart()
        var fillers = 0
        while start <= offset {
            guard fillers < maxFillers else {
                throw TrimError(description: "the log start stayed at \(start) ≤ \(offset) after \(fillers) filler messages")
            }
            try await publishFiller(fillers)
            fillers += 1
            start = try await logStart()
        }
        return (start, fillers)
    }
}
