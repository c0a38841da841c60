import Kafka
import StreamSyncCore
import SyncModel
import Synchronization

// In-memory implementations of the pipeline's three seams (ChangeEventSource, DeadLetterSink,
// ChangeApplier): the pipeline's logic runs against them in milliseconds, without Kafka or a database.

/// What happened at the seams, in order: the tests assert on this log.
enum SeamEvent: Equatable, CustomStringConvertible {
    case applied(connection: Int, keys: [RecordKey])
    case committed([TopicPartition: Int64])
    case deadLettered(Int)
    case sought([TopicPartition: Int64])
    case gapsRecorded([StreamGap])
    case positionsRecorded([StreamPartition: Int64])
    /// The store was asked for producer `_id`s (`SourceKeyResolving`) or a record (`RecordReader`).
    case lookedUp(String)

    var description: String {
        switch self {
        case .lookedUp(let what): return "lookedUp(\(what))"
        case .sought(let offsets): return "sought(\(offsets))"
        case .gapsRecorded(let gaps): return "gapsRecorded(\(gaps.count))"
        case .positionsRecorded(let positions): return "positionsRecorded(\(positions.values.reduce(0, +)))"
        case .applied(let connection, let keys): return "applied#\(connection)(\(keys.count))"
        case .committed(let offsets): return "committed(\(offsets.values.reduce(0, +)))"
        case .deadLettered(let n): return "deadLettered(\(n))"
        }
    }
}

final class SeamLog: Sendable {
    private let events = Mutex<[SeamEvent]>([])
    func append(_ event: SeamEvent) { events.withLock { $0.append(event) } }
    var all: [SeamEvent] { events.withLock { $0 } }
    var gaps: [StreamGap] { all.flatMap { if case .gapsRecorded(let gaps) = $0 { return gaps } else { return [] } } }
    var commits: [[TopicPartition: Int64]] {
        all.compactMap { if case .committed(let offsets) = $0 { return offsets } else { return nil } }
    }
}

/// A scripted event source: hands out the events queued so far; after them, `next` waits (a little,
/// bounded by its timeout) and returns nil, like an idle consumer.
final class ScriptedEventSource: ChangeEventSource {
    private struct State {
        var queue: [KafkaConsumerEvent] = []
        var started: EventSubscription?
        var commitFailures = 0
        var closed = false
        var committed: [TopicPartition: Int64] = [:]
        var watermarks: [TopicPartition: KafkaWatermarks] = [:]
        var seeks: [[TopicPartition: Int64]] = []
    }
    private let state = Mutex(State())
    let log: SeamLog

    init(log: SeamLog, events: [KafkaConsumerEvent] = [], commitFailures: Int = 0) {
        self.log = log
        state.withLock {
            $0.queue = events
            $0.commitFailures = commitFailures
        }
    }

    func push(_ events: [KafkaConsumerEvent]) { state.withLock { $0.queue += events } }
    var pending: Int { state.withLock { $0.queue.count } }
    var isClosed: Bool { state.withLock { $0.closed } }

    func start(_ subscription: EventSubscription) async throws { state.withLock { $0.started = subscription } }

    func next(within timeout: Duration) async -> KafkaConsumerEvent? {
        if let event = state.withLock({ $0.queue.isEmpty ? nil : $0.queue.removeFirst() }) { return event }
        try? await Task.sleep(for: min(timeout, .milliseconds(2)))
        return nil
    }

    func commit(_ offsets: [TopicPartition: Int64]) async throws {
        let fail = state.withLock { s -> Bool in
            guard s.commitFailures > 0 else { return false }
            s.commitFailures -= 1
            return true
        }
        if fail { throw KafkaError(operation: "commit", code: "Local_Test", message: "injected commit failure") }
        log.append(.committed(offsets))
    }

    var hasAssignment: Bool { state.withLock { $0.started != nil } }
    func shutdown() async { state.withLock { $0.closed = true } }

    /// What the group has committed and the partitions' logs span, as the broker would answer.
    func setBroker(committed: [TopicPartition: Int64] = [:], watermarks: [TopicPartition: KafkaWatermarks]) {
        state.withLock {
            $0.committed = committed
            $0.watermarks = watermarks
        }
    }
    var seeks: [[TopicPartition: Int64]] { state.withLock { $0.seeks } }

    func seek(_ offsets: [TopicPartition: Int64]) async throws {
        state.withLock { $0.seeks.append(offsets) }
        log.append(.sought(offsets))
    }

    func committedOffsets(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        state.withLock { s in s.committed.filter { partitions.contains($0.key) } }
    }

    func watermarks(of partitions: [TopicPartition]) async throws -> [TopicPartition: KafkaWatermarks] {
        state.withLock { s in s.watermarks.filter { partitions.contains($0.key) } }
    }
}

/// Records dead letters; the first `failures` deliveries fail.
final class RecordingDeadLetterSink: DeadLetterSink {
    private let state: Mutex<(records: [KafkaProducerRecord], failures: Int)>
    let log: SeamLog

    init(log: SeamLog, failures: Int = 0) {
        self.log = log
        state = Mutex(([], failures))
    }

    var records: [KafkaProducerRecord] { state.withLock { $0.records } }

    func deliver(_ records: [KafkaProducerRecord]) async throws {
        let fail = state.withLock { s -> Bool in
            if s.failures > 0 {
                s.failures -= 1
                return true
            }
            s.records += records
            return false
        }
        if fail { throw KafkaError(operation: "flush", code: "Local_Test", message: "injected delivery failure") }
        log.append(.deadLettered(records.count))
    }

    func shutdown() async {}
}

/// An error the applier throws on demand.
struct InjectedStoreError: StoreError {
    let isTransient: Bool
    var description: String { isTransient ? "injected transient store error" : "injected permanent store error" }
}

/// One database shared by several appliers ("connections"), holding the greatest version per key.
final class InMemoryDatabase: Sendable {
    private struct State {
        var rows: [RecordKey: Change] = [:]
        var sourceIDs: [Plant: [SourceID: Int64]] = [:]
        var transientFailures = 0
        var permanentFailure = false
        var attempts = 0
        var applyCalls: [Int] = []
    }
    private let state = Mutex(State())

    init(transientFailures: Int = 0, permanentFailure: Bool = false) {
        state.withLock {
            $0.transientFailures = transientFailures
            $0.permanentFailure = permanentFailure
        }
    }

    var rows: [RecordKey: Change] { state.withLock { $0.rows } }

    /// The producer `_id`s of written rows (a write without one keeps the stored one, as the stores do).
    func keys(of plant: Plant, sourceIDs: [SourceID]) -> [SourceID: Int64] {
        state.withLock { s in
            var found: [SourceID: Int64] = [:]
            for sourceID in sourceIDs { if let id = s.sourceIDs[plant]?[sourceID] { found[sourceID] = id } }
            return found
        }
    }

    /// Writes rows directly (a database that already holds them).
    func preload(_ changes: [Change]) {
        state.withLock { s in
            for change in changes {
                s.rows[change.key] = change
                if let sourceID = change.record?.sourceID { s.sourceIDs[change.key.plant, default: [:]][sourceID] = change.key.id }
            }
        }
    }
    var attempts: Int { state.withLock { $0.attempts } }
    /// The size of every batch applied, one entry per successful store call.
    var applyCalls: [Int] { state.withLock { $0.applyCalls } }

    fileprivate func apply(_ changes: [Change]) throws -> ApplyOutcome {
        try state.withLock { s in
            s.attempts += 1
            if s.permanentFailure { throw InjectedStoreError(isTransient: false) }
            if s.transientFailures > 0 {
                s.transientFailures -= 1
                throw InjectedStoreError(isTransient: true)
            }
            var applied: [Plant: Int] = [:]
            for change in changes {
                if let stored = s.rows[change.key], stored.version >= change.version { continue }
                s.rows[change.key] = change
                if let sourceID = change.record?.sourceID { s.sourceIDs[change.key.plant, default: [:]][sourceID] = change.key.id }
                applied[change.key.plant, default: 0] += 1
            }
            s.applyCalls.append(changes.count)
            return ApplyOutcome(changes: changes, appliedByPlant: applied)
        }
    }
}

/// One connection to an `InMemoryDatabase`. With a gate, each apply waits until the test opens it, so
/// a test can hold a batch "in the database" while later ones complete.
final class InMemoryApplier: ChangeApplier {
    let database: InMemoryDatabase
    let connection: Int
    let log: SeamLog
    private let gate: Gate?

    init(database: InMemoryDatabase, connection: Int, log: SeamLog, gate: Gate? = nil) {
        self.database = database
        self.connection = connection
        self.log = log
        self.gate = gate
    }

    func apply(_ changes: [Change]) async throws -> ApplyOutcome {
        if let gate { await gate.wait() }
        let outcome = try database.apply(changes)
        log.append(.applied(connection: connection, keys: changes.map(\.key)))
        return outcome
    }
}

/// The pipeline's view of the database for changes by producer `_id` (`SourceRecords`); every call is
/// logged, so tests see it after the applies it must follow.
final class InMemorySourceRecords: SourceKeyResolving, RecordReader {
    let database: InMemoryDatabase
    let log: SeamLog

    init(database: InMemoryDatabase, log: SeamLog) {
        self.database = database
        self.log = log
    }

    func keys(of plant: Plant, sourceIDs: [SourceID]) async throws -> [SourceID: Int64] {
        log.append(.lookedUp("_id " + sourceIDs.map(\.rawValue).joined(separator: ",")))
        return database.keys(of: plant, sourceIDs: sourceIDs)
    }

    func record(_ key: RecordKey) async throws -> ImageRecord? {
        log.append(.lookedUp("\(key)"))
        return database.rows[key]?.record
    }

    func count(of plant: Plant) async throws -> Int {
        database.rows.filter { $0.key.plant == plant && $0.value.record != nil }.count
    }
}

/// A one-shot gate: `wait()` suspends until `open()`.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>], arrived: Int)>((false, [], 0))

    func wait() async {
        await withCheckedContinuation { continuation in
            let resume = state.withLock { s -> Bool in
                s.arrived += 1
                if s.open { return true }
                s.waiters.append(continuation)
                return false
            }
            if resume { continuation.resume() }
        }
    }

    var arrived: Int { state.withLock { $0.arrived } }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// The gap ledger in memory; every write is logged, so tests see it before the commit it must precede.
final class InMemoryGapLedger: GapLedger {
    private struct State {
        var gaps: [String: (gap: StreamGap, closed: Bool)] = [:]
        var positions: [String: [StreamPartition: Int64]] = [:]
        var failures = 0
    }
    private let state = Mutex(State())
    let log: SeamLog
    /// Called with each batch of gaps once it is in the ledger: what a healer reading it then would see.
    let onRecord = Mutex<(@Sendable ([StreamGap]) -> Void)?>(nil)

    init(log: SeamLog, positions: [String: [StreamPartition: Int64]] = [:], failures: Int = 0) {
        self.log = log
        state.withLock {
            $0.positions = positions
            $0.failures = failures
        }
    }

    private func failIfAsked() throws {
        let fail = state.withLock { s -> Bool in
            guard s.failures > 0 else { return false }
            s.failures -= 1
            return true
        }
        if fail { throw InjectedStoreError(isTransient: true) }
    }

    func recordGaps(_ gaps: [StreamGap]) async throws {
        try failIfAsked()
        state.withLock { s in for gap in gaps where s.gaps[gap.id] == nil { s.gaps[gap.id] = (gap, false) } }
        log.append(.gapsRecorded(gaps))
        if let onRecord = onRecord.withLock({ $0 }) { onRecord(gaps) }
    }

    func openGaps() async throws -> [StreamGap] {
        state.withLock { s in s.gaps.values.filter { !$0.closed }.map(\.gap).sorted { ($0.detectedAt, $0.id) < ($1.detectedAt, $1.id) } }
    }

    func closeGaps(_ ids: [String], at: Timestamp, by closedBy: String) async throws -> Int {
        state.withLock { s in
            var closed = 0
            for id in ids where s.gaps[id]?.closed == false {
                s.gaps[id]?.closed = true
                closed += 1
            }
            return closed
        }
    }

    func streamPositions(group: String) async throws -> [StreamPartition: Int64] { state.withLock { $0.positions[group] ?? [:] } }

    func recordStreamPositions(_ positions: [StreamPartition: Int64], group: String) async throws {
        try failIfAsked()
        state.withLock { s in
            for (partition, offset) in positions { s.positions[group, default: [:]][partition] = max(s.positions[group]?[partition] ?? 0, offset) }
        }
        log.append(.positionsRecorded(positions))
    }
}
