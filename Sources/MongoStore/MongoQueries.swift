import LibMongoC
import SyncModel

/// The filters and pipelines of the MongoDB store. Every value is a BSON value in a document built
/// here; nothing from a record is ever parsed as a filter.
enum MongoQueries {
    static let notTombstone: BSONValue = .document(["$ne": true])

    static func idRange(_ lower: Int64, _ upper: Int64) -> BSONValue {
        .document(["$gte": .int64(lower), "$lt": .int64(upper)])
    }

    /// Live documents whose `_ps` lacks the version or data hash halves: their digest is computed by
    /// the client (documents of another writer).
    static let incomplete: BSONValue = [
        .document(["_ps.tbh": .document(["$exists": false])]),
        .document(["_ps.dhh": .document(["$exists": false])]),
    ]

    /// `$group`/`$bucket` accumulators: count, sums of the 32-bit halves (`RowDigest`), and how many
    /// documents lack bookkeeping (their digest is added by the client).
    static var accumulators: BSONDocument {
        func missing(_ path: String) -> BSONValue {
            .document(["$eq": [.document(["$ifNull": [.string("$" + path), .null]]), .null]])
        }
        return [
            "n": .document(["$sum": .int32(1)]),
            "hi": .document(["$sum": .document(["$add": ["$_ps.tbh", "$_ps.dhh"]])]),
            "lo": .document(["$sum": .document(["$add": ["$_ps.tbl", "$_ps.dhl"]])]),
            "nf": .document([
                "$sum": .document(["$cond": [.document(["$or": [missing("_ps.tbh"), missing("_ps.dhh")]]), .int32(1), .int32(0)]])
            ]),
        ]
    }

    /// One pipeline for ranges sorted and disjoint: `$match` on their hull, `$bucket` on the sorted
    /// union of their bounds (buckets between ranges are ignored by the caller).
    static func bucketPipeline(_ ranges: [KeyRange]) -> [BSONDocument] {
        var boundaries: [Int64] = []
        for range in ranges {
            if boundaries.last != range.lower { boundaries.append(range.lower) }
            boundaries.append(range.upper)
        }
        let pipeline: [BSONDocument] = [
            ["$match": .document(["id": idRange(ranges.first!.lower, ranges.last!.upper), "_ps.tombstone": notTombstone])],
            [
                "$bucket": .document([
                    "groupBy": "$id", "boundaries": .array(boundaries.map(BSONValue.int64)),
                    "output": .document(accumulators),
                ])
            ],
        ]
        return pipeline
    }

    /// One pipeline for a single range.
    static func groupPipeline(_ range: KeyRange) -> [BSONDocument] {
        var group = accumulators
        group = BSONDocument([("_id", .null)] + group.elements.map { ($0.key, $0.value) })
        return [
            ["$match": .document(["id": idRange(range.lower, range.upper), "_ps.tombstone": notTombstone])],
            ["$group": .document(group)],
        ]
    }
}
