import Foundation

/// One partition of one topic, as the gap ledger names it (SyncModel does not depend on the Kafka module).
public struct StreamPartition: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let topic: String
    public let partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: StreamPartition, rhs: StreamPartition) -> Bool { (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition) }
    public var description: String { "\(topic)[\(partition)]" }
}

/// Why StreamSync will never read some changes (docs/design.md §8, "Gaps").
public enum GapReason: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// The committed offset is below the log start: retention or compaction deleted what was not read.
    case retention
    /// The group's committed offset moved forward past what StreamSync committed (an operator's
    /// `--reset-offsets`, another consumer in the group's name).
    case offsetReset = "offset-reset"
    /// No committed offset and `--auto-offset-reset latest`: the log before the end was skipped.
    case startedAtLatest = "started-at-latest"
    /// The committed offset is past the log end: the topic was deleted and recreated, or truncated.
    /// How many changes were lost is unknown.
    case logTruncated = "log-truncated"
    /// A message was dead-lettered: its change was not applied.
    case deadLetter = "dead-letter"
    /// A delete or partial update named its record by a producer `_id` the consumer never saw (its
    /// create was never read): the change could not be applied (docs/design.md §2).
    case unknownSourceID = "unknown-source-id"
    /// A partial update that does not set `updated_at`: it has no version to be ordered by, so it is not
    /// applied; its key is healed from the producer (docs/design.md §2).
    case unorderedPatch = "unordered-patch"

    public var description: String { rawValue }
}

/// A range of offsets (or one message's key) whose changes the consumer has not applied and never
/// will from the stream: what healing must repair from the producer.
public struct StreamGap: Sendable, Hashable, CustomStringConvertible {
    /// Unique, assigned when the gap is made (a UUID), so that both engines store it as it is.
    public var id: String
    public var plant: Plant
    public var partition: StreamPartition
    /// The first offset never read.
    public var firstOffset: Int64
    /// The offset after the last one never read; `nil` when unknown (`logTruncated`).
    public var endOffset: Int64?
    /// The record id, when the gap is one message whose key decoded (a dead letter): a key gap, healed
    /// by that key alone. `nil`: an offset gap, healed by reconciling the plant.
    public var recordID: Int64?
    public var reason: GapReason
    public var detectedAt: Timestamp

    public init(
        id: String = UUID().uuidString.lowercased(), plant: Plant, partition: StreamPartition, firstOffset: Int64, endOffset: Int64?,
        recordID: Int64? = nil, reason: GapReason, detectedAt: Timestamp
    ) {
        self.id = id
        self.plant = plant
        self.partition = partition
        self.firstOffset = firstOffset
        self.endOffset = endOffset
        self.recordID = recordID
        self.reason = reason
        self.detectedAt = detectedAt
    }

    /// Offsets lost (0 when unknown).
    public var lostOffsets: Int64 { endOffset.map { max(0, $0 - firstOffset) } ?? 0 }
    public var isKeyGap: Bool { recordID != nil }

    public var description: String {
        let range = "[\(firstOffset), \(endOffset.map(String.init) ?? "?"))"
        return "\(reason) gap of \(plant) at \(partition) offsets \(range)" + (recordID.map { " key \(plant)/\($0)" } ?? "")
    }
}

/// Where StreamSync records what it will never read, durably and before it commits past it, and where
/// healing (StreamSync's own with `--producer-uri`, or the next BatchSync run) closes it
/// (docs/design.md §8). Kept in the consumer database, beside the data it is about.
public protocol GapLedger: Sendable {
    /// Records gaps (one transaction); recording a gap already recorded (same id) changes nothing.
    func recordGaps(_ gaps: [StreamGap]) async throws

    /// The gaps not yet closed, oldest first.
    func openGaps() async throws -> [StreamGap]

    /// Closes the gaps with these ids that are still open; `closedBy` names the repair ("streamsync",
    /// "batchsync"). Returns how many it closed.
    @discardableResult
    func closeGaps(_ ids: [String], at: Timestamp, by closedBy: String) async throws -> Int

    /// The next offset per partition that consumer group `group` recorded before its last commit.
    func streamPositions(group: String) async throws -> [StreamPartition: Int64]

    /// Records the next offset per partition, before the same offsets are committed to Kafka, so that a
    /// committed offset beyond it can only be someone else's reset (one transaction). A position never
    /// moves back: a member that lost its partitions (a session timeout) and records late cannot make
    /// the next member's own commits look like a reset.
    func recordStreamPositions(_ positions: [StreamPartition: Int64], group: String) async throws
}

/// Repairs what a gap lost, from the producer, under the version rule (BatchSync's own code; the
/// stream never fights it).
public protocol GapRepairing: Sendable {
    /// Repairs `keys` of `plant`, or the whole plant when `keys` is nil (a reconcile: bytes in
    /// proportion to the differences). Returns once the consumer holds what the producer holds for them.
    func repair(_ plant: Plant, keys: [Int64]?) async throws -> GapRepairReport
}

/// What one repair moved.
public struct GapRepairReport: Sendable, Hashable {
    public var differences: Int
    public var rowsWritten: Int
    /// Payload bytes read from the producer and the consumer, and written to the consumer.
    public var bytes: Int
    public var seconds: Double

    public init(differences: Int, rowsWritten: Int, bytes: Int, seconds: Double) {
        self.differences = differences
        self.rowsWritten = rowsWritten
        self.bytes = bytes
        self.seconds = seconds
    }
}

/// The ledger holds something that is no gap (a row or document written by hand or by a later release).
public struct GapLedgerError: StoreError, Equatable {
    public let store: String
    public let detail: String

    public init(store: String, detail: String) {
        self.store = store
        self.detail = detail
    }

    public var isTransient: Bool { false }
    public var description: String { "gap ledger in \(store): \(detail)" }
}
