/// One change to apply to a store: an upsert of a record or a delete of a key, with its version.
public struct Change: Sendable, Hashable, CustomStringConvertible {
    public enum Operation: Sendable, Hashable {
        /// Insert or replace the record. With `keepsStoredData`, the record's `data` is not part of the
        /// change and the stored bytes stay (a LIMS event without a `data` key).
        case upsert(ImageRecord, keepsStoredData: Bool)
        /// Leave a tombstone: hides the row from reads until purged.
        case delete
    }

    public let key: RecordKey
    public let version: Version
    public let operation: Operation

    public static func upsert(_ record: ImageRecord, keepsStoredData: Bool = false) -> Change {
        var record = record
        if keepsStoredData { record.data = nil }
        return Change(key: record.key, version: record.version, operation: .upsert(record, keepsStoredData: keepsStoredData))
    }

    /// A delete at `at` (the time of the delete).
    public static func delete(_ key: RecordKey, at: Timestamp) -> Change {
        Change(key: key, version: .delete(ts: at.microsecondsSinceEpoch), operation: .delete)
    }

    public var record: ImageRecord? {
        if case .upsert(let record, _) = operation { return record }
        return nil
    }

    public var description: String {
        switch operation {
        case .upsert(_, let keeps): return "upsert \(key) @\(version)\(keeps ? " (keeps data)" : "")"
        case .delete: return "delete \(key) @\(version)"
        }
    }

    /// Reduces changes to the greatest version per key: what any store ends with after applying them.
    public static func winners(_ changes: some Sequence<Change>) -> [RecordKey: Change] {
        var best: [RecordKey: Change] = [:]
        for change in changes {
            if let current = best[change.key], current.version >= change.version { continue }
            best[change.key] = change
        }
        return best
    }
}
