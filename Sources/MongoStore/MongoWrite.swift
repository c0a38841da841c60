import LibMongoC
import SyncModel

/// The writes of the MongoDB store: per key, one update with an aggregation pipeline (MongoDB 4.2+)
/// whose `$replaceRoot` builds the document from the stored one (docs/mongodb.md, "The version rule").
///
/// A write has two parts under two version rules (docs/design.md §1): the record part (LIMS's fields
/// and `_ps.ts/tb…`) lands if its version is greater than the stored record's (`recordNewer`), the
/// bytes part (`data`, `_ps.dh…`, `_ps.dts/dtb`) if its version is greater than the stored register's
/// (`bytesNewer`). Every expression reads the document as it was before the update, so both decisions
/// and both parts are one atomic document write. The filter holds "some part is newer" (`$expr`), so
/// a write whose parts are both stale matches nothing: with `upsert`, it then tries an insert that the
/// unique index on `id` rejects with E11000 (skipped-stale), exactly like a stale whole-document write.
///
/// Every value from a change is wrapped in `$literal`: a disease such as `"$x"` is data, never a path.
enum MongoWrite {
    // MARK: The stored document, as expressions

    static let minimumTs = BSONValue.int64(Version.minimum.ts)
    static let minimumTb = BSONValue.int64(Version.minimum.storedTiebreak)

    static func path(_ field: String) -> BSONValue { .string("$" + field) }
    static func literal(_ value: BSONValue) -> BSONValue { ["$literal": value] }
    static func cond(_ condition: BSONValue, _ then: BSONValue, _ otherwise: BSONValue) -> BSONValue {
        ["$cond": [condition, then, otherwise]]
    }
    /// The stored value at `field`, or `fallback` when it is missing or null (every stored value an
    /// expression compares goes through this: a comparison with a missing operand is not portable).
    static func stored(_ field: String, or fallback: BSONValue) -> BSONValue { ["$ifNull": [path(field), fallback]] }

    /// The stored record version; a document without `_ps` (another writer's) is older than any change.
    static let storedTs = stored("_ps.ts", or: minimumTs)
    static let storedTb = stored("_ps.tb", or: minimumTb)
    static let isTombstone: BSONValue = ["$eq": [stored("_ps.tombstone", or: false), true]]
    static let isLive: BSONValue = ["$ne": [stored("_ps.tombstone", or: false), true]]
    /// The stored register version (`MongoRecordCodec.Bookkeeping.registerVersion`): `_ps.dts/dtb`; for a
    /// document written before the register, its record's version unless a tombstone.
    static let storedDts = stored("_ps.dts", or: cond(isTombstone, minimumTs, storedTs))
    static let storedDtb = stored("_ps.dtb", or: cond(isTombstone, minimumTb, storedTb))
    static let hasData: BSONValue = ["$ne": [stored("data", or: nil), nil]]

    /// `(ts, tb) < version`.
    static func older(_ ts: BSONValue, _ tb: BSONValue, than version: Version) -> BSONValue {
        let vts = BSONValue.int64(version.ts)
        let vtb = BSONValue.int64(version.storedTiebreak)
        return ["$or": [["$lt": [ts, vts]], ["$and": [["$eq": [ts, vts]], ["$lt": [tb, vtb]]]]]]
    }

    static func recordNewer(_ version: Version) -> BSONValue { older(storedTs, storedTb, than: version) }

    /// `false` when the write carries no bytes (`Version.minimum` is newer than nothing).
    static func bytesNewer(_ version: Version) -> BSONValue {
        version == .minimum ? false : older(storedDts, storedDtb, than: version)
    }

    // MARK: Writes

    /// A key's write in `apply`: `record`'s record part (an upsert that keeps no record field, or a
    /// delete) with `bytes`' bytes (possibly another change's). Creates the document if missing.
    static func upsert(_ record: Change, bytes: Change?) -> WriteModel {
        let bytesVersion = bytes?.version ?? .minimum
        let recordCondition = recordNewer(record.version)
        return .updatePipeline(
            filter: ["id": .int64(record.key.id), "$expr": ["$or": [recordCondition, bytesNewer(bytesVersion)]]],
            pipeline: pipeline(record, bytes: bytes, record: recordCondition, bytes: bytesNewer(bytesVersion)),
            upsert: true)
    }

    /// A field-keeping upsert's write: the record part lands on a live document only (a record is never
    /// created or resurrected from a change that does not know all of it), kept fields stay as stored;
    /// the bytes part (if `bytes`) lands on any existing document. Never creates a document.
    static func keepingFields(_ change: Change, bytes: Change?) -> WriteModel {
        let bytesVersion = bytes?.version ?? .minimum
        let recordCondition: BSONValue = ["$and": [isLive, recordNewer(change.version)]]
        return .updatePipeline(
            filter: ["id": .int64(change.key.id), "$expr": ["$or": [recordCondition, bytesNewer(bytesVersion)]]],
            pipeline: pipeline(change, bytes: bytes, record: recordCondition, bytes: bytesNewer(bytesVersion)),
            upsert: false)
    }

    /// `replace`'s compare-and-set write: only where the stored record version is `expected`; the record
    /// part unconditionally, the bytes part if `bytes` carries some.
    static func replace(_ change: Change, bytes: Change?, expecting expected: Version) -> WriteModel {
        .updatePipeline(
            filter: ["id": .int64(change.key.id), "_ps.ts": .int64(expected.ts), "_ps.tb": .int64(expected.storedTiebreak)],
            pipeline: pipeline(change, bytes: bytes, record: true, bytes: .bool(bytes != nil)),
            upsert: false)
    }

    /// `[{$replaceRoot: {newRoot: {$let: {vars: {r, d}, in: {$cond: [$$r, new record, stored record]}}}}}]`,
    /// the bytes register in both branches chosen by `$$d`.
    static func pipeline(_ change: Change, bytes: Change?, record: BSONValue, bytes bytesCondition: BSONValue) -> [BSONDocument] {
        let register = registerFields(bytes)
        let source = sourceField(change.record?.sourceID ?? bytes?.record?.sourceID)
        let updated = newDocument(change, register: register, source: source)
        let kept = storedDocument(id: change.key.id, register: register, source: source)
        let root: BSONValue = ["$let": ["vars": ["r": record, "d": bytesCondition], "in": cond("$$r", updated, kept)]]
        return [["$replaceRoot": ["newRoot": root]]]
    }

    /// `data` and the register's `_ps` fields: the write's where `$$d`, else as stored.
    static func registerFields(_ bytes: Change?) -> (data: BSONValue, ps: [(String, BSONValue)]) {
        var storedPS: [(String, BSONValue)] = [
            // A document of another writer has bytes but no data hash: it stays missing (the client
            // computes the digest from the bytes); a new document has neither: bytes not yet known.
            ("dh", stored("_ps.dh", or: cond(hasData, path("_ps.dh"), literal(.int64(Int64(bitPattern: ImageRecord.unknownDataHash))))))
        ]
        let (unknownHigh, unknownLow) = MongoRecordCodec.halves(Int64(bitPattern: ImageRecord.unknownDataHash))
        storedPS.append(("dhh", stored("_ps.dhh", or: cond(hasData, path("_ps.dhh"), literal(.int64(unknownHigh))))))
        storedPS.append(("dhl", stored("_ps.dhl", or: cond(hasData, path("_ps.dhl"), literal(.int64(unknownLow))))))
        storedPS += [("dts", storedDts), ("dtb", storedDtb)]
        let storedData = stored("data", or: nil)
        guard let bytes, bytes.carriesBytes else { return (storedData, storedPS) }
        let data = bytes.record?.data ?? nil
        let written = MongoRecordCodec.registerFields(dataHash: ImageRecord.dataHash(data), version: bytes.version)
        var ps: [(String, BSONValue)] = []
        for ((name, new), (_, old)) in zip(written, storedPS) { ps.append((name, cond("$$d", literal(new), old))) }
        return (cond("$$d", literal(data.map(BSONValue.bytes) ?? .null), storedData), ps)
    }

    /// `_ps.sid`, the producer's `_id` (`SourceID`, docs/design.md §2): provenance outside both version
    /// rules, in either branch: the write's when it carries one, else as stored (null if none).
    static func sourceField(_ sourceID: SourceID?) -> (String, BSONValue) {
        (MongoRecordCodec.sourceIDField, sourceID.map { literal(.string($0.rawValue)) } ?? stored("_ps." + MongoRecordCodec.sourceIDField, or: nil))
    }

    /// The document with the change's record part: an upsert's fields (kept ones as stored), or a
    /// tombstone's (no record fields).
    static func newDocument(
        _ change: Change, register: (data: BSONValue, ps: [(String, BSONValue)]), source: (String, BSONValue)
    ) -> BSONValue {
        var pairs: [(String, BSONValue)] = [("_id", path("_id")), ("id", literal(.int64(change.key.id)))]
        let record = change.record
        if let record {
            let values = Dictionary(uniqueKeysWithValues: MongoRecordCodec.fields(record))
            for (name, kept) in MongoRecordCodec.recordFieldNames {
                pairs.append((name, change.kept.isSuperset(of: kept) && !kept.isEmpty ? path(name) : literal(values[name]!)))
            }
        }
        pairs.insert(("data", register.data), at: min(3, pairs.count))
        let ps = MongoRecordCodec.versionFields(change.version, record).map { ($0.0, literal($0.1)) } + register.ps + [source]
        pairs.append((MongoRecordCodec.ps, .document(BSONDocument(ps))))
        return .document(BSONDocument(pairs))
    }

    /// The document with its stored record part (fields missing in it stay missing).
    static func storedDocument(id: Int64, register: (data: BSONValue, ps: [(String, BSONValue)]), source: (String, BSONValue)) -> BSONValue {
        var pairs: [(String, BSONValue)] = [("_id", path("_id")), ("id", literal(.int64(id)))]
        for (name, _) in MongoRecordCodec.recordFieldNames { pairs.append((name, path(name))) }
        pairs.insert(("data", register.data), at: 3)
        let ps = MongoRecordCodec.versionFieldNames.map { ($0, path("_ps." + $0)) } + register.ps + [source]
        pairs.append((MongoRecordCodec.ps, .document(BSONDocument(ps))))
        return .document(BSONDocument(pairs))
    }
}
