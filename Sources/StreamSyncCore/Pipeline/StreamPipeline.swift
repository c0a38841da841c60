import Kafka
import Logging
import Prometheus
import ServiceLifecycle
import SyncModel
import Synchronization

/// The StreamSync pipeline (docs/design.md §2, §4): read → decode → batch → apply under the version
/// rule → only then commit offsets.
///
/// - A batch closes at `batchMaxSize` messages, `batchMaxBytes` value bytes or `batchMaxWait` after its
///   first message. Poison messages go to the dead-letter sink (delivered before the commit that
///   covers them).
/// - Transient store errors are retried with capped exponential backoff; meanwhile nothing is read, so
///   the consumer's buffer fills and it pauses fetching (bounded memory), and nothing is committed.
///   A permanent error ends `run()` with `StreamSyncError.permanentStoreFailure`.
/// - A revocation is answered by flushing and committing first. Graceful shutdown (SIGTERM/SIGINT via
///   ServiceGroup) stops reading, flushes, commits, and leaves the group.
///
/// It depends on three seams only — `ChangeEventSource`, `DeadLetterSink` and `ChangeApplier` — so the
/// executable wires Kafka and the databases in, and the unit tests wire in-memory ones.
public final class StreamPipeline: Service, Sendable {
    public let settings: StreamSyncSettings
    public let metrics: StreamMetrics
    let events: any ChangeEventSource
    let deadLetters: any DeadLetterSink
    /// Batch k is applied through `stores[k % stores.count]`, each with its own connection, so that many
    /// batches can be in the database at once.
    let stores: [any ChangeApplier]
    let subscription: EventSubscription
    let logger: Logger
    let decoder: EventDecoder
    let backoff: Backoff
    /// Test hook: runs after a batch is applied and before its offsets are committed.
    let afterApply: (@Sendable () async throws -> Void)?
    /// Gap detection (docs/design.md §8); `nil`: none (benchmarks, tests of other things).
    let gaps: GapTracker?
    /// The consumer store's producer `_id`s and records, for changes by `_id` (docs/design.md §2);
    /// `nil`: such changes cannot be resolved and are left to healing.
    let sources: (any SourceRecords)?
    private let state = Mutex(State())

    struct State {
        var stop = false
        var committed: [TopicPartition: Int64] = [:]
        var progress = StreamProgress()
    }

    /// - Parameters:
    ///   - stores: one or more appliers on separate connections (at least one).
    ///   - gapDetection: where gaps are recorded, and what `--auto-offset-reset` asked for (the event
    ///     source must then run with `auto.offset.reset=error`).
    public init(
        settings: StreamSyncSettings, events: any ChangeEventSource, deadLetters: any DeadLetterSink,
        stores: [any ChangeApplier], subscription: EventSubscription, metrics: StreamMetrics,
        logger: Logger = Logger(label: "plantsync.streamsync"), gapDetection: GapDetection? = nil,
        sources: (any SourceRecords)? = nil, afterApply: (@Sendable () async throws -> Void)? = nil
    ) {
        precondition(!stores.isEmpty, "StreamPipeline needs at least one store")
        self.settings = settings
        self.events = events
        self.deadLetters = deadLetters
        self.stores = stores
        self.subscription = subscription
        self.metrics = metrics
        self.logger = logger
        self.decoder = settings.decoder
        self.backoff = settings.backoff
        // The plants of the named topics at 0 from the start; a pattern's show from their first change.
        for topic in settings.topics { if let plant = try? decoder.plant(forTopic: topic) { metrics.expect(plant) } }
        self.afterApply = afterApply
        self.sources = sources
        gaps = gapDetection.map {
            GapTracker(detection: $0, decoder: settings.decoder, metrics: metrics, logger: logger, backoff: settings.backoff)
        }
    }

    // MARK: Observing

    /// Offsets committed so far (next offset to read, per partition).
    public var committedOffsets: [TopicPartition: Int64] { state.withLock { $0.committed } }
    public var progress: StreamProgress { state.withLock { $0.progress } }
    /// Whether the stream has applied and committed what the log held when `gap` was met: healing waits
    /// for it (docs/design.md §8), so that a repair does not fetch what the stream is about to apply.
    public func hasCaughtUp(after gap: StreamGap) -> Bool {
        gaps?.caughtUp(gap, committed: committedOffsets) ?? true
    }

    /// Partitions are assigned to this consumer.
    public var hasAssignment: Bool { events.hasAssignment }

    /// Asks the loop to drain and stop (what graceful shutdown does).
    public func stop() { state.withLock { $0.stop = true } }
    var stopRequested: Bool { state.withLock { $0.stop } }

    // MARK: Running

    public func run() async throws {
        do {
            try await events.start(subscription)
        } catch {
            await shutdownClients()
            throw StreamSyncError.kafka("\(error)")
        }
        logger.info("StreamSync started", metadata: ["source": "\(subscription)", "batch.max": "\(settings.batchMaxSize)"])
        do {
            try await withGracefulShutdownHandler {
                try await self.loop()
            } onGracefulShutdown: {
                self.stop()
            }
        } catch {
            await shutdownClients()
            throw error
        }
        await shutdownClients()
        logger.info("StreamSync stopped", metadata: ["committed": "\(committedOffsets.count) partitions"])
    }

    private func shutdownClients() async {
        await events.shutdown()
        await deadLetters.shutdown()
    }

    /// Batches being applied while the loop reads and decodes the next one: at most one per store, in
    /// the order they were read. Their offsets are recorded and committed strictly in that order, each
    /// only once every earlier batch is durable too.
    private struct InFlight {
        var batches: [(batch: PendingBatch, task: Task<ApplyOutcome, any Error>)] = []
        var started = 0
        /// The offset commit after the last completed batch (a broker round trip the loop need not wait for).
        var commit: Task<Void, Never>?

        var isEmpty: Bool { batches.isEmpty }

        func touches(_ key: RecordKey) -> Bool { batches.contains { $0.batch.touches(key) } }

        mutating func cancel() async {
            let tasks = batches.map(\.task)
            batches = []
            await StreamPipeline.wait(for: commit)
            commit = nil
            for task in tasks { task.cancel() }
            for task in tasks { _ = try? await task.value }
        }
    }

    private func loop() async throws {
        var inFlight = InFlight()
        do {
            try await loop(&inFlight)
        } catch {
            await inFlight.cancel()
            throw error
        }
    }

    private func loop(_ inFlight: inout InFlight) async throws {
        var batch = PendingBatch()
        var loggedKinds = Set<EventDecodingError.Kind>()
        var sourceKeys = SourceKeyCache()
        while !stopRequested {
            try Task.checkCancellation()
            let wait: Duration
            if let opened = batch.openedAt {
                let remaining = settings.batchMaxWait - (ContinuousClock.now - opened)
                if remaining <= .zero {
                    try await flush(&batch, &inFlight)
                    continue
                }
                wait = remaining
            } else {
                wait = .milliseconds(250)
            }
            guard let event = await events.next(within: wait) else {
                // Idle: offsets whose commit failed (rebalance, broker away) must not wait for new data.
                if batch.isEmpty {
                    try await drain(&inFlight)
                    try await commitPending(attempts: 1)
                }
                continue
            }
            switch event {
            case .message(let message):
                if batch.isEmpty { state.withLock { s in s.progress.firstReadAt = s.progress.firstReadAt ?? .now } }
                try await admit(message, &batch, &inFlight, &sourceKeys, &loggedKinds)
                metrics.kafkaRowsRead.increment()
                if batch.messageCount >= settings.batchMaxSize || batch.valueBytes >= settings.batchMaxBytes {
                    try await flush(&batch, &inFlight)
                }
            case .partitionsAssigned(let partitions):
                // Before any message of these partitions is read: their messages wait in the buffer.
                try await gaps?.assigned(partitions, events: events)
            case .offsetOutOfRange(let tp, let offset, let detail):
                if let gaps {
                    try await gaps.outOfRange(tp, failed: offset, detail: detail, events: events)
                } else {
                    logger.warning("Partition offset out of range", metadata: ["partition": "\(tp)", "detail": "\(detail)"])
                }
            case .partitionsRevoked(let revocation):
                // Everything read from these partitions is in `batch`: make it durable and commit it
                // before librdkafka lets them go.
                try await flush(&batch, &inFlight)
                try await drain(&inFlight)
                state.withLock { s in
                    for tp in revocation.partitions { s.progress.uncommitted[tp] = nil }
                }
                metrics.released(revocation.partitions)
                revocation.acknowledge()
            }
        }
        try await flush(&batch, &inFlight)
        try await drain(&inFlight)
        try await commitPending(attempts: 3)
    }

    // MARK: Admitting a message

    /// Adds a message to the batch: its change; a change by producer `_id` once resolved (which may
    /// flush and drain the batches before it), or the gap it leaves when it cannot be; or, for a poison
    /// message, its dead letter and its gap.
    private func admit(
        _ message: KafkaMessage, _ batch: inout PendingBatch, _ inFlight: inout InFlight, _ sourceKeys: inout SourceKeyCache,
        _ loggedKinds: inout Set<EventDecodingError.Kind>
    ) async throws {
        let outcome: Result<DecodedEvent, EventDecodingError>
        do throws(EventDecodingError) {
            outcome = .success(try decoder.decodeEvent(message))
        } catch {
            outcome = .failure(error)
        }
        let change: Result<Change, EventDecodingError>
        switch outcome {
        case .failure(let error):
            change = .failure(error)
        case .success(let decoded):
            metrics.decodedPlaceholders(decoded.placeholders)
            switch decoded.effect {
            case .change(let decodedChange):
                sourceKeys.remember(decodedChange)
                change = .success(decodedChange)
            case .bySource(let source):
                switch try await resolve(source, &sourceKeys, &batch, &inFlight) {
                case .change(let resolved):
                    change = .success(resolved)
                case .nothing:
                    batch.add(message, leaving: nil)
                    return
                case .unresolved(let reason, let recordID) where gaps != nil:
                    batch.add(message, leaving: GapTracker.messageGap(message, plant: source.plant, recordID: recordID, reason: reason, at: .now))
                    return
                case .unresolved(let reason, _):
                    // Without gap detection, a dead letter is the record the change leaves.
                    change = .failure(
                        reason == .unorderedPatch
                            ? EventDecodingError(
                                .invalidValue, field: "updated_at", value: nil,
                                detail: "a partial update of _id \"\(source.sourceID)\" that does not set updated_at has no version to order it by")
                            : EventDecodingError(
                                .unknownSourceID, field: "_id", value: "\"\(source.sourceID)\"",
                                detail: "the consumer store holds no record of \(source.plant) with this producer _id (its create was never read)"))
                }
            }
        }
        var gap: StreamGap? = nil
        if case .failure(let error) = change {
            gap = gaps?.deadLetterGap(message, at: .now)
            if loggedKinds.insert(error.kind).inserted {
                logger.warning(
                    "Poison message sent to the dead-letter topic (logged once per kind)",
                    metadata: [
                        "kind": "\(error.kind.rawValue)", "error": "\(error)", "topic": "\(message.topic)",
                        "partition": "\(message.partition)", "offset": "\(message.offset)",
                        "deadletter.topic": "\(settings.deadLetterTopic)",
                    ])
            }
        }
        batch.add(message, outcome: change, deadLetterTopic: settings.deadLetterTopic, gap: gap)
    }

    // MARK: Flushing a batch

    /// Hands the closed batch to a task that applies it through the next store, once a store is free:
    /// decoding the next batch overlaps the database work of this one (and, with more than one store,
    /// batches overlap each other — safe because the version rule makes the order of applies irrelevant).
    /// Memory holds at most `stores.count + 1` batches besides librdkafka's fetch buffer.
    private func flush(_ batch: inout PendingBatch, _ inFlight: inout InFlight) async throws {
        guard !batch.isEmpty else { return }
        let current = batch
        batch = PendingBatch()
        if inFlight.batches.count >= stores.count { try await completeOldest(&inFlight) }
        let store = stores[inFlight.started % stores.count]
        inFlight.started += 1
        inFlight.batches.append((current, Task { try await self.apply(current, to: store) }))
    }

    /// Completes every batch in flight, in order.
    private func drain(_ inFlight: inout InFlight) async throws {
        while !inFlight.isEmpty { try await completeOldest(&inFlight) }
        await Self.wait(for: inFlight.commit)
        inFlight.commit = nil
    }

    /// Waits for the oldest batch in flight; then records its offsets and commits.
    private func completeOldest(_ inFlight: inout InFlight) async throws {
        let (current, task) = inFlight.batches.removeFirst()
        // The apply runs in a task of its own: a cancelled loop (a drain out of time) cancels it, which
        // interrupts its database call instead of waiting for it.
        let outcome = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        let nowMillis = Int64((clockNow() * 1000).rounded())
        for ts in current.timestamps { metrics.freshness.record(Double(max(0, nowMillis - ts)) / 1000) }
        if let afterApply { try await afterApply() }
        state.withLock { s in
            for (tp, offset) in current.nextOffsets { s.progress.uncommitted[tp] = max(s.progress.uncommitted[tp] ?? 0, offset) }
            s.progress.messages += current.messageCount
            s.progress.applied += outcome.applied
            s.progress.skippedStale += outcome.skippedStale
            s.progress.deadLettered += current.deadLetters.count
            s.progress.batches += 1
        }
        metrics.batches.increment()
        // One commit at a time, each covering everything durable so far; a failed one is retried with
        // the next (see `commitPending`).
        await Self.wait(for: inFlight.commit)
        inFlight.commit = Task { try? await self.commitPending(attempts: 1) }
    }

    /// Delivers the batch's dead letters, then applies its changes in one store call — one transaction
    /// for the whole batch, whatever plants it holds (docs/design.md §3) — whose outcome carries the
    /// per-plant counts the metrics are labelled with.
    private func apply(_ current: PendingBatch, to store: any ChangeApplier) async throws -> ApplyOutcome {
        if !current.deadLetters.isEmpty { try await deliverDeadLetters(current.deadLetters) }
        // What the dead letters leave unapplied is recorded before this batch's offsets are committed.
        try await gaps?.record(current.gaps)
        guard !current.changes.isEmpty else { return ApplyOutcome(applied: 0, skippedStale: 0) }
        let outcome = try await applyRetrying(current.changes, to: store)
        let plants = Set(current.changes.map(\.key.plant))
        if let perPlant = outcome.perPlant(of: plants) {
            for (plant, counts) in perPlant { metrics.applied(counts, plant: plant) }
        } else {
            logger.debug("The store reported no per-plant counts for a batch of several plants", metadata: ["plants": "\(plants.count)"])
        }
        metrics.consumerRowsWritten.increment(by: Int64(current.changes.count))
        metrics.consumerBytesWritten.increment(by: Int64(current.changeBytes))
        return outcome
    }

    /// Waits for the offset commit in flight (a task of its own); a cancelled waiter cancels it, so a
    /// drain out of time never waits on a group coordinator that stopped answering.
    static func wait(for commit: Task<Void, Never>?) async {
        guard let commit else { return }
        await withTaskCancellationHandler { await commit.value } onCancel: { commit.cancel() }
    }

    /// Commits every offset made durable so far. A failed commit is not fatal: the offsets stay
    /// pending and go out with the next commit (a crash before that only means a replay, which the
    /// version rule makes harmless).
    private func commitPending(attempts: Int) async throws {
        do {
            try await backoff.retry(maxAttempts: attempts) {
                let pending = state.withLock { $0.progress.uncommitted }
                guard !pending.isEmpty else { return }
                // The positions first: a committed offset beyond them can then only be someone else's reset.
                try await gaps?.recordPositions(pending)
                try await events.commit(pending)
                state.withLock { s in
                    for (tp, offset) in pending {
                        s.committed[tp] = max(s.committed[tp] ?? 0, offset)
                        if s.progress.uncommitted[tp] == offset { s.progress.uncommitted[tp] = nil }
                    }
                }
            }
        } catch let error as CancellationError {
            throw error
        } catch {
            logger.debug("Offset commit failed; will retry with the next batch", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Changes by producer _id

    /// Resolves a change by producer `_id` (docs/design.md §2): the id from the cache, else from the
    /// store once every batch before it is applied (so the store holds every earlier change); a patch
    /// is applied to the stored record, read once no batch before it touches that record.
    private func resolve(
        _ source: SourceChange, _ sourceKeys: inout SourceKeyCache, _ batch: inout PendingBatch, _ inFlight: inout InFlight
    ) async throws -> SourceResolution {
        let (resolution, path) = try await resolveCounting(source, &sourceKeys, &batch, &inFlight)
        metrics.resolvedByID(path)
        return resolution
    }

    private func resolveCounting(
        _ source: SourceChange, _ sourceKeys: inout SourceKeyCache, _ batch: inout PendingBatch, _ inFlight: inout InFlight
    ) async throws -> (SourceResolution, SourceResolutionPath) {
        guard let sources else { return (.unresolved(.unknownSourceID, recordID: nil), .none) }
        var id = sourceKeys.id(of: source.sourceID, plant: source.plant)
        let path: SourceResolutionPath = id == nil ? .store : .cache
        if id == nil {
            try await flush(&batch, &inFlight)
            try await drain(&inFlight)
            id = try await storeRetrying { try await sources.keys(of: source.plant, sourceIDs: [source.sourceID])[source.sourceID] }
            if let id { sourceKeys.remember(source.sourceID, id: id, plant: source.plant) }
        }
        guard let id else { return (.unresolved(.unknownSourceID, recordID: nil), .none) }
        let key = RecordKey(plant: source.plant, id: id)
        switch source.operation {
        case .delete(let at):
            return (.change(.delete(key, at: at)), path)
        case .patch(let patch):
            guard patch.hasVersionTime else { return (.unresolved(.unorderedPatch, recordID: id), .none) }
            if batch.touches(key) || inFlight.touches(key) {
                try await flush(&batch, &inFlight)
                try await drain(&inFlight)
            }
            if let stored = try await storeRetrying({ try await sources.record(key) }) {
                return (.change(decoder.timestampPrecision.truncate(patch.change(patching: stored))), path)
            }
            // No live record: deleted (a tombstone: the delete is newer, nothing to do), or never written here.
            let held = try await storeRetrying { try await sources.keys(of: source.plant, sourceIDs: [source.sourceID]) }
            return held[source.sourceID] == id ? (.nothing, .deleted) : (.unresolved(.unknownSourceID, recordID: id), .none)
        }
    }

    private func applyRetrying(_ changes: [Change], to store: any ChangeApplier) async throws -> ApplyOutcome {
        try await storeRetrying { try await store.apply(changes) }
    }

    /// A store call, transient errors retried with backoff (nothing is read or committed meanwhile); a
    /// permanent one ends the pipeline (`StreamSyncError.permanentStoreFailure`).
    private func storeRetrying<T>(_ call: () async throws -> T) async throws -> T {
        do {
            return try await backoff.retry(
                shouldRetry: { ($0 as? any StoreError)?.isTransient == true },
                onRetry: { error, attempt, delay in
                    metrics.storeRetries.increment()
                    if attempt == 1 || attempt.isMultiple(of: 10) {
                        logger.warning(
                            "Transient store error; retrying with backoff while fetching pauses",
                            metadata: ["error": "\(error)", "attempt": "\(attempt)", "delay": "\(delay)"])
                    }
                },
                onRecovered: { retries in logger.notice("Store recovered", metadata: ["retries": "\(retries)"]) }
            ) { try await call() }
        } catch let error as CancellationError {
            throw error
        } catch {
            logger.critical("Permanent store error", metadata: ["error": "\(error)"])
            throw StreamSyncError.permanentStoreFailure("\(error)")
        }
    }

    private func deliverDeadLetters(_ records: [KafkaProducerRecord]) async throws {
        try await backoff.retry(
            onRetry: { error, attempt, _ in
                if attempt == 1 || attempt.isMultiple(of: 10) {
                    logger.warning(
                        "Dead-letter delivery failed; retrying (offsets wait)",
                        metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                }
            }
        ) { try await deadLetters.deliver(records) }
        metrics.kafkaRowsWritten.increment(by: Int64(records.count))
        for record in records {
            let kind = record.headers.last { $0.name == DeadLetter.kindHeader }?.text ?? "unknown"
            metrics.deadLettered(kind)
        }
    }
}

/// Counters of what the pipeline has done (for tests, readiness and logs).
public struct StreamProgress: Sendable, Hashable {
    public var messages = 0
    public var applied = 0
    public var skippedStale = 0
    public var deadLettered = 0
    public var batches = 0
    /// Offsets applied but not yet committed.
    public var uncommitted: [TopicPartition: Int64] = [:]
    /// When the first message was read (throughput is measured from here, not from start-up).
    public var firstReadAt: ContinuousClock.Instant?
}
