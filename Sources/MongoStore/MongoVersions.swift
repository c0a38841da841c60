import LibMongoC
import SyncModel

/// One page of per-key versions and digests, read without image bytes: from `_ps` for PlantSync's
/// documents; for another writer's documents the version is computed from the record's fields, and
/// the data hash from bytes fetched (by a second, narrow query) only for those documents.
enum MongoVersions {
    static func page(
        plant: Plant, from lower: Int64, upper: Int64, limit: Int, collection: MongoCollection, operation: String
    ) throws -> [KeyVersion] {
        let cursor = try collection.find(
            ["id": MongoQueries.idRange(lower, upper)],
            options: ["projection": ["data": .int32(0)], "sort": ["id": .int32(1)], "limit": .int64(Int64(limit))])
        var page: [KeyVersion] = []
        var pending: [(index: Int, doc: BSONDocument)] = []
        while let doc = try cursor.next() {
            let (id, bookkeeping, dataVersion) = try MongoRecordCodec.keyed(doc, operation: operation)
            if bookkeeping.isTombstone, let version = bookkeeping.version {
                page.append(KeyVersion(id: id, version: version, digest: 0, dataVersion: dataVersion))
            } else if let version = bookkeeping.version, let dataHash = bookkeeping.dataHash {
                page.append(
                    KeyVersion(
                        id: id, version: version, digest: RowDigest.of(storedTiebreak: version.storedTiebreak, dataHash: dataHash),
                        dataVersion: dataVersion))
            } else {
                // Another writer's document (its bytes came with its record), or one a field-keeping or
                // keep-data change adopted (bytes kept, data hash unknown).
                let record = try MongoRecordCodec.record(doc, plant: plant, operation: operation)
                pending.append((page.count, doc))
                let version = bookkeeping.version ?? record.version
                page.append(
                    KeyVersion(id: id, version: version, digest: 0, dataVersion: bookkeeping.version == nil ? version : dataVersion))
            }
        }
        guard !pending.isEmpty else { return page }
        // Documents of another writer: their data hash needs their bytes.
        let needBytes = pending.filter { MongoRecordCodec.bookkeeping($0.doc).dataHash == nil }.map { page[$0.index].id }
        var bytes: [Int64: [UInt8]?] = [:]
        if !needBytes.isEmpty {
            let dataCursor = try collection.find(
                ["id": ["$in": .array(needBytes.map(BSONValue.int64))]],
                options: ["projection": ["id": .int32(1), "data": .int32(1)], "batchSize": .int32(100)])
            while let doc = try dataCursor.next() {
                guard let id = doc["id"]?.int64Value else { continue }
                if case .binary(_, let data)? = doc["data"] { bytes[id] = data } else { bytes[id] = .some(nil) }
            }
        }
        for (index, doc) in pending {
            let id = page[index].id
            let digest = try MongoSummaries.digest(doc, plant: plant, data: .some(bytes[id] ?? nil), operation: operation)
            page[index] = KeyVersion(id: id, version: page[index].version, digest: digest, dataVersion: page[index].dataVersion)
        }
        return page
    }
}
