import Foundation
import Kafka
import SyncBenchCore
import SyncModel

/// What the generator has produced so far, per partition: the counts the `produced` check compares with
/// the end offsets, and the stored bytes (prefix sums) the backlog cap measures against the committed
/// offset (`ChaosRun.backlogCapBytes`).
struct SentEvents {
    var produced: [TopicPartition: Int] = [:]
    var cumulative: [TopicPartition: [Int]] = [:]
    var eventBytes = 0

    init(partitions: [TopicPartition]) {
        for tp in partitions { cumulative[tp] = [0] }
    }

    mutating func record(_ event: StreamEvent, on tp: TopicPartition) {
        produced[tp, default: 0] += 1
        let sums = cumulative[tp, default: [0]]
        cumulative[tp, default: [0]].append(sums[sums.count - 1] + event.storedBytes)
        eventBytes += event.value?.count ?? 0
    }
}

/// What one gap fault did (seconds after the first event).
struct GapFaultRecord: Sendable {
    let fault: FaultPlan.GapFault
    /// The partition whose changes Kafka lost.
    var partition: TopicPartition?
    var began: Double?
    /// How StreamSync went down (SIGKILL: `signal 9`; SIGTERM: its exit) and how long that took.
    var down: (how: String, took: Double)?
    /// The next instance started.
    var restartedAt: Double?
    /// The partition's end offset once StreamSync was down (every event produced before it delivered).
    var endAtStop: Int64?
    /// The group's committed offset of the partition just before the restart (-1: none).
    var committed: Int64?
    /// retention: the log start after the trim.
    var logStart: Int64?
    /// offset-reset: the offset the operator committed.
    var resetTo: Int64?
    /// LIMS changes the fault wrote to LIMS's database and published (fillers, or the skipped changes).
    var changes = 0
    var changeBytes = 0
    /// Keys whose last change is one Kafka lost (`LimsStream.freeze`): the consumer holds their last state
    /// only if StreamSync healed them from LIMS's database.
    var frozen: [RecordKey] = []
    var error: String?
}

/// Carries out the gap faults (`FaultPlan.GapFault`, docs/design.md §8) from the generator, between two
/// events, with changes of the generator's own stream — written to LIMS's database first, then
/// published, as every event — so that what Kafka loses is real and StreamSync must heal it from LIMS's
/// database:
///
/// - `retention-gap`: SIGKILL; then full updates with `retentionImageBytes` images of live keys of one
///   partition, one message set each, until the mock broker's retention (`MockRetention`) has trimmed the
///   partition's log past every offset produced before the kill (so past the group's committed offset)
///   and past the first of them; restart. StreamSync must find the committed offset below the log start:
///   a `retention` gap `[committed, log start)`. The first filler's key is frozen (changed no more, by
///   the fillers after it or by the stream): its last state is only in LIMS's database.
/// - `offset-reset`: SIGTERM (an operator scales StreamSync down); `resetChanges` full updates of live
///   keys of one partition, their keys then frozen; the operator commits the group's offset of that
///   partition at its end (`KafkaGroupOffsets`, as a member of the group); restart. StreamSync must find
///   the committed offset beyond the position it recorded: an `offset-reset` gap ending at that offset.
///
/// So the `state` and `bytes` checks pass only if StreamSync healed the gap: nothing later in the log
/// brings the frozen keys to their last state.
struct GapFaults {
    /// Image bytes of a retention filler (hex in the event: twice that): ~40 of them fill the mock's ~5 MB.
    static let retentionImageBytes = 64 << 10
    /// At most this many fillers (a partition already near the retention limit needs fewer).
    static let maxFillers = 400
    /// Changes the offset reset skips.
    static let resetChanges = 20

    let supervisor: StreamSyncSupervisor
    let producer: KafkaProducer
    let lims: LimsProducerDatabase
    let watch: KafkaWatch
    /// The brokers directly (not through the chaos proxies), as an operator's tool reaches them.
    let bootstrapServers: String
    let group: String
    /// How long a SIGTERMed StreamSync may drain before it is SIGKILLed.
    let drainTimeout: Duration
    let recordBytes: Int
    /// Picks the partitions and keys: a generator of its own, so the stream is the same with or without.
    var rng: SeededGenerator

    func watermarks(_ tp: TopicPartition) async throws -> KafkaWatermarks {
        guard let marks = try await watch.consumer.watermarks([tp])[tp] else { throw ChaosError("no watermarks for \(tp)") }
        return marks
    }

    /// Carries out `fault` and starts StreamSync again (also after a failure of the fault itself, which
    /// the record then names).
    mutating func perform(
        _ fault: FaultPlan.GapFault, stream: inout LimsStream, sent: inout SentEvents, since streamStart: ContinuousClock.Instant
    ) async -> GapFaultRecord {
        func elapsed() -> Double { (ContinuousClock.now - streamStart).seconds }
        var record = GapFaultRecord(fault: fault, began: elapsed())
        var rng = self.rng
        defer { self.rng = rng }
        // A retention filler after the first changes another key of the partition than the frozen one.
        guard let key = stream.randomLiveKey(onAPartitionWith: fault.kind == .retention ? 2 : 1, using: &rng) else {
            record.error = "no partition with enough live keys to change"
            return record
        }
        let tp = TopicPartition(topic: key.plant.rawValue, partition: stream.partition(of: key))
        record.partition = tp
        if fault.kind == .retention { watch.expectTrim(of: tp) }
        guard let down = await supervisor.takeDown(kill: fault.kind == .retention, timeout: drainTimeout) else {
            // Between two starts of a crash loop: the supervisor starts the next one itself.
            record.error = "no StreamSync instance was running to take down"
            return record
        }
        record.down = (down.how, down.took.seconds)
        do {
            try await producer.flush()  // every event before the fault is in the log
            let end = try await watermarks(tp).high
            record.endAtStop = end
            let imageBytes = fault.kind == .retention ? Self.retentionImageBytes : recordBytes
            // One of the fault's changes: LIMS's database, then the event, in a message set of its own
            // (the mock trims whole sets).
            func change() async throws -> RecordKey {
                guard let event = stream.faultUpdate(plant: key.plant, partition: tp.partition, imageBytes: imageBytes, using: &rng) else {
                    throw ChaosError("\(tp) holds no live key any more")
                }
                try await ChaosRun.publish(event, value: event.value, change: stream.producerChange(for: event), producer: producer, lims: lims)
                sent.record(event, on: tp)
                try await producer.flush()
                record.changes += 1
                record.changeBytes += event.value?.count ?? 0
                return event.key
            }
            func freeze(_ key: RecordKey) {
                guard !stream.frozen.contains(key) else { return }
                stream.freeze(key)
                record.frozen.append(key)
            }
            switch fault.kind {
            case .retention:
                let trim = try await MockRetention.trim(
                    past: end, maxFillers: Self.maxFillers, logStart: { try await watermarks(tp).low },
                    publishFiller: { index in
                        let changed = try await change()
                        if index == 0 { freeze(changed) }  // at offset `end`: trimmed
                    })
                record.logStart = trim.logStart
                watch.expectTrim(of: tp, until: trim.logStart)
            case .offsetReset:
                var changed: [RecordKey] = []
                for _ in 0..<Self.resetChanges { changed.append(try await change()) }
                for key in changed { freeze(key) }
                let to = try await watermarks(tp).high
                try await KafkaGroupOffsets.commit(
                    [tp: to],
                    configuration: KafkaConfiguration(
                        bootstrapServers: bootstrapServers, groupId: group, clientId: "chaos-operator-reset-offsets",
                        properties: ["log_level": "0", "session.timeout.ms": "3000", "heartbeat.interval.ms": "500"]),
                    asMember: true)
                record.resetTo = to
            }
            record.committed = try await watch.consumer.committed([tp])[tp] ?? -1
        } catch {
            record.error = "\(error)"
        }
        do {
            try await supervisor.start()
            record.restartedAt = elapsed()
        } catch {
            record.error = (record.error.map { $0 + "; " } ?? "") + "restart: \(error)"
        }
        return record
    }
}
