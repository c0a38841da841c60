import Foundation
import Logging
import Observability
import ServiceLifecycle
import SyncModel

/// One BatchSync run with its reporting: prepares the consumer schema, reconciles, prints the JSON
/// summary line on stdout, records metrics and pushes them when a Pushgateway is configured.
public struct BatchJob: Sendable {
    public let reconciler: Reconciler
    public let metrics: BatchMetrics
    public let pushgateway: Pushgateway?
    public let logger: Logger

    public init(reconciler: Reconciler, metrics: BatchMetrics, pushgateway: Pushgateway?, logger: Logger) {
        self.reconciler = reconciler
        self.metrics = metrics
        self.pushgateway = pushgateway
        self.logger = logger
    }

    @discardableResult
    public func runOnce() async throws -> RunReport {
        do {
            if !reconciler.options.dryRun { try await reconciler.consumer.prepareSchema() }
            // Stream gaps (docs/design.md §8): their plants run first, and the run closes them.
            let started = Timestamp.now
            let gaps = reconciler.options.dryRun ? [] : try await reconciler.consumer.openGaps()
            var report = try await Self.covering(gaps, reconciler).run()
            if !gaps.isEmpty {
                let covered = Set(report.plants)
                let closable = gaps.filter { covered.contains($0.plant.rawValue) && $0.detectedAt < started }
                report.gapsClosed = try await reconciler.consumer.closeGaps(closable.map(\.id), at: .now, by: "batchsync")
                logger.notice(
                    "Stream gaps closed", metadata: ["gaps": "\(report.gapsClosed)", "open_before": "\(gaps.count)"])
            }
            if !reconciler.options.dryRun {
                report.tombstonesPurged = try await reconciler.consumer.purgeTombstones(
                    olderThan: reconciler.options.tombstoneRetention.cutoff())
            }
            FileHandle.standardOutput.write(Data((report.jsonLine() + "\n").utf8))  // unbuffered: one line per run
            metrics.record(report, succeeded: true)
            try await push()
            return report
        } catch {
            metrics.record(
                RunReport(
                    strategy: reconciler.options.strategy, plants: reconciler.options.plants.listed, dryRun: reconciler.options.dryRun),
                succeeded: false)
            try? await push()
            logger.error("batch run failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// The reconciler, with the plants of open gaps first when the plants are listed (`all` has them).
    static func covering(_ gaps: [StreamGap], _ reconciler: Reconciler) -> Reconciler {
        guard case .listed(let listed) = reconciler.options.plants, !gaps.isEmpty else { return reconciler }
        var plants: [Plant] = []
        for plant in gaps.map(\.plant) + listed where !plants.contains(plant) { plants.append(plant) }
        guard plants != listed else { return reconciler }
        var options = reconciler.options
        options.plants = .listed(plants)
        return Reconciler(producer: reconciler.producer, consumer: reconciler.consumer, options: options, now: reconciler.now)
    }

    private func push() async throws {
        guard let pushgateway else { return }
        try await pushgateway.push(metrics.metrics.exposition(), job: metrics.metrics.job)
    }
}

/// Loop mode: a run every `interval` (measured start to start) until graceful shutdown; a failed run
/// is logged and retried at the next tick, a shutdown lets the current run finish.
public struct BatchLoop: Service {
    public let job: BatchJob
    public let interval: Duration
    public let logger: Logger

    public init(job: BatchJob, interval: Duration, logger: Logger) {
        self.job = job
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let clock = ContinuousClock()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let started = clock.now
            do { try await job.runOnce() } catch { /* logged by runOnce; the next tick retries */  }
            let next = started.advanced(by: interval)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(until: next, clock: clock) }
        }
        logger.info("batch loop stopped")
    }
}
