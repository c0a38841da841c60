import Foundation

/// How long a tombstone is kept before it is purged (docs/design.md §1). A replay of events older than
/// the retention can bring a deleted record back (like Cassandra's `gc_grace_seconds`); the next
/// BatchSync run deletes it again, since the producer no longer has the key.
public struct TombstoneRetention: Sendable, Hashable, CustomStringConvertible {
    public let seconds: Int64

    /// 7 days: the documented default of both jobs.
    public static let `default` = TombstoneRetention(seconds: 7 * 86_400)

    /// Tombstones a store deletes per statement (and transaction) when it purges: small enough that a
    /// purge never holds locks for long, large enough that a day of deletes goes in a few round trips.
    public static let purgeBatchSize = 1_000

    public init(seconds: Int64) { self.seconds = seconds }

    /// Parses `7d`, `36h`, `90m`, `3600s` or plain seconds (`3600`); `field` names the flag in the error.
    public init(parsing text: String, field: String) throws(TombstoneRetentionError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var digits = Substring(trimmed)
        var unit: Int64 = 1
        if let last = trimmed.last, let factor = units[last] {
            digits = trimmed.dropLast()
            unit = factor
        }
        guard let count = Int64(digits), count > 0, count <= Int64.max / 1_000_000 / unit else {
            throw TombstoneRetentionError(field: field, value: text)
        }
        self.seconds = count * unit
    }

    /// The cutoff at `now`: tombstones whose delete is older than this are purged.
    public func cutoff(now: Date = Date()) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: Int64(now.timeIntervalSince1970 * 1_000_000) - seconds * 1_000_000)
    }

    public var description: String {
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

public struct TombstoneRetentionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let value: String

    public init(field: String, value: String) {
        self.field = field
        self.value = value
    }

    public var description: String {
        "\(field) '\(value)': expected a positive duration such as 7d, 36h, 90m or 3600s"
    }
}
