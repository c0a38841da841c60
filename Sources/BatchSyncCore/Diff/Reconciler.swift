import Dispatch
import Foundation
import Logging
import StoreMetering
import SyncModel

/// Diffs a producer and a consumer store and repairs the consumer (one BatchSync run).
///
/// Every write goes through the consumer's version rule, so a run never overwrites a newer record
/// that StreamSync (or anything else) wrote concurrently; the only exception is a compare-and-set
/// `replace` for a row the producer confirms, on a fresh read, it does not have — and that write lands
/// only if the consumer still holds the version seen, so a concurrent write wins. A run that dies
/// halfway has only made the consumer closer to the producer; the next run finishes the job.
public struct Reconciler: Sendable {
    public let producer: MeteredDiffSource
    public let consumer: MeteredConsumerStore
    public let options: BatchOptions
    /// The time a missing key is observed missing (the delete's `ts`).
    public let now: @Sendable () -> Timestamp
    /// Where each differing key is logged at debug level, both sides' versions and digests and what is
    /// done about it (`nil`: nowhere). StreamSync's heal passes its own (`--log-level debug`).
    public var logger: Logger?

    public init(
        producer: any DiffSource, consumer: any ConsumerStore, options: BatchOptions,
        now: @escaping @Sendable () -> Timestamp = Reconciler.wallClock
    ) {
        self.producer = producer as? MeteredDiffSource ?? MeteredDiffSource(producer)
        self.consumer = consumer as? MeteredConsumerStore ?? MeteredConsumerStore(consumer)
        self.options = options
        self.now = now
    }

    public static let wallClock: @Sendable () -> Timestamp = {
        Timestamp.now
    }

    public static func watermarkName(_ plant: Plant) -> String { "batchsync.watermark.\(plant)" }

    /// The digest domain both stores compute (docs/design.md §3): PlantSync's bookkeeping between its own
    /// stores, the engine's in-database digest against a foreign producer of the same engine, metadata
    /// and byte length across engines.
    public func domain() async throws -> DigestDomain {
        DigestDomain.shared(producer: try await producer.digestDomains(), consumer: try await consumer.digestDomains())
    }

    public func run() async throws -> RunReport {
        try options.validate()
        let (plants, lost) = try await selectedPlants()
        return try await measured(plants) { report in
            // A plant only the consumer holds is diffed against a producer that has none of its records.
            let emptyProducer = Reconciler(producer: EmptyProducer(source: producer), consumer: consumer, options: options, now: now)
            for plant in plants {
                let reconciler = lost.contains(plant) ? emptyProducer : self
                switch options.strategy {
                case .full: try await reconciler.full(plant, &report)
                case .watermark: try await reconciler.watermark(plant, &report)
                case .merkle: try await reconciler.merkle(plant, &report)
                case .reconcile: try await reconciler.reconcile(plant, &report)
                }
            }
        }
    }

    /// Repairs exactly these keys of `plant` (a stream gap of dead-lettered events, docs/design.md §8):
    /// their versions on both sides, then what differs, as any diff repairs it.
    public func repair(keys: [Int64], of plant: Plant) async throws -> RunReport {
        try options.validate()
        return try await measured([plant]) { report in try await compareKeys(plant, ids: keys, &report) }
    }

    /// A run's report around `body`: the digest domain asked once, the traffic and the duration.
    private func measured(_ plants: [Plant], _ body: (inout RunReport) async throws -> Void) async throws -> RunReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let producerBefore = producer.traffic
        let consumerBefore = consumer.traffic
        var report = RunReport(strategy: options.strategy, plants: plants, dryRun: options.dryRun)
        report.digestDomain = try await domain()  // asked once a run: the steps below read it from the report
        try await body(&report)
        report.producer = producer.traffic.minus(producerBefore)
        report.consumer = consumer.traffic.minus(consumerBefore)
        report.durationSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return report
    }

    /// The run's plants, sorted for `all`, and those of them the producer no longer has. `all` is the
    /// producer's plants united with the consumer's: a plant only the consumer holds was removed from
    /// the producer, and its records are reconciled as any the producer lost (tombstoned with
    /// `--deletes propagate`). A producer that has no plant at all is an error, not a reason to
    /// tombstone every consumer plant (a wrong URI, schema or table pattern looks just like that).
    func selectedPlants() async throws -> (plants: [Plant], lost: Set<Plant>) {
        guard case .all = options.plants else { return (options.plants.listed, []) }
        let held = try await producer.plants()
        guard !held.isEmpty else {
            throw BatchOptionsError(
                "plants", "all",
                "the producer has no plant (no table or collection matches its layout, or its plant column is empty): check --producer-uri and --producer-table; the consumer's plants are left alone")
        }
        let consumerPlants = try await consumer.plants()
        return (Set(held + consumerPlants).sorted(), Set(consumerPlants).subtracting(held))
    }

    // MARK: full — the LIMS baseline

    /// Reads every producer record and upserts all of them; consumer versions of the same id span
    /// (narrow) find rows to delete and conflicts, so one run also converges.
    func full(_ plant: Plant, _ report: inout RunReport) async throws {
        var lower: Int64 = 1
        var lastPage = false
        var iterator = producer.records(of: plant, in: .all, pageSize: options.pageSize).makeAsyncIterator()
        while !lastPage {
            var page: [ImageRecord] = []
            while page.count < options.pageSize, let record = try await iterator.next() { page.append(record) }
            lastPage = page.count < options.pageSize
            let upper = lastPage ? Int64.max : page.last!.id + 1
            report.rowsFetched += page.count
            let records = Dictionary(uniqueKeysWithValues: page.map { ($0.id, $0) })
            let producerVersions = page.map { KeyVersion(id: $0.id, version: $0.version, digest: $0.digest) }
            // The records are in hand, so their digests are computed here, in PlantSync's own domain.
            let consumerVersions = try await consumer.versions(
                of: plant, in: KeyRange(lower: lower, upper: upper), pageSize: options.pageSize * 2, domain: .plantsync
            ).collect()
            var plan = RepairPlan()
            mergeJoin(producerVersions, consumerVersions) { id, p, c in
                let action = KeyAction.decide(producer: p, consumer: c)
                report.rowsCompared += 1
                // The baseline upserts every record, whatever the consumer holds.
                if case .none = action, p != nil { plan.add(id, .upsert, counted: false) } else { plan.add(id, action) }
            }
            try await execute(plan, plant: plant, fetched: records, &report)
            lower = upper
        }
    }

    // MARK: watermark — incremental by version

    func watermark(_ plant: Plant, _ report: inout RunReport) async throws {
        let name = Self.watermarkName(plant)
        guard let mark = try await consumer.syncState(name) else {
            // First run: compare everything, then remember where the producer stands.
            let highest = try await compareAll(plant, &report)
            if !options.dryRun, let highest { try await consumer.setSyncState(name, to: highest) }
            return
        }
        let since = mark - Int64(options.watermarkOverlapSeconds) * 1_000_000
        var highest = mark
        try await producer.records(of: plant, changedSince: since, pageSize: options.pageSize).forEachPage(of: options.pageSize) { page in
            report.rowsFetched += page.count
            highest = max(highest, page.map(\.version.ts).max() ?? highest)
            if options.dryRun { return }
            let outcome = try await consumer.apply(page.map { .upsert($0) })
            report.rowsWritten += outcome.applied
            report.differences += outcome.applied
            report.rowsSkippedStale += outcome.skippedStale
        }
        // Hard deletes: cheap when the counts agree (the consumer holds every producer key after the
        // upserts above, so equal counts mean no extra keys); otherwise compare the key sets.
        if options.deletes == .propagate {
            let producerCount = try await producer.count(of: plant)
            let consumerCount = try await consumer.count(of: plant)
            if consumerCount != producerCount { _ = try await compareAll(plant, &report) }
        }
        if !options.dryRun { try await consumer.setSyncState(name, to: highest) }
    }

    /// Compares every key's version on both sides, range by range; returns the highest producer `ts`.
    @discardableResult
    func compareAll(_ plant: Plant, _ report: inout RunReport) async throws -> Int64? {
        guard let range = try await unionBounds(plant) else { return nil }
        return try await compareKeys(plant, in: range.split(into: max(1, Int((range.upper - range.lower) / 50_000))), &report)
    }

    // MARK: merkle — recursive range checksums

    func merkle(_ plant: Plant, _ report: inout RunReport) async throws {
        guard let root = try await unionBounds(plant) else { return }
        let domain = report.digestDomain
        var level = [root]
        if !producer.computesInDatabase(domain) || !consumer.computesInDatabase(domain) {
            // A side that digests on the client reads every record of every range it is asked about
            // (without bytes): ask once, at leaf granularity, instead of once per level.
            let rows = max(try await producer.count(of: plant), try await consumer.count(of: plant))
            level = root.split(into: max(1, (rows + options.leafSize - 1) / options.leafSize))
        }
        var leaves: [KeyRange] = []
        while !level.isEmpty {
            let ranges = level
            async let p = producer.summaries(of: plant, in: ranges, domain: domain)
            async let c = consumer.summaries(of: plant, in: ranges, domain: domain)
            let (ps, cs) = try await (p, c)
            report.rangesCompared += level.count
            var next: [KeyRange] = []
            for (range, (ps, cs)) in zip(level, zip(ps, cs)) where ps != cs {
                if max(ps.count, cs.count) <= options.leafSize || range.upper - range.lower <= 1 {
                    leaves.append(range)
                } else {
                    next += range.split(into: options.fanout)
                }
            }
            level = next
        }
        _ = try await compareKeys(plant, in: leaves, &report)
    }

    // MARK: reconcile — invertible Bloom lookup tables

    /// Where `reconcile` remembers, per plant, how many differing elements its last run found (not
    /// written by a dry run): the next run's first read depends on it.
    public static func reconcileMemoryName(_ plant: Plant) -> String { "batchsync.reconcile.elements.\(plant)" }

    /// docs/design.md §3, "Set reconciliation". The first read depends on what the last run found:
    /// nothing — one whole-plant checksum a side decides convergence before any cell is grouped;
    /// some — a table sized by that count straight away (changes come at a similar rate: one pass);
    /// unknown, or a hinted table that does not peel — a strata estimator (240 cells a side) that
    /// finds few differences outright and otherwise sizes a table of about three cells per estimated
    /// element (grown 4× once if it does not peel; `merkle` if it still does not). Decoded keys are
    /// only candidates: each is verified by a fresh read of both sides' versions (`compareKeys`)
    /// before anything is written.
    func reconcile(_ plant: Plant, _ report: inout RunReport) async throws {
        let domain = report.digestDomain
        let memory = Self.reconcileMemoryName(plant)
        let last = options.ibltCells == nil ? try await consumer.syncState(memory) : nil
        let differencesBefore = report.differences
        func remember(_ found: Int) async throws {
            if !options.dryRun && Int64(found) != last { try await consumer.setSyncState(memory, to: Int64(found)) }
        }
        // Both tables are read at once; returned from a function of their own, so when it returns no
        // `async let` still holds them and the producer's becomes the difference without a copy.
        func both(_ shape: IBLT.Shape) async throws -> (IBLT.Table, IBLT.Table) {
            async let p = producer.cells(of: plant, domain: domain, shape: shape)
            async let c = consumer.cells(of: plant, domain: domain, shape: shape)
            return try await (p, c)
        }
        func difference(_ shape: IBLT.Shape) async throws -> IBLT.Table {
            let (pc, cc) = try await both(shape)
            report.cellsCompared += pc.occupied + cc.occupied
            return IBLT.subtract(consume pc, cc)
        }
        var records: Int?
        func peel(cells requested: Int) async throws -> [IBLT.Element]? {
            var cells = requested
            if cells > 100_000 {
                // Never more than three cells per element either side holds: that always suffices.
                if records == nil { records = try await producer.count(of: plant) + consumer.count(of: plant) }
                cells = min(cells, IBLT.cells(forElements: records!))
            }
            let elements = IBLT.peel(try await difference(.table(cells: cells)))
            if elements == nil { report.peelFailures += 1 }
            return elements
        }

        if last == 0 && producer.computesInDatabase(domain) && consumer.computesInDatabase(domain) {
            // Most likely converged again (StreamSync keeps the pair so): one checksum a side —
            // merkle's root, one read of every digest. (A client-side domain would read every
            // version for it, as the estimator does anyway.)
            async let p = producer.summaries(of: plant, in: [.all], domain: domain)
            async let c = consumer.summaries(of: plant, in: [.all], domain: domain)
            let (ps, cs) = try await (p, c)
            report.rangesCompared += 1
            if ps == cs { return }
        }
        var elements: [IBLT.Element]?
        var cells = 0
        var attempts = 0
        if let fixed = options.ibltCells {
            cells = fixed
            attempts = 1
        } else {
            if let last, last > 0 { elements = try await peel(cells: IBLT.cells(forElements: Int(clamping: last))) }
            if elements == nil {
                let estimate = IBLT.estimate(try await difference(.estimator))
                elements = estimate.elements
                cells = IBLT.cells(forElements: estimate.count)
                attempts = 2
            }
        }
        while elements == nil && attempts > 0 {
            elements = try await peel(cells: cells)
            cells *= 4
            attempts -= 1
        }
        guard let elements else {
            try await merkle(plant, &report)
            return try await remember(2 * (report.differences - differencesBefore))  // a changed record is two elements
        }
        try await remember(elements.count)
        guard !elements.isEmpty else { return }
        try await compareKeys(plant, ids: elements.map(\.key), &report)
    }

    // MARK: shared steps

    func unionBounds(_ plant: Plant) async throws -> KeyRange? {
        let p = try await producer.idBounds(of: plant)
        let c = try await consumer.idBounds(of: plant)
        switch (p, c) {
        case (nil, nil): return nil
        case (let p?, nil): return p
        case (nil, let c?): return c
        case (let p?, let c?): return KeyRange(lower: min(p.lower, c.lower), upper: max(p.upper, c.upper))
        }
    }

    /// Key-by-key comparison of the given ranges: versions from both sides, then only the producer
    /// records that differ are fetched and written. Returns the highest producer `ts` seen.
    func compareKeys(_ plant: Plant, in ranges: [KeyRange], _ report: inout RunReport) async throws -> Int64? {
        var highest: Int64? = nil
        let domain = report.digestDomain
        for range in ranges {
            async let p = producer.versions(of: plant, in: range, pageSize: options.pageSize * 4, domain: domain).collect()
            async let c = consumer.versions(of: plant, in: range, pageSize: options.pageSize * 4, domain: domain).collect()
            let (producerVersions, consumerVersions) = try await (p, c)
            try await repair(plant, producerVersions, consumerVersions, highest: &highest, &report)
        }
        return highest
    }

    /// Key-by-key comparison of the given keys, a page of keys per read on each side.
    func compareKeys(_ plant: Plant, ids: [Int64], _ report: inout RunReport) async throws {
        var highest: Int64? = nil
        let domain = report.digestDomain
        let sorted = Array(Set(ids)).sorted()
        let page = options.pageSize * 4
        for start in stride(from: 0, to: sorted.count, by: page) {
            let slice = Array(sorted[start..<min(start + page, sorted.count)])
            async let p = producer.versions(of: plant, ids: slice, pageSize: page, domain: domain).collect()
            async let c = consumer.versions(of: plant, ids: slice, pageSize: page, domain: domain).collect()
            let (producerVersions, consumerVersions) = try await (p, c)
            try await repair(plant, producerVersions, consumerVersions, highest: &highest, &report)
        }
    }

    /// Plans and carries out the repair of the keys of two id-ordered version lists.
    func repair(
        _ plant: Plant, _ producerVersions: [KeyVersion], _ consumerVersions: [KeyVersion], highest: inout Int64?,
        _ report: inout RunReport
    ) async throws {
        var plan = RepairPlan()
        mergeJoin(producerVersions, consumerVersions) { id, p, c in
            report.rowsCompared += 1
            if let p, !p.isTombstone { highest = max(highest ?? p.version.ts, p.version.ts) }
            let action = KeyAction.decide(producer: p, consumer: c)
            if action != .none, let logger, logger.logLevel <= .debug {
                func side(_ v: KeyVersion?) -> String { v.map { "\($0.version)/\(String(UInt64(bitPattern: $0.digest), radix: 16))" } ?? "none" }
                logger.debug(
                    "Differing key", metadata: ["plant": "\(plant)", "id": "\(id)", "producer": "\(side(p))", "consumer": "\(side(c))", "action": "\(action)"])
            }
            plan.add(id, action)
        }
        try await execute(plan, plant: plant, fetched: [:], &report)
    }

    /// Carries out a plan: fetches the producer records it needs (unless given), applies upserts and
    /// tombstones under the version rule, and confirms conflicts with a fresh producer read before a
    /// compare-and-set rewrite.
    func execute(_ plan: RepairPlan, plant: Plant, fetched: [Int64: ImageRecord], _ report: inout RunReport) async throws {
        report.differences += plan.differences
        if options.dryRun || plan.isEmpty { return }
        var changes: [Change] = []
        // Upserts: producer records, fetched now if the caller did not already hold them.
        let missing = plan.upserts.filter { fetched[$0] == nil }
        var records = fetched
        if !missing.isEmpty {
            for try await record in producer.records(of: plant, ids: missing, pageSize: options.pageSize) {
                records[record.id] = record
                report.rowsFetched += 1
            }
        }
        changes += plan.upserts.compactMap { records[$0].map { Change.upsert($0) } }
        if options.deletes == .propagate {
            let observed = now()
            changes += plan.deletes.map { Change.delete(RecordKey(plant: plant, id: $0), at: observed) }
        }
        changes += plan.producerTombstones.map {
            Change.delete(RecordKey(plant: plant, id: $0.key), at: Timestamp(microsecondsSinceEpoch: $0.value.ts))
        }
        for start in stride(from: 0, to: changes.count, by: options.pageSize) {
            let outcome = try await consumer.apply(Array(changes[start..<min(start + options.pageSize, changes.count)]))
            report.rowsWritten += outcome.applied
            report.rowsSkippedStale += outcome.skippedStale
        }
        if options.deletes == .propagate { report.rowsDeleted += plan.deletes.count }
        if !plan.conflicts.isEmpty { try await resolveConflicts(plan.conflicts, plant: plant, &report) }
    }

    /// Re-reads the producer for keys the consumer holds with a version the producer lacked. If the
    /// producer has since caught up (StreamSync applied a newer change than our first read saw), the
    /// version rule settles it; otherwise the producer's state is written compare-and-set.
    func resolveConflicts(_ conflicts: [Int64: Version], plant: Plant, _ report: inout RunReport) async throws {
        var fresh: [Int64: ImageRecord] = [:]
        for try await record in producer.records(of: plant, ids: Array(conflicts.keys), pageSize: options.pageSize) {
            fresh[record.id] = record
            report.rowsFetched += 1
        }
        var forward: [Change] = []
        var rewrite: [Change] = []
        var expected: [RecordKey: Version] = [:]
        let observed = now()
        for (id, consumerVersion) in conflicts {
            let key = RecordKey(plant: plant, id: id)
            let change = fresh[id].map { Change.upsert($0) } ?? Change.delete(key, at: observed)
            if change.version > consumerVersion {
                forward.append(change)
            } else if change.version != consumerVersion || change.record != nil {
                if change.record == nil && options.deletes == .ignore { continue }
                if options.keepConsumerAhead {
                    report.conflictsKept += 1
                    continue
                }
                rewrite.append(change)
                expected[key] = consumerVersion
            }
        }
        if !forward.isEmpty {
            let outcome = try await consumer.apply(forward)
            report.rowsWritten += outcome.applied
            report.rowsSkippedStale += outcome.skippedStale
        }
        if !rewrite.isEmpty {
            let outcome = try await consumer.replace(rewrite, expecting: expected)
            report.rowsWritten += outcome.applied
            report.rowsReplaced += outcome.applied
            report.rowsSkippedStale += outcome.skippedStale
        }
    }
}

/// The keys of one compared range, grouped by what they need.
struct RepairPlan {
    var upserts: [Int64] = []
    var deletes: [Int64] = []
    var producerTombstones: [Int64: Version] = [:]
    var conflicts: [Int64: Version] = [:]
    var differences = 0

    var isEmpty: Bool { upserts.isEmpty && deletes.isEmpty && producerTombstones.isEmpty && conflicts.isEmpty }

    mutating func add(_ id: Int64, _ action: KeyAction, counted: Bool = true) {
        switch action {
        case .none: return
        case .upsert: upserts.append(id)
        case .delete: deletes.append(id)
        case .applyProducerTombstone(let version): producerTombstones[id] = version
        case .conflict(let consumer): conflicts[id] = consumer
        }
        if counted { differences += 1 }
    }
}

extension PeerTraffic {
    func minus(_ other: PeerTraffic) -> PeerTraffic {
        var result = PeerTraffic()
        result.rowsRead = rowsRead - other.rowsRead
        result.bytesRead = bytesRead - other.bytesRead
        result.rowsWritten = rowsWritten - other.rowsWritten
        result.bytesWritten = bytesWritten - other.bytesWritten
        return result
    }
}
