/// One change to apply to a store: an upsert of a record or a delete of a key, with its version.
public struct Change: Sendable, Hashable, CustomStringConvertible {
    public enum Operation: Sendable, Hashable {
        /// Insert or replace the record, except the `kept` fields: those are not part of the change, and
        /// the values the store holds stay (`KeptFields`). The record holds `nil`/`0` in their place.
        case upsert(ImageRecord, kept: KeptFields)
        /// Leave a tombstone: hides the row from reads until purged. It leaves the bytes register as it
        /// is (docs/design.md §1).
        case delete
    }

    public let key: RecordKey
    public let version: Version
    public let operation: Operation

    /// An upsert; with `keepsStoredData` (a LIMS event without a `data` key) it carries no bytes.
    public static func upsert(_ record: ImageRecord, keepsStoredData: Bool = false) -> Change {
        upsert(record, keeping: keepsStoredData ? .data : [])
    }

    /// An upsert that does not carry the `kept` fields. Keeping record fields (not only `data`) makes
    /// its version `Version.keepingFields(ts:)`: its content hash cannot be known.
    public static func upsert(_ record: ImageRecord, keeping kept: KeptFields) -> Change {
        var record = record
        if kept.contains(.data) { record.data = nil }
        if kept.contains(.disease) { record.disease = nil }
        if kept.contains(.gpsCoordinates) {
            record.latitude = 0
            record.longitude = 0
        }
        let version =
            kept.isDisjoint(with: .recordFields)
            ? record.version : Version.keepingFields(ts: record.versionTimestamp.microsecondsSinceEpoch)
        return Change(key: record.key, version: version, operation: .upsert(record, kept: kept))
    }

    /// A delete at `at` (the time of the delete).
    public static func delete(_ key: RecordKey, at: Timestamp) -> Change {
        Change(key: key, version: .delete(ts: at.microsecondsSinceEpoch), operation: .delete)
    }

    public var record: ImageRecord? {
        if case .upsert(let record, _) = operation { return record }
        return nil
    }

    /// The fields this change does not carry (none for a delete, which states that there is no record).
    public var kept: KeptFields {
        if case .upsert(_, let kept) = operation { return kept }
        return []
    }

    /// An upsert that carries image bytes (possibly null): it competes for the bytes register.
    public var carriesBytes: Bool { record != nil && !kept.contains(.data) }

    /// An upsert that keeps record fields: it only updates a live stored record.
    public var keepsRecordFields: Bool { !kept.isDisjoint(with: .recordFields) }

    public var description: String {
        switch operation {
        case .upsert(_, let kept): return "upsert \(key) @\(version)\(kept.isEmpty ? "" : " (keeps \(kept.names.joined(separator: ", ")))")"
        case .delete: return "delete \(key) @\(version)"
        }
    }

    /// Reduces changes to what any store ends with after applying them, per key (`KeyWinners`): the
    /// greatest record version and, apart from it, the greatest version that carried bytes.
    public static func reduce(_ changes: some Sequence<Change>) -> [RecordKey: KeyWinners] {
        var reduced: [RecordKey: KeyWinners] = [:]
        for change in changes { reduced[change.key, default: KeyWinners(key: change.key)].add(change) }
        return reduced
    }
}
