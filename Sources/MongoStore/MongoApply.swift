import LibMongoC
import SyncModel

/// Applying a batch of one plant: one unordered bulk write of the keys' conditional upserts
/// (`MongoWrite.upsert`), then one of the field-keeping updates (`MongoWrite.keepingFields`), which
/// must see the first bulk's results.
enum MongoApply {
    /// One key's write, with what the retry after E11000 needs to know of it.
    struct KeyWrite: Sendable {
        let id: Int64
        let model: WriteModel
        let recordVersion: Version
        /// `Version.minimum` when the write carries no bytes.
        let bytesVersion: Version

        init(_ winners: KeyWinners, record: Change) {
            id = winners.key.id
            model = MongoWrite.upsert(record, bytes: winners.bytes)
            recordVersion = record.version
            bytesVersion = winners.bytesVersion
        }

        /// Whether either part is newer than what `stored` holds (`nil`: no document).
        func isNewer(than stored: MongoRecordCodec.Bookkeeping?) -> Bool {
            guard let stored else { return true }
            return stored.version.map { $0 < recordVersion } ?? true || stored.registerVersion < bytesVersion
        }
    }

    /// Applies the writes of one plant's keys and returns how many took effect.
    static func run(_ writes: [KeyWrite], keeping: [WriteModel], on collection: MongoCollection) throws -> Int {
        var (applied, contested) = try write(writes, on: collection)
        if !contested.isEmpty {
            // E11000 means that when the upsert ran, the key existed with both parts not older. Almost
            // always it was stored before the batch: the change is stale. But another writer may have
            // inserted the key between our match and our insert (MongoDB does not retry upserts whose
            // filter is more than an equality on the unique key), possibly with OLDER versions. So read
            // the stored bookkeeping of the contested keys (narrow projection) and send those still newer
            // once more, conditionally again: the database still decides, and the document now exists,
            // so the retry can only update it or lose to newer versions.
            let stored = try storedBookkeeping(contested.map(\.id), on: collection)
            let retry = contested.filter { $0.isNewer(than: stored[$0.id]) }
            if !retry.isEmpty { applied += try write(retry, on: collection).applied }
        }
        if !keeping.isEmpty { applied += try count(try collection.bulkWrite(keeping, ordered: false), collection) }
        return applied
    }

    static func write(_ writes: [KeyWrite], on collection: MongoCollection) throws -> (applied: Int, contested: [KeyWrite]) {
        let result = try collection.bulkWrite(writes.map(\.model), ordered: false)
        var contested: [KeyWrite] = []
        for (index, outcome) in result.outcomes.enumerated() {
            guard case .failed(let error) = outcome else { continue }
            guard error.isDuplicateKey else {
                throw MongoStoreError(
                    operation: "apply the write of id \(writes[index].id) to \(collection.namespace)",
                    code: UInt32(clamping: error.code), message: error.message)
            }
            contested.append(writes[index])
        }
        return (result.matched + result.upserted, contested)
    }

    /// The writes that took effect: every filter requires a newer part, so a match changed the document.
    static func count(_ result: BulkWriteResult, _ collection: MongoCollection) throws -> Int {
        if let error = result.writeErrors.first {
            throw MongoStoreError(
                operation: "apply a field-keeping update to \(collection.namespace)", code: UInt32(clamping: error.code),
                message: error.message)
        }
        return result.matched + result.upserted
    }

    /// id → stored bookkeeping, for the ids that exist.
    static func storedBookkeeping(_ ids: [Int64], on collection: MongoCollection) throws -> [Int64: MongoRecordCodec.Bookkeeping] {
        let cursor = try collection.find(
            ["id": ["$in": .array(ids.map(BSONValue.int64))]],
            options: ["projection": ["id": .int32(1), "_ps": .int32(1)]])
        var stored: [Int64: MongoRecordCodec.Bookkeeping] = [:]
        while let doc = try cursor.next() {
            guard let id = doc["id"]?.int64Value else { continue }
            stored[id] = MongoRecordCodec.bookkeeping(doc)
        }
        return stored
    }
}
