import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import SyncModel
import Synchronization

/// What the open gaps look like now (`/status`, the gauges).
public struct GapStatus: Sendable, Hashable {
    public var open: [StreamGap] = []
    /// The ledger was read at least once.
    public var known = false
    /// The last failure to read the ledger or to heal, if the latest attempt failed.
    public var lastError: String?
    /// Whether StreamSync heals gaps itself (`--producer-uri`), or leaves them to BatchSync.
    public var healing = false
    public var healed = 0
}

/// Watches the gap ledger (docs/design.md §8) and, given a producer, heals each open gap in the
/// background with BatchSync's own code: a plant whose gaps are all dead-lettered keys by reading and
/// applying those keys; any other gap by reconciling the plant. A gap closes only after a repair that
/// started after it was detected finished. Failures (a producer that is down or refuses) are logged,
/// counted and retried per plant with capped backoff; the stream never waits for any of this.
public final class GapHealer: Service, Sendable {
    public let ledger: any GapLedger
    public let repairer: (any GapRepairing)?
    public let metrics: StreamMetrics
    public let logger: Logger
    public let interval: Duration
    public let backoff: Backoff
    /// Whether the stream has applied what the log held when a gap was met (`StreamPipeline.hasCaughtUp`).
    public let streamCaughtUp: @Sendable (StreamGap) -> Bool
    /// How long an offset gap's repair waits for that, at most (a stream that is stuck heals anyway).
    public let catchUpLimit: Duration
    private let state = Mutex(State())

    private struct State {
        var status = GapStatus()
        var failures: [Plant: Int] = [:]
        var notBefore: [Plant: ContinuousClock.Instant] = [:]
        var loggedAt: [Plant: ContinuousClock.Instant] = [:]
    }

    public init(
        ledger: any GapLedger, repairer: (any GapRepairing)?, metrics: StreamMetrics, logger: Logger,
        interval: Duration = .seconds(1), backoff: Backoff = Backoff(initial: .seconds(1), cap: .seconds(60)),
        streamCaughtUp: @escaping @Sendable (StreamGap) -> Bool = { _ in true }, catchUpLimit: Duration = .seconds(60)
    ) {
        self.streamCaughtUp = streamCaughtUp
        self.catchUpLimit = catchUpLimit
        self.ledger = ledger
        self.repairer = repairer
        self.metrics = metrics
        self.logger = logger
        self.interval = interval
        self.backoff = backoff
        state.withLock { $0.status.healing = repairer != nil }
    }

    public var status: GapStatus { state.withLock { $0.status } }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await tick()
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }

    /// One look at the ledger, and one repair attempt per plant with open gaps that is not backing off.
    public func tick() async {
        let open: [StreamGap]
        do {
            open = try await ledger.openGaps()
        } catch is CancellationError {
            return
        } catch {
            state.withLock { $0.status.lastError = "read the gap ledger: \(error)" }
            logger.warning("Cannot read the gap ledger; retrying", metadata: ["error": "\(error)"])
            return
        }
        metrics.gaps.open(open)
        state.withLock {
            $0.status.open = open
            $0.status.known = true
            if repairer == nil { $0.status.lastError = nil }
        }
        guard let repairer, !open.isEmpty else { return }
        var plants: [Plant] = []
        for gap in open where !plants.contains(gap.plant) { plants.append(gap.plant) }  // oldest gap first
        for plant in plants {
            if Task.isCancelled { return }
            let waiting = state.withLock { s in s.notBefore[plant].map { ContinuousClock.now < $0 } ?? false }
            if waiting { continue }
            let gaps = open.filter { $0.plant == plant }
            // An offset gap's reconcile waits until the stream has applied what survived in the log
            // (else it fetches those keys too), for `catchUpLimit` at most.
            let now = Timestamp.now
            let limit = catchUpLimit / .seconds(1)
            let pending = gaps.contains {
                !$0.isKeyGap && !streamCaughtUp($0) && now.secondsSinceEpoch - $0.detectedAt.secondsSinceEpoch < limit
            }
            if pending { continue }
            await heal(plant, gaps, with: repairer)
        }
        let remaining = (try? await ledger.openGaps()) ?? open
        metrics.gaps.open(remaining)
        state.withLock { $0.status.open = remaining }
    }

    private func heal(_ plant: Plant, _ gaps: [StreamGap], with repairer: any GapRepairing) async {
        let started = Timestamp.now
        let keys = gaps.allSatisfy(\.isKeyGap) ? Array(Set(gaps.compactMap(\.recordID))).sorted() : nil
        // Only gaps detected before this repair started can be closed by it.
        let closable = gaps.filter { $0.detectedAt < started }
        guard !closable.isEmpty else { return }
        do {
            let report = try await repairer.repair(plant, keys: keys)
            let now = Timestamp.now
            let closed = try await ledger.closeGaps(closable.map(\.id), at: now, by: "streamsync")
            metrics.gaps.healed(closable, at: now)
            state.withLock { s in
                s.failures[plant] = nil
                s.notBefore[plant] = nil
                s.status.healed += closed
                s.status.lastError = nil
            }
            logger.notice(
                "Stream gaps healed from the producer",
                metadata: [
                    "plant": "\(plant)", "gaps": "\(closed)", "repair": keys == nil ? "reconcile" : "\(keys!.count) keys",
                    "differences": "\(report.differences)", "rows_written": "\(report.rowsWritten)", "bytes": "\(report.bytes)",
                    "seconds": "\(String(format: "%.3f", report.seconds))",
                ])
        } catch is CancellationError {
            return
        } catch {
            metrics.gaps.healFailures.increment()
            let (attempt, log) = state.withLock { s -> (Int, Bool) in
                let attempt = (s.failures[plant] ?? 0) + 1
                s.failures[plant] = attempt
                s.notBefore[plant] = .now + backoff.delay(attempt: attempt)
                s.status.lastError = "heal \(plant): \(error)"
                let log = s.loggedAt[plant].map { ContinuousClock.now - $0 > .seconds(60) } ?? true
                if log { s.loggedAt[plant] = .now }
                return (attempt, log)
            }
            if log {
                logger.warning(
                    "Healing stream gaps failed; they stay open and are retried with backoff (the stream goes on)",
                    metadata: ["plant": "\(plant)", "gaps": "\(closable.count)", "attempt": "\(attempt)", "error": "\(error)"])
            }
        }
    }
}
