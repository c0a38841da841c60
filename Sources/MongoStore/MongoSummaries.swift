import LibMongoC
import SyncModel

/// Range counts and checksums, computed by the aggregation framework: `$match` + `$bucket` (or one
/// `$group` per range when ranges overlap or are unsorted) summing the 32-bit halves of `_ps.tb` and
/// `_ps.dh` (`RowDigest`). Documents without that bookkeeping (another writer's) are counted by the
/// server and their digests added by the client from a cursor over just those documents.
enum MongoSummaries {
    struct Partial {
        var count: Int64 = 0
        var high: Int64 = 0
        var low: Int64 = 0
        var incomplete: Int64 = 0

        init() {}

        init(_ doc: BSONDocument) {
            count = doc["n"]?.int64Value ?? 0
            high = doc["hi"]?.int64Value ?? 0
            low = doc["lo"]?.int64Value ?? 0
            incomplete = doc["nf"]?.int64Value ?? 0
        }
    }

    static func compute(plant: Plant, ranges: [KeyRange], collection: MongoCollection) throws -> [RangeSummary] {
        let nonEmpty = ranges.indices.filter { !ranges[$0].isEmpty }
        var partials = [Partial](repeating: Partial(), count: ranges.count)
        guard !nonEmpty.isEmpty else { return partials.map { _ in .empty } }
        let disjointSorted = zip(nonEmpty, nonEmpty.dropFirst()).allSatisfy { ranges[$0].upper <= ranges[$1].lower }
        if disjointSorted {
            var indexByLower: [Int64: Int] = [:]
            for i in nonEmpty { indexByLower[ranges[i].lower] = i }
            let pipeline = MongoQueries.bucketPipeline(nonEmpty.map { ranges[$0] })
            let cursor = try collection.aggregate(pipeline)
            while let doc = try cursor.next() {
                guard let lower = doc["_id"]?.int64Value, let i = indexByLower[lower] else { continue }  // a gap
                partials[i] = Partial(doc)
            }
        } else {
            for i in nonEmpty {
                if let doc = try collection.aggregate(MongoQueries.groupPipeline(ranges[i])).next() { partials[i] = Partial(doc) }
            }
        }
        var summaries: [RangeSummary] = []
        for (i, partial) in partials.enumerated() {
            var checksum = RowDigest.checksum(highSum: partial.high, lowSum: partial.low)
            if partial.incomplete > 0 {
                checksum &+= try clientDigests(plant: plant, range: ranges[i], collection: collection)
            }
            summaries.append(RangeSummary(count: Int(partial.count), checksum: checksum))
        }
        return summaries
    }

    /// Sum of the digests of live documents in `range` that lack bookkeeping (reads their bytes).
    static func clientDigests(plant: Plant, range: KeyRange, collection: MongoCollection) throws -> UInt64 {
        let operation = "checksum documents without PlantSync bookkeeping in \(collection.namespace) \(range)"
        let filter: BSONDocument = [
            "id": MongoQueries.idRange(range.lower, range.upper), "_ps.tombstone": MongoQueries.notTombstone,
            "$or": MongoQueries.incomplete,
        ]
        let cursor = try collection.find(filter, options: ["batchSize": .int32(100)])
        var sum: UInt64 = 0
        while let doc = try cursor.next() {
            sum &+= UInt64(bitPattern: try digest(doc, plant: plant, data: nil, operation: operation))
        }
        return sum
    }

    /// The canonical digest of a live document; `data` overrides the document's bytes when given.
    static func digest(_ doc: BSONDocument, plant: Plant, data: [UInt8]??, operation: String) throws -> Int64 {
        let bookkeeping = MongoRecordCodec.bookkeeping(doc)
        var record = try MongoRecordCodec.record(doc, plant: plant, operation: operation)
        if let data { record.data = data }
        let version = bookkeeping.version ?? record.version
        let dataHash = bookkeeping.dataHash ?? Int64(bitPattern: record.dataHash)
        return RowDigest.of(storedTiebreak: version.storedTiebreak, dataHash: dataHash)
    }
}
