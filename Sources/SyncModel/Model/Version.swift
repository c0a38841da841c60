/// The order of changes (docs/design.md §1): `(ts, tiebreak)` compared lexicographically.
///
/// - `ts`: microseconds since the epoch, UTC. For an upsert, the record's `updated_at ?? created_at`;
///   for a delete, the time of the delete.
/// - `tiebreak`: for an upsert, a hash of the record's canonical content (`ImageRecord.contentHash`),
///   kept within `1 … UInt64.max − 1`; for a delete, `UInt64.max`. So two different records with the
///   same `ts` are ordered the same way everywhere, and a delete beats any upsert of equal `ts`.
/// - An upsert that keeps record fields (Debezium's unavailable-value placeholder in `disease` or
///   `gps_coordinates`) does not know its whole content, hence not its content hash: its tiebreak is
///   `0`, below every whole record of the same `ts` (`Version.keepingFields(ts:)`).
///
/// A change is applied only if its version is greater than the stored one; equal means "seen already".
public struct Version: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let ts: Int64
    public let tiebreak: UInt64

    public init(ts: Int64, tiebreak: UInt64) {
        self.ts = ts
        self.tiebreak = tiebreak
    }

    /// The tiebreak every delete carries: greater than any upsert's.
    public static let deleteTiebreak = UInt64.max

    /// The tiebreak of an upsert that keeps record fields: less than any whole record's.
    public static let keepingFieldsTiebreak: UInt64 = 0

    public static func upsert(ts: Int64, contentHash: UInt64) -> Version {
        Version(ts: ts, tiebreak: min(max(contentHash, keepingFieldsTiebreak + 1), deleteTiebreak - 1))
    }

    /// The version of an upsert at `ts` that keeps record fields: a whole record of the same `ts` (what
    /// BatchSync reads from the producer, or the same event with its values) beats it, and it beats
    /// every version of an earlier `ts`.
    public static func keepingFields(ts: Int64) -> Version { Version(ts: ts, tiebreak: keepingFieldsTiebreak) }

    public static func delete(ts: Int64) -> Version { Version(ts: ts, tiebreak: deleteTiebreak) }

    /// Below every version a change can carry: the version of an empty bytes register ("bytes not yet
    /// known"), so the first change that carries bytes always fills it.
    public static let minimum = Version(ts: Int64.min, tiebreak: 0)

    public var isDelete: Bool { tiebreak == Version.deleteTiebreak }

    public static func < (lhs: Version, rhs: Version) -> Bool {
        lhs.ts != rhs.ts ? lhs.ts < rhs.ts : lhs.tiebreak < rhs.tiebreak
    }

    /// The tiebreak as a signed 64-bit value whose signed order equals the unsigned order of `tiebreak`
    /// (sign bit flipped). Databases without unsigned integers store and compare this form.
    public var storedTiebreak: Int64 { Int64(bitPattern: tiebreak ^ (1 << 63)) }

    public init(ts: Int64, storedTiebreak: Int64) {
        self.init(ts: ts, tiebreak: UInt64(bitPattern: storedTiebreak) ^ (1 << 63))
    }

    public var description: String {
        if self == .minimum { return "minimum" }
        return "\(Timestamp(microsecondsSinceEpoch: ts))#\(isDelete ? "delete" : String(tiebreak, radix: 16))"
    }
}
