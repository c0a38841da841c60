/// A LIMS plant image (LIMS; see docs/design.md §1 and the README), keyed by `(plant, id)`.
///
/// `sourceID` is provenance, not content: the producer's `_id` where the path that made the record saw
/// one (docs/design.md §2). It is in neither the version nor the digest, and two records that differ
/// only in it are equal.
public struct ImageRecord: Sendable, Hashable {
    public var plant: Plant
    public var id: Int64
    public var cameraId: Int64
    /// The JPEG bytes; `nil` when the source holds null.
    public var data: [UInt8]?
    public var latitude: Double
    public var longitude: Double
    public var disease: String?
    public var percentage: Double?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp?
    public var isActive: Bool
    public var isDeleted: Bool
    /// The producer's `_id` of this record, when known (`SourceID`).
    public var sourceID: SourceID?

    public init(
        plant: Plant, id: Int64, cameraId: Int64, data: [UInt8]?, latitude: Double, longitude: Double,
        disease: String? = nil, percentage: Double? = nil, createdAt: Timestamp, updatedAt: Timestamp? = nil,
        isActive: Bool = true, isDeleted: Bool = false, sourceID: SourceID? = nil
    ) {
        self.plant = plant
        self.id = id
        self.cameraId = cameraId
        self.data = data
        self.latitude = latitude
        self.longitude = longitude
        self.disease = disease
        self.percentage = percentage
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.isActive = isActive
        self.isDeleted = isDeleted
        self.sourceID = sourceID
    }

    /// Equal in every field but `sourceID` (provenance, not content).
    public static func == (lhs: ImageRecord, rhs: ImageRecord) -> Bool {
        lhs.plant == rhs.plant && lhs.id == rhs.id && lhs.cameraId == rhs.cameraId && lhs.data == rhs.data
            && lhs.latitude == rhs.latitude && lhs.longitude == rhs.longitude && lhs.disease == rhs.disease
            && lhs.percentage == rhs.percentage && lhs.createdAt == rhs.createdAt && lhs.updatedAt == rhs.updatedAt
            && lhs.isActive == rhs.isActive && lhs.isDeleted == rhs.isDeleted
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(plant)
        hasher.combine(id)
        hasher.combine(createdAt)
        hasher.combine(updatedAt)
    }

    public var key: RecordKey { RecordKey(plant: plant, id: id) }

    /// `updated_at ?? created_at`: the `ts` of this record's version.
    public var versionTimestamp: Timestamp { updatedAt ?? createdAt }

    public var version: Version {
        Version.upsert(ts: versionTimestamp.microsecondsSinceEpoch, contentHash: contentHash)
    }

    /// Hash of the canonical encoding of every field except `data` (whose hash is `dataHash`).
    ///
    /// `data` stays out so that an event that omits the image bytes ("keep the stored bytes") still
    /// carries the same version as the full record; LIMS never changes an image's bytes after creation.
    public var contentHash: UInt64 {
        var h = ContentHasher()
        h.combine("plantsync.record.v1")
        h.combine(plant.rawValue)
        h.combine(id)
        h.combine(cameraId)
        h.combine(latitude)
        h.combine(longitude)
        h.combine(disease != nil)
        if let disease { h.combine(disease) }
        h.combine(percentage != nil)
        if let percentage { h.combine(percentage) }
        h.combine(createdAt.microsecondsSinceEpoch)
        h.combine(updatedAt != nil)
        if let updatedAt { h.combine(updatedAt.microsecondsSinceEpoch) }
        h.combine(isActive)
        h.combine(isDeleted)
        return h.finalize()
    }

    /// Hash of the image bytes; 0 for null.
    public var dataHash: UInt64 { ImageRecord.dataHash(data) }

    public static func dataHash(_ data: [UInt8]?) -> UInt64 {
        guard let data else { return 0 }
        var h = ContentHasher()
        h.combine(UInt64(data.count))
        h.combine(bytes: data)
        return h.finalize()
    }

    /// The data hash a store keeps while a record's bytes are not yet known — its bytes register is
    /// empty because every change it saw for the key came without bytes (docs/design.md §1). It is the
    /// hash of no bytes: not null's (0), and not that of any byte string (those start with a length,
    /// this with `UInt64.max`), so such a row's digest differs from the producer's record and BatchSync
    /// sees the difference and fills the bytes in.
    public static let unknownDataHash: UInt64 = {
        var h = ContentHasher()
        h.combine(UInt64.max)
        h.combine("plantsync.data.unknown")
        return h.finalize()
    }()

    /// The per-record digest that range checksums sum up (`RowDigest`).
    public var digest: Int64 { RowDigest.of(version: version, dataHash: dataHash) }
}

/// The canonical per-record digest and range checksum, identical on every engine.
///
/// digest = stored tiebreak + data hash (mod 2^64). The tiebreak hashes every field but `data`, and the
/// data hash covers the bytes, so any difference in any field changes the digest, while each engine can
/// compute range sums from stored columns alone, without reading image bytes.
/// A range checksum is the sum of its digests mod 2^64, assembled from sums of 32-bit halves (each a
/// non-negative integer, which SQL `sum(bigint)` and MongoDB `$sum` add without overflow):
/// checksum = (Σ hi(tb) + Σ hi(dh)) · 2^32 + Σ lo(tb) + Σ lo(dh)  (mod 2^64).
public enum RowDigest {
    public static func of(version: Version, dataHash: UInt64) -> Int64 {
        of(storedTiebreak: version.storedTiebreak, dataHash: Int64(bitPattern: dataHash))
    }

    public static func of(storedTiebreak: Int64, dataHash: Int64) -> Int64 {
        storedTiebreak &+ dataHash
    }

    /// `highSum` = Σ of the high 32-bit halves, `lowSum` = Σ of the low halves (both unsigned).
    public static func checksum(highSum: Int64, lowSum: Int64) -> UInt64 {
        (UInt64(bitPattern: highSum) << 32) &+ UInt64(bitPattern: lowSum)
    }

    public static func checksum(of digests: some Sequence<Int64>) -> UInt64 {
        digests.reduce(0) { $0 &+ UInt64(bitPattern: $1) }
    }
}
