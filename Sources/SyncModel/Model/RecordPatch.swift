/// Some fields of a record, set (or, where the field may be null, set to null): a MongoDB update whose
/// event carries only `updateDescription` (no `fullDocument`), or Debezium MongoDB's `patch` /
/// `updateDescription` without a full `after` (docs/design.md §2, "Partial updates").
///
/// A patch names its record by the producer's `_id` alone (`SourceChange`). StreamSync resolves it
/// against the consumer store's copy of the record and applies the result as an ordinary upsert under
/// the version rule: the patched record's version is that of its new `updated_at`, so a patch must set
/// `updated_at` (LIMS sets it on every update); one that does not cannot be ordered and is recorded
/// for healing instead. A patch that does not set `data` keeps the stored bytes.
///
/// Each property is `nil` when the patch leaves the field as it is. The double optionals of nullable
/// fields tell "not set" (`nil`) from "set to null" (`.some(nil)`: a `removedFields` entry, or an
/// explicit null).
public struct RecordPatch: Sendable, Hashable {
    public var cameraId: Int64?
    public var data: [UInt8]??
    public var latitude: Double?
    public var longitude: Double?
    public var disease: String??
    public var percentage: Double??
    public var createdAt: Timestamp?
    public var updatedAt: Timestamp??
    public var isActive: Bool?
    public var isDeleted: Bool?

    public init(
        cameraId: Int64? = nil, data: [UInt8]?? = nil, latitude: Double? = nil, longitude: Double? = nil,
        disease: String?? = nil, percentage: Double?? = nil, createdAt: Timestamp? = nil, updatedAt: Timestamp?? = nil,
        isActive: Bool? = nil, isDeleted: Bool? = nil
    ) {
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
    }

    /// Whether the patch sets the image bytes (else the stored ones stay).
    public var setsData: Bool { data != nil }

    /// Whether the patch carries its own version time (`updated_at` set to a time).
    public var hasVersionTime: Bool {
        if case .some(.some) = updatedAt { return true }
        return false
    }

    /// `record` with this patch's fields set; the key and `sourceID` stay.
    public func applied(to record: ImageRecord) -> ImageRecord {
        var patched = record
        if let cameraId { patched.cameraId = cameraId }
        if let data { patched.data = data }
        if let latitude { patched.latitude = latitude }
        if let longitude { patched.longitude = longitude }
        if let disease { patched.disease = disease }
        if let percentage { patched.percentage = percentage }
        if let createdAt { patched.createdAt = createdAt }
        if let updatedAt { patched.updatedAt = updatedAt }
        if let isActive { patched.isActive = isActive }
        if let isDeleted { patched.isDeleted = isDeleted }
        return patched
    }

    /// The upsert this patch makes of the stored `record`: the patched record, keeping the stored bytes
    /// unless the patch sets them.
    public func change(patching record: ImageRecord) -> Change {
        .upsert(applied(to: record), keeping: setsData ? [] : .data)
    }
}
