import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import SyncModel

/// Purges consumer tombstones older than the retention (docs/design.md §1), once at start and then every
/// `interval`, until graceful shutdown. The store deletes in small batches, so a purge never holds long
/// locks. A failed purge is logged and tried again at the next tick: the tombstones only wait longer.
public struct TombstonePurger: Service {
    public let store: any TombstonePurging
    public let retention: TombstoneRetention
    public let interval: Duration
    public let metrics: StreamMetrics?
    public let logger: Logger

    public init(
        store: any TombstonePurging, retention: TombstoneRetention, interval: Duration = .seconds(3600),
        metrics: StreamMetrics? = nil, logger: Logger
    ) {
        self.store = store
        self.retention = retention
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    /// One purge at `now`; returns how many tombstones went.
    @discardableResult
    public func purgeOnce(now: Date = Date()) async throws -> Int {
        let purged = try await store.purgeTombstones(olderThan: retention.cutoff(now: now))
        metrics?.tombstonesPurged.increment(by: Int64(purged))
        if purged > 0 { logger.info("Purged tombstones", metadata: ["count": "\(purged)", "retention": "\(retention)"]) }
        return purged
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await purgeOnce()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Tombstone purge failed; retrying at the next interval", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
