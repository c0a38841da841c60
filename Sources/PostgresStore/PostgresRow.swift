import SyncModel

/// One write of the PostgreSQL store: a row of `image_record` as `apply`, `replace` and the `COPY`
/// staging path send it. Its two parts are written under two version rules (docs/design.md §1): the
/// record part (record columns and `version_ts`/`version_tb`) and the bytes register (`data`,
/// `data_hash`, `data_ts`/`data_tb`).
struct PostgresRow: Sendable {
    let key: RecordKey
    /// The record part; `nil` writes a tombstone (record columns NULL).
    let record: ImageRecord?
    let version: Version
    /// The bytes part, when `bytesVersion` is not `Version.minimum` ("not carried").
    let data: [UInt8]?
    let bytesVersion: Version
    /// Record fields this write keeps (honoured by the keep-mask statements only).
    let kept: KeptFields
    /// The producer's `_id`, when a change of the write carried one (`nil` leaves the stored one).
    let sourceID: SourceID?

    /// The write of `change`'s record part together with the bytes of `bytes` (a change that carried
    /// bytes, possibly another one; `nil`: no bytes, the register stays as it is).
    init(_ change: Change, bytes: Change?) {
        key = change.key
        record = change.record
        version = change.version
        kept = change.kept.intersection(.recordFields)
        sourceID = change.record?.sourceID ?? bytes?.record?.sourceID
        if let bytes, bytes.carriesBytes {
            data = bytes.record?.data ?? nil
            bytesVersion = bytes.version
        } else {
            data = nil
            bytesVersion = .minimum
        }
    }

    var carriesBytes: Bool { bytesVersion != .minimum }

    /// `ImageRecord.dataHash` of the bytes; `ImageRecord.unknownDataHash` when none are carried (what a
    /// new row keeps until some change brings its bytes).
    var dataHash: Int64 { Int64(bitPattern: carriesBytes ? ImageRecord.dataHash(data) : ImageRecord.unknownDataHash) }
}
