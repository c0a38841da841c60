import LibMongoC
import SyncModel

/// Applying a batch of one plant: one unordered bulk write of conditional upserts.
enum MongoApply {
    static func model(_ change: Change) -> WriteModel {
        let filter = MongoQueries.olderThan(id: change.key.id, change.version)
        switch change.operation {
        case .upsert(let record, let keepsStoredData):
            if keepsStoredData {
                return .updateOne(filter: filter, update: MongoRecordCodec.keepDataUpdate(record, version: change.version), upsert: true)
            }
            return .replaceOne(filter: filter, replacement: MongoRecordCodec.document(record, version: change.version), upsert: true)
        case .delete:
            return .replaceOne(
                filter: filter, replacement: MongoRecordCodec.tombstone(id: change.key.id, version: change.version), upsert: true)
        }
    }

    /// Applies `batch` (distinct keys of one plant) and returns how many changes took effect.
    static func run(_ batch: [Change], on collection: MongoCollection) throws -> Int {
        let (applied, contested) = try write(batch, on: collection)
        guard !contested.isEmpty else { return applied }
        // E11000 means that when the upsert ran, the key existed with a version that was not older.
        // Almost always it was stored before the batch: the change is stale. But another writer may
        // have inserted the key between our match and our insert (MongoDB does not retry upserts whose
        // filter is more than an equality on the unique key), possibly with an OLDER version. So read
        // the stored versions of the contested keys (narrow projection) and send those that are still
        // newer once more, conditionally again: the database still decides, and the document now
        // exists, so the retry can only update it or lose to a newer version.
        let stored = try storedVersions(contested.map(\.key.id), on: collection)
        let retry = contested.filter { change in stored[change.key.id].map { $0 == nil || $0! < change.version } ?? true }
        guard !retry.isEmpty else { return applied }
        return applied + (try write(retry, on: collection)).applied
    }

    static func write(_ batch: [Change], on collection: MongoCollection) throws -> (applied: Int, contested: [Change]) {
        let result = try collection.bulkWrite(batch.map(model), ordered: false)
        var applied = 0
        var contested: [Change] = []
        for (index, outcome) in result.outcomes.enumerated() {
            switch outcome {
            case .upserted, .succeeded: applied += 1
            case .failed(let error) where error.isDuplicateKey: contested.append(batch[index])
            case .failed(let error):
                throw MongoStoreError(
                    operation: "apply \(batch[index]) to \(collection.namespace)", code: UInt32(clamping: error.code),
                    message: error.message)
            }
        }
        return (applied, contested)
    }

    /// id → stored version (nil: the document has no PlantSync version); absent ids are missing.
    static func storedVersions(_ ids: [Int64], on collection: MongoCollection) throws -> [Int64: Version?] {
        let cursor = try collection.find(
            ["id": ["$in": .array(ids.map(BSONValue.int64))]],
            options: ["projection": ["id": .int32(1), "_ps.ts": .int32(1), "_ps.tb": .int32(1)]])
        var versions: [Int64: Version?] = [:]
        while let doc = try cursor.next() {
            guard let id = doc["id"]?.int64Value else { continue }
            versions[id] = MongoRecordCodec.bookkeeping(doc).version
        }
        return versions
    }
}
