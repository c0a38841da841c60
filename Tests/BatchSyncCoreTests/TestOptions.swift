import BatchSyncCore
import SyncModel

extension BatchOptions {
    /// Small ranges, fan-out and pages, so that a few hundred records exercise every level of the diff.
    static func small(_ strategy: SyncStrategy, _ configure: (inout BatchOptions) -> Void = { _ in }) -> BatchOptions {
        var options = BatchOptions()
        options.strategy = strategy
        options.leafSize = 16
        options.fanout = 4
        options.pageSize = 50
        configure(&options)
        return options
    }
}
