/// What a multiset of changes comes to for one key (docs/design.md §1): the record of the greatest
/// version, and — a register of its own — the bytes of the greatest version that carried bytes. The
/// two may come from different changes (a create with bytes, then an update without them).
///
/// Stores reduce each batch to one `KeyWinners` per key and write both parts under the version rule;
/// equal versions are the same change seen again (the first one reduced stays).
public struct KeyWinners: Sendable, Hashable {
    public let key: RecordKey
    /// The greatest-version change that states the whole record: an upsert that keeps no record
    /// field (it may keep the bytes), or a delete. `nil` if there is none.
    public private(set) var record: Change?
    /// The greatest-version upsert that keeps record fields (`KeptFields.recordFields`).
    public private(set) var keepingFields: Change?
    /// The greatest-version change that carried bytes: its bytes are what the register ends with.
    /// `nil`: no change carried bytes, the bytes are not known.
    public private(set) var bytes: Change?
    /// How many changes were reduced, duplicates included.
    public private(set) var count = 0

    public init(key: RecordKey) { self.key = key }

    public mutating func add(_ change: Change) {
        precondition(change.key == key, "change for \(change.key) reduced into \(key)")
        count += 1
        if change.keepsRecordFields {
            if keepingFields.map({ $0.version < change.version }) ?? true { keepingFields = change }
        } else if record.map({ $0.version < change.version }) ?? true {
            record = change
        }
        if change.carriesBytes, bytes.map({ $0.version < change.version }) ?? true { bytes = change }
    }

    /// The field-keeping upsert that still matters after `record`: the greatest one, if it is newer.
    /// Stores apply it after `record`, to a live row only.
    public var keepingFieldsAfterRecord: Change? {
        guard let keepingFields else { return nil }
        if let record, record.version >= keepingFields.version { return nil }
        return keepingFields
    }

    /// The version of the bytes register: that of `bytes`, `Version.minimum` if no bytes were carried.
    public var bytesVersion: Version { bytes?.version ?? .minimum }

    /// The image bytes of `bytes` (`nil` when it carried null, or when no change carried bytes).
    public var data: [UInt8]? { bytes?.record?.data ?? nil }

    /// The live record a store holds after exactly these changes, starting empty: `record`'s fields
    /// with `bytes`' bytes; `nil` for a tombstone or no record. Defined when no field-keeping upsert is
    /// newer than `record` (its kept fields come from whatever the store holds when it arrives).
    public var resultingRecord: ImageRecord? {
        guard var result = record?.record else { return nil }
        result.data = data
        return result
    }
}
