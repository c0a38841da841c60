import Kafka
import Synchronization

/// Watches the mock cluster from outside StreamSync: the committed offsets of StreamSync's group and the
/// log bounds of every partition, sampled twice a second (a sample fails while the brokers are down and
/// the last one stays).
///
/// It also guards the run against the mock broker's retention (`MockRetention`): the mock keeps only
/// ~5 MB per partition and trims the oldest messages beyond that. Messages trimmed before the group
/// committed past them could never be read again, which would be a loss caused by the harness, not by
/// StreamSync, so the generator holds back while a partition's uncommitted backlog is large
/// (`ChaosRun`), and every sample checks that no partition's log start is beyond its committed offset —
/// except on the partition a `--retention-gap` fault trims on purpose (`expectTrim`), until the group
/// has committed past the trimmed log's start.
final class KafkaWatch: Sendable {
    struct Snapshot: Sendable {
        var committed: [TopicPartition: Int64] = [:]
        var watermarks: [TopicPartition: KafkaWatermarks] = [:]
        /// Samples that found a log start beyond the committed offset, and the first such finding.
        var retentionViolations = 0
        var firstViolation: String?
        /// Samples that found the trim of a `--retention-gap` fault (log start beyond the committed offset
        /// on its partition, before the group committed past it).
        var expectedTrimSamples = 0
        /// Per partition being trimmed on purpose: the log start the group must commit past (`Int64.max`
        /// while the trim is under way).
        var expectedTrims: [TopicPartition: Int64] = [:]
        var samples = 0
        var failedSamples = 0
    }

    /// A consumer of StreamSync's group that never joins it: it only reads offsets.
    let consumer: KafkaConsumer
    let partitions: [TopicPartition]
    private let state = Mutex(Snapshot())

    init(consumer: KafkaConsumer, partitions: [TopicPartition]) {
        self.consumer = consumer
        self.partitions = partitions
    }

    var snapshot: Snapshot { state.withLock { $0 } }

    /// `tp`'s log is about to be trimmed past the group's committed offset on purpose (`--retention-gap`):
    /// samples finding it so are not violations until the group has committed `until` (the log start
    /// after the trim; call again with it once known).
    func expectTrim(of tp: TopicPartition, until logStart: Int64 = .max) {
        state.withLock { $0.expectedTrims[tp] = logStart }
    }

    /// One sample: bounds first, then committed offsets, so that a log start found beyond an offset
    /// committed later is a real violation.
    @discardableResult
    func sample(timeout: Duration = .seconds(2)) async -> Bool {
        do {
            let marks = try await consumer.watermarks(partitions, timeout: timeout)
            let committed = try await consumer.committed(partitions, timeout: timeout)
            state.withLock { s in
                s.samples += 1
                s.watermarks = marks
                for (tp, offset) in committed { s.committed[tp] = max(s.committed[tp] ?? 0, offset) }
                for tp in partitions {
                    let low = marks[tp]?.low ?? 0
                    let done = committed[tp] ?? 0
                    if let until = s.expectedTrims[tp] {
                        if done >= until {
                            s.expectedTrims[tp] = nil
                        } else if low > done {
                            s.expectedTrimSamples += 1
                            continue
                        }
                    }
                    if low > done {
                        s.retentionViolations += 1
                        if s.firstViolation == nil {
                            s.firstViolation = "\(tp): log starts at \(low), the group had committed \(done)"
                        }
                    }
                }
            }
            return true
        } catch {
            state.withLock { $0.failedSamples += 1 }
            return false
        }
    }

    /// Samples every `interval` until cancelled.
    func run(every interval: Duration = .milliseconds(500)) async {
        while !Task.isCancelled {
            await sample()
            try? await Task.sleep(for: interval)
        }
    }
}
