import Foundation
import SyncModel

/// End-to-end freshness per approach: from the producer's commit of a change to the moment the change
/// (or a newer version of its key) is visible in that approach's consumer. Polls each consumer for the
/// versions of the keys still pending (32-byte reads, outside the measured proxies).
public actor FreshnessTracker {
    struct Pending {
        let key: RecordKey
        let version: Version
        let committedAt: Date
    }

    private let consumers: [String: any DiffSource]
    private var pending: [String: [Pending]] = [:]
    private var samples: [String: [Double]] = [:]

    public init(consumers: [String: any DiffSource]) {
        self.consumers = consumers
        for name in consumers.keys {
            pending[name] = []
            samples[name] = []
        }
    }

    public func track(_ change: WorkloadChange) {
        for name in consumers.keys {
            pending[name, default: []].append(Pending(key: change.key, version: change.version, committedAt: change.committedAt))
        }
    }

    /// Checks every pending change once; resolved ones become samples.
    public func poll() async throws {
        for (name, store) in consumers {
            guard let waiting = pending[name], !waiting.isEmpty else { continue }
            var still: [Pending] = []
            var seen: [RecordKey: Version?] = [:]
            for item in waiting {
                if seen[item.key] == nil {
                    let versions = try await store.versions(
                        of: item.key.plant, in: KeyRange(lower: item.key.id, upper: item.key.id + 1), pageSize: 1
                    ).collect()
                    seen[item.key] = .some(versions.first?.version)
                }
                if let stored = seen[item.key] ?? nil, stored >= item.version {
                    samples[name, default: []].append(Date().timeIntervalSince(item.committedAt))
                } else {
                    still.append(item)
                }
            }
            pending[name] = still
        }
    }

    public func pendingCount(_ name: String) -> Int { pending[name]?.count ?? 0 }

    public func summary(_ name: String) -> FreshnessSummary { FreshnessSummary(samples[name] ?? [], unresolved: pendingCount(name)) }
}

/// Freshness percentiles in seconds.
public struct FreshnessSummary: Sendable, Codable, Equatable {
    public var count: Int
    public var p50: Double?
    public var p99: Double?
    public var max: Double?
    /// Changes still not visible when the run ended.
    public var unresolved: Int

    public init(_ samples: [Double], unresolved: Int) {
        let sorted = samples.sorted()
        count = sorted.count
        self.unresolved = unresolved
        func percentile(_ q: Double) -> Double? {
            sorted.isEmpty ? nil : sorted[Swift.min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded(.up)))]
        }
        p50 = percentile(0.5)
        p99 = percentile(0.99)
        max = sorted.last
    }
}
