import Logging
import StoreMetering
import SyncModel

/// Heals stream gaps with BatchSync's own code (docs/design.md §8): a key gap by those keys' versions
/// on both sides and the records that differ; an offset gap by a `reconcile` of the plant (bytes in
/// proportion to the differences). Every write goes through the consumer's version rule, so a repair
/// never fights the stream running beside it.
public struct ReconcilingGapRepair: GapRepairing {
    public let producer: any DiffSource
    public let consumer: any ConsumerStore
    public let options: BatchOptions
    /// Where each differing key a repair finds is logged at debug level (`Reconciler.logger`).
    public var logger: Logger?

    /// `options`: BatchSync's; the strategy is `reconcile` whatever it says, and the plant the gap's.
    public init(producer: any DiffSource, consumer: any ConsumerStore, options: BatchOptions = BatchOptions()) {
        self.producer = producer
        self.consumer = consumer
        var options = options
        options.strategy = .reconcile
        options.dryRun = false
        self.options = options
    }

    public func repair(_ plant: Plant, keys: [Int64]?) async throws -> GapRepairReport {
        var options = self.options
        options.plants = .listed([plant])
        var reconciler = Reconciler(producer: producer, consumer: consumer, options: options)
        reconciler.logger = logger
        let report: RunReport
        if let keys { report = try await reconciler.repair(keys: keys, of: plant) } else { report = try await reconciler.run() }
        return GapRepairReport(
            differences: report.differences, rowsWritten: report.rowsWritten,
            bytes: report.producer.bytesRead + report.consumer.bytesRead + report.consumer.bytesWritten, seconds: report.durationSeconds)
    }
}
