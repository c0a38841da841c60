/// The order of changes (docs/design.md §1): `(ts, tiebreak)` compared lexicographically.
///
/// - `ts`: microseconds since the epoch, UTC. For an upsert, the record's `updated_at ?? created_at`;
///   for a delete, the time of the delete.
/// - `tiebreak`: for an upsert, a hash of the record's canonical content (`ImageRecord.contentHash`),
///   capped below `UInt64.max`; for a delete, `UInt64.max`. So two different records with the same `ts`
///   are ordered the same way everywhere, and a delete beats any upsert of equal `ts`.
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

    public static func upsert(ts: Int64, contentHash: UInt64) -> Version {
        Version(ts: ts, tiebreak: min(contentHash, deleteTiebreak - 1))
    }

    public static func delete(ts: Int64) -> Version { Version(ts: ts, tiebreak: deleteTiebreak) }

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
        "\(Timestamp(microsecondsSinceEpoch: ts))#\(isDelete ? "delete" : String(tiebreak, radix: 16))"
    }
}
