/// The function a range checksum sums and a key's digest is (docs/design.md §3, "Digest domains").
///
/// Two stores can decide a range converged without moving its records only if both compute the same
/// per-record digest. PlantSync's own stores keep bookkeeping for `.plantsync`; a foreign producer has
/// none, so its database computes a digest from its own fields — `.postgres` in SQL, `.mongo` with
/// `$toHashedIndexKey` — which PlantSync's store of the same engine also computes from the columns it
/// holds. Across engines neither hash exists on the other side, so the pair compares `.metadata`: every
/// field but the image bytes, plus the bytes' length.
public enum DigestDomain: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// `RowDigest`: the version tiebreak plus `ImageRecord.dataHash`, from PlantSync's bookkeeping.
    case plantsync
    /// The PostgreSQL digest (`md5` of the canonical binary fields with `md5` of the bytes), computed by
    /// the server from any table's columns: full content, image bytes included.
    case postgres
    /// The MongoDB digest (`$toHashedIndexKey` of a sub-document of LIMS's fields, bytes included),
    /// computed by the server: full content.
    case mongo
    /// `MetadataDigest`: the content hash of every field but the bytes, plus the bytes' length. Every
    /// store can compute it; a foreign store by projecting its records without the bytes.
    case metadata

    public var description: String { rawValue }

    /// Whether the domain covers the image bytes themselves (not just their length).
    public var comparesBytes: Bool { self != .metadata }

    /// The first of the producer's domains (best first) the consumer can compute too; `.metadata` is
    /// common to every store.
    public static func shared(producer: [DigestDomain], consumer: [DigestDomain]) -> DigestDomain {
        producer.first(where: consumer.contains) ?? .metadata
    }
}

/// The `.metadata` digest: every field but the image bytes (the version tiebreak, a hash of exactly
/// those, `ImageRecord.contentHash`) plus a multiple of the bytes' length code. Linear in the length,
/// so a store sums `storedTiebreak` halves and length codes separately and the checksum is assembled
/// mod 2^64: checksum = Σ tb + K · Σ code.
public enum MetadataDigest {
    /// An odd 64-bit multiplier (the golden ratio's), so distinct length sums map to distinct values.
    public static let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The length code of the bytes: 0 for null, `count + 1` for bytes (an empty image is not null).
    public static func lengthCode(byteCount: Int?) -> UInt64 { byteCount.map { UInt64($0) + 1 } ?? 0 }

    /// The code a consumer's not-yet-known bytes count with (docs/design.md §1): no image has it.
    public static let unknownLengthCode: UInt64 = 1 << 62

    public static func of(version: Version, lengthCode: UInt64) -> Int64 {
        Int64(bitPattern: UInt64(bitPattern: version.storedTiebreak) &+ multiplier &* lengthCode)
    }

    public static func of(_ record: ImageRecord) -> Int64 {
        of(version: record.version, lengthCode: lengthCode(byteCount: record.data?.count))
    }

    /// A range checksum from the sums a store computes: of the tiebreak's 32-bit halves, of the known
    /// length codes, and the count of rows whose bytes are not yet known.
    public static func checksum(tiebreakHighSum: Int64, tiebreakLowSum: Int64, lengthCodeSum: Int64, unknownCount: Int64) -> UInt64 {
        RowDigest.checksum(highSum: tiebreakHighSum, lowSum: tiebreakLowSum)
            &+ multiplier &* UInt64(bitPattern: lengthCodeSum)
            &+ multiplier &* unknownLengthCode &* UInt64(bitPattern: unknownCount)
    }
}

