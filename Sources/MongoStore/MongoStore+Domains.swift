import LibMongoC
import SyncModel

/// PlantSync's own documents in the `.mongo` and `.metadata` digest domains (docs/mongodb.md, "Digest
/// domains"), both computed by the server: what a foreign MongoDB producer (`ForeignMongoStore`) is
/// compared with. Tombstones take no part in summaries and have digest 0 in versions.
enum MongoOwnDomains {
    static func liveMatch(_ range: KeyRange) -> BSONDocument {
        ["id": MongoQueries.idRange(range.lower, range.upper), "_ps.tombstone": MongoQueries.notTombstone]
    }

    /// `.mongo`: `$toHashedIndexKey` of the shared sub-document (`MongoDigest.hashInput`), halves summed.
    static func mongoSummaries(ranges: [KeyRange], collection: MongoCollection) throws -> [RangeSummary] {
        let stages: [BSONDocument] =
            [["$project": ["_id": .int32(0), "id": .int32(1), "h": MongoDigest.hash(.own, data: MongoDigest.ownData)]]]
            + MongoDigest.halvesStages
        return try MongoRangeAggregation.run(
            ranges: ranges, collection: collection, match: liveMatch, stages: stages, output: MongoDigest.halvesOutput
        ).map(MongoDigest.mongoChecksum)
    }

    /// `.metadata`: Σ of the stored tiebreak's halves, Σ of the known length codes and the count of
    /// documents whose bytes are not yet known (`MetadataDigest.checksum`). Documents without `_ps`
    /// (another writer's) are counted by the server and their tiebreaks added by the client from a
    /// projection without the bytes.
    static func metadataSummaries(plant: Plant, ranges: [KeyRange], collection: MongoCollection) throws -> [RangeSummary] {
        let missingTiebreak: BSONValue = ["$eq": [["$ifNull": ["$_ps.tbh", .null]], .null]]
        let output: BSONDocument = [
            "n": ["$sum": .int32(1)],
            "hi": ["$sum": "$_ps.tbh"],
            "lo": ["$sum": "$_ps.tbl"],
            "len": ["$sum": ["$cond": [MongoDigest.unknownBytes, .int32(0), MongoDigest.lengthCode("data")]]],
            "u": ["$sum": ["$cond": [MongoDigest.unknownBytes, .int32(1), .int32(0)]]],
            "nf": ["$sum": ["$cond": [missingTiebreak, .int32(1), .int32(0)]]],
        ]
        let docs = try MongoRangeAggregation.run(ranges: ranges, collection: collection, match: liveMatch, stages: [], output: output)
        var summaries: [RangeSummary] = []
        for (range, doc) in zip(ranges, docs) {
            guard let doc else {
                summaries.append(.empty)
                continue
            }
            var checksum = MetadataDigest.checksum(
                tiebreakHighSum: doc["hi"]?.int64Value ?? 0, tiebreakLowSum: doc["lo"]?.int64Value ?? 0,
                lengthCodeSum: doc["len"]?.int64Value ?? 0, unknownCount: doc["u"]?.int64Value ?? 0)
            if (doc["nf"]?.int64Value ?? 0) > 0 {
                checksum &+= try foreignTiebreaks(plant: plant, range: range, collection: collection)
            }
            summaries.append(RangeSummary(count: Int(doc["n"]?.int64Value ?? 0), checksum: checksum))
        }
        return summaries
    }

    /// Σ of the version tiebreaks of live documents in `range` without `_ps.tbh` (never their bytes).
    static func foreignTiebreaks(plant: Plant, range: KeyRange, collection: MongoCollection) throws -> UInt64 {
        let operation = "checksum documents without PlantSync bookkeeping in \(collection.namespace) \(range)"
        var filter = liveMatch(range)
        filter.append("_ps.tbh", ["$exists": false])
        let cursor = try collection.find(filter, options: ["projection": ["data": .int32(0)], "batchSize": .int32(1000)])
        var sum: UInt64 = 0
        while let doc = try cursor.next() {
            let record = try MongoRecordCodec.record(doc, plant: plant, operation: operation)
            sum &+= UInt64(bitPattern: record.version.storedTiebreak)
        }
        return sum
    }

    /// One page of versions with `.mongo` or `.metadata` digests: an aggregate (`$match` id range,
    /// `$sort`, `$limit`, `$project` id, `_ps`, the record fields and the digest's server part),
    /// never the bytes.
    static func versionsPage(
        plant: Plant, domain: DigestDomain, from lower: Int64, upper: Int64, limit: Int, collection: MongoCollection,
        operation: String
    ) throws -> [KeyVersion] {
        var projection: [(String, BSONValue)] = [("_id", .int32(0)), ("id", .int32(1)), ("_ps", .int32(1))]
        projection += MongoRecordCodec.recordFieldNames.map { ($0.name, .int32(1)) }
        switch domain {
        case .mongo:
            projection.append(("h", ["$cond": [MongoDigest.isTombstone, .int64(0), MongoDigest.hash(.own, data: MongoDigest.ownData)]]))
        case .metadata:
            projection.append(("size", MongoDigest.size("data")))
        default:
            throw MongoStoreError(operation: operation, message: "no in-database versions for digest domain \(domain)")
        }
        let pipeline: [BSONDocument] = [
            ["$match": ["id": MongoQueries.idRange(lower, upper)]],
            ["$sort": ["id": .int32(1)]],
            ["$limit": .int64(Int64(limit))],
            ["$project": .document(BSONDocument(projection))],
        ]
        let cursor = try collection.aggregate(pipeline)
        var page: [KeyVersion] = []
        while let doc = try cursor.next() {
            let (id, bookkeeping, dataVersion) = try MongoRecordCodec.keyed(doc, operation: operation)
            if bookkeeping.isTombstone, let version = bookkeeping.version {
                page.append(KeyVersion(id: id, version: version, digest: 0, dataVersion: dataVersion))
                continue
            }
            let version: Version
            if let stored = bookkeeping.version {
                version = stored
            } else {
                version = try MongoRecordCodec.record(doc, plant: plant, operation: operation).version
            }
            let digest: Int64
            if domain == .mongo {
                guard let h = MongoDigest.hashValue(doc["h"]) else {
                    throw MongoStoreError.badDocument(operation, id: doc["id"], field: "h", value: doc["h"], expected: "a 64-bit hash")
                }
                digest = h
            } else {
                let unknown = bookkeeping.version != nil && doc[path: "_ps.dts"]?.int64Value == Version.minimum.ts
                let code =
                    unknown
                    ? MetadataDigest.unknownLengthCode : MetadataDigest.lengthCode(byteCount: doc["size"]?.int64Value.map { Int($0) })
                digest = MetadataDigest.of(version: version, lengthCode: code)
            }
            page.append(
                KeyVersion(id: id, version: version, digest: digest, dataVersion: bookkeeping.version == nil ? version : dataVersion))
        }
        return page
    }
}
