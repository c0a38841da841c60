import LibMongoC
import SyncModel

/// Where a collection keeps LIMS's fields: field paths for the aggregation expressions of the digest
/// domains (docs/mongodb.md, "Digest domains"). PlantSync's own store uses LIMS's names (`.own`); a
/// foreign producer those of its `ForeignLayout`.
struct MongoFieldPaths: Sendable {
    enum Coordinates: Sendable {
        /// `[latitude, longitude]` in one array field.
        case array(String)
        /// Two fields of their own.
        case split(latitude: String, longitude: String)
    }

    var id: String
    var cameraId: String
    var data: String
    var coordinates: Coordinates
    var disease: String
    var percentage: String
    var createdAt: String
    var updatedAt: String
    var isActive: String
    var isDeleted: String

    init(layout: ForeignLayout) {
        id = layout.name(.id)
        cameraId = layout.name(.cameraId)
        data = layout.name(.data)
        coordinates =
            layout.splitsCoordinates
            ? .split(latitude: layout.name(.latitude), longitude: layout.name(.longitude))
            : .array(layout.name(.gpsCoordinates))
        disease = layout.name(.disease)
        percentage = layout.name(.percentage)
        createdAt = layout.name(.createdAt)
        updatedAt = layout.name(.updatedAt)
        isActive = layout.name(.isActive)
        isDeleted = layout.name(.isDeleted)
    }

    /// PlantSync's own documents: LIMS's field names.
    static let own = MongoFieldPaths(layout: .lims)

    static func ref(_ path: String) -> BSONValue { .string("$" + path) }

    /// The field, or null when it is missing (an object expression would drop a missing field, so a
    /// missing and a null field would hash differently).
    static func orNull(_ path: String) -> BSONValue { ["$ifNull": [ref(path), .null]] }

    /// Every LIMS field but the image bytes, renamed to LIMS's names (what `MongoRecordCodec.record`
    /// decodes), for a `$project` stage: `{id: "$<id>", camera_id: "$<camera_id>", …}`.
    var recordProjection: [(String, BSONValue)] {
        let gps: BSONValue
        switch coordinates {
        case .array(let path): gps = Self.ref(path)
        case .split(let latitude, let longitude): gps = [Self.ref(latitude), Self.ref(longitude)]
        }
        return [
            ("id", Self.ref(id)), ("camera_id", Self.ref(cameraId)), ("gps_coordinates", gps),
            ("disease", Self.ref(disease)), ("percentage", Self.ref(percentage)), ("created_at", Self.ref(createdAt)),
            ("updated_at", Self.ref(updatedAt)), ("is_active", Self.ref(isActive)), ("is_deleted", Self.ref(isDeleted)),
        ]
    }
}

/// The expressions of the `.mongo` and `.metadata` digest domains (docs/mongodb.md, "Digest domains").
/// One function (`hashInput`) builds the sub-document the `.mongo` digest hashes, for PlantSync's own
/// store and a foreign producer alike, so both compute identical values for identical LIMS fields.
enum MongoDigest {
    /// What PlantSync's own store hashes instead of `data` while a key's bytes are not yet known
    /// (docs/design.md §1): no producer record holds a string in `data`, so the digest differs.
    static let unknownDataSentinel = "plantsync.data.unknown"

    static let twoTo32: BSONValue = .int64(1 << 32)

    /// A number converted losslessly for `$toHashedIndexKey`, which hashes a double as the 64-bit integer
    /// it truncates to on a real server: its decimal string instead (null stays null).
    static func exactNumber(_ value: BSONValue) -> BSONValue { ["$toString": value] }

    /// The sub-document `$toHashedIndexKey` hashes: `{id, camera_id, gps, disease, percentage,
    /// created_at, updated_at, is_active, is_deleted, data}` from `paths`, each missing field as null,
    /// coordinates and percentage as strings. `data` replaces the bytes' expression (PlantSync's own
    /// store: the sentinel while they are not yet known).
    static func hashInput(_ paths: MongoFieldPaths, data: BSONValue? = nil) -> BSONValue {
        let gps: BSONValue
        switch paths.coordinates {
        case .array(let path):
            gps = [
                "$map": [
                    "input": ["$ifNull": [MongoFieldPaths.ref(path), .array([])]], "as": "c",
                    "in": exactNumber("$$c"),
                ]
            ]
        case .split(let latitude, let longitude):
            gps = [exactNumber(MongoFieldPaths.orNull(latitude)), exactNumber(MongoFieldPaths.orNull(longitude))]
        }
        return .document(
            BSONDocument([
                ("id", MongoFieldPaths.orNull(paths.id)),
                ("camera_id", MongoFieldPaths.orNull(paths.cameraId)),
                ("gps", gps),
                ("disease", MongoFieldPaths.orNull(paths.disease)),
                ("percentage", exactNumber(MongoFieldPaths.orNull(paths.percentage))),
                ("created_at", MongoFieldPaths.orNull(paths.createdAt)),
                ("updated_at", MongoFieldPaths.orNull(paths.updatedAt)),
                ("is_active", MongoFieldPaths.orNull(paths.isActive)),
                ("is_deleted", MongoFieldPaths.orNull(paths.isDeleted)),
                ("data", data ?? MongoFieldPaths.orNull(paths.data)),
            ]))
    }

    /// The `.mongo` per-record digest: a signed 64-bit integer computed by the server.
    static func hash(_ paths: MongoFieldPaths, data: BSONValue? = nil) -> BSONValue {
        ["$toHashedIndexKey": hashInput(paths, data: data)]
    }

    /// PlantSync's own documents: `data`, or the sentinel while the bytes register is empty
    /// (`_ps.dts` = `Version.minimum.ts`).
    static let ownData: BSONValue = [
        "$cond": [unknownBytes, .string(unknownDataSentinel), MongoFieldPaths.orNull("data")]
    ]

    /// True for PlantSync's documents whose bytes are not yet known.
    static let unknownBytes: BSONValue = [
        "$eq": [["$ifNull": ["$_ps.dts", .int64(0)]], .int64(Version.minimum.ts)]
    ]

    static let isTombstone: BSONValue = ["$eq": [["$ifNull": ["$_ps.tombstone", false]], true]]

    /// `$binarySize` of the bytes: their length, null for null or missing bytes.
    static func size(_ dataPath: String) -> BSONValue { ["$binarySize": MongoFieldPaths.orNull(dataPath)] }

    /// `MetadataDigest.lengthCode`: the length + 1, 0 for null.
    static func lengthCode(_ dataPath: String) -> BSONValue {
        ["$add": [["$ifNull": [size(dataPath), .int64(-1)]], .int64(1)]]
    }

    /// Stages that turn a document `{id, h}` (h: the 64-bit hash) into `{id, hi, lo}`, the unsigned
    /// 32-bit halves of h. The framework has no bit operations and no unsigned integers:
    /// lo = h mod 2^32 (a real server's `$mod` keeps the dividend's sign: negatives get 2^32 added);
    /// hi = (h − lo) / 2^32, exact (h − lo is a multiple of 2^32, so even where a long subtraction
    /// overflows into a double the value is representable), then normalised to 0…2^32−1 and made a long.
    static let halvesStages: [BSONDocument] = [
        [
            "$project": [
                "id": .int32(1), "h": .int32(1),
                "lo": [
                    "$let": [
                        "vars": ["m": ["$mod": ["$h", twoTo32]]],
                        "in": ["$toLong": ["$cond": [["$lt": ["$$m", .int32(0)]], ["$add": ["$$m", twoTo32]], "$$m"]]],
                    ]
                ],
            ]
        ],
        [
            "$project": [
                "id": .int32(1), "lo": .int32(1),
                "hi": [
                    "$let": [
                        "vars": ["q": ["$divide": [["$subtract": ["$h", "$lo"]], twoTo32]]],
                        "in": ["$toLong": ["$cond": [["$lt": ["$$q", .int32(0)]], ["$add": ["$$q", twoTo32]], "$$q"]]],
                    ]
                ],
            ]
        ],
    ]

    /// The `.mongo` checksum of a range from the sums of the halves.
    static func mongoChecksum(_ doc: BSONDocument?) -> RangeSummary {
        guard let doc else { return .empty }
        return RangeSummary(
            count: Int(doc["n"]?.int64Value ?? 0),
            checksum: RowDigest.checksum(highSum: doc["hi"]?.int64Value ?? 0, lowSum: doc["lo"]?.int64Value ?? 0))
    }

    /// The halves of a client-side digest sum back into one (`RowDigest.checksum`).
    static let halvesOutput: BSONDocument = [
        "n": ["$sum": .int32(1)], "hi": ["$sum": "$hi"], "lo": ["$sum": "$lo"],
    ]

    /// A hash value the server returned (a long; a double or int only from an unusual server).
    static func hashValue(_ value: BSONValue?) -> Int64? {
        switch value {
        case .int64(let v)?: return v
        case .int32(let v)?: return Int64(v)
        case .double(let v)?: return Int64(exactly: v)
        default: return nil
        }
    }
}

/// Range aggregations: one pipeline with `$bucket` for sorted, disjoint ranges (what `KeyRange.split`
/// makes), else one `$group` per range; one output document per range (`nil`: no rows).
enum MongoRangeAggregation {
    static func run(
        ranges: [KeyRange], collection: MongoCollection, match: (KeyRange) -> BSONDocument, stages: [BSONDocument],
        output: BSONDocument
    ) throws -> [BSONDocument?] {
        var results = [BSONDocument?](repeating: nil, count: ranges.count)
        let nonEmpty = ranges.indices.filter { !ranges[$0].isEmpty }
        guard !nonEmpty.isEmpty else { return results }
        let disjointSorted = zip(nonEmpty, nonEmpty.dropFirst()).allSatisfy { ranges[$0].upper <= ranges[$1].lower }
        if disjointSorted {
            var boundaries: [Int64] = []
            var indexByLower: [Int64: Int] = [:]
            for i in nonEmpty {
                if boundaries.last != ranges[i].lower { boundaries.append(ranges[i].lower) }
                boundaries.append(ranges[i].upper)
                indexByLower[ranges[i].lower] = i
            }
            let hull = KeyRange(lower: ranges[nonEmpty.first!].lower, upper: ranges[nonEmpty.last!].upper)
            let pipeline: [BSONDocument] =
                [["$match": .document(match(hull))]] + stages + [
                    [
                        "$bucket": [
                            "groupBy": "$id", "boundaries": .array(boundaries.map(BSONValue.int64)), "output": .document(output),
                        ]
                    ]
                ]
            let cursor = try collection.aggregate(pipeline)
            while let doc = try cursor.next() {
                guard let lower = doc["_id"]?.int64Value, let i = indexByLower[lower] else { continue }  // a gap
                results[i] = doc
            }
        } else {
            for i in nonEmpty {
                let group = BSONDocument([("_id", .null)] + output.elements.map { ($0.key, $0.value) })
                let pipeline: [BSONDocument] = [["$match": .document(match(ranges[i]))]] + stages + [["$group": .document(group)]]
                results[i] = try collection.aggregate(pipeline).next()
            }
        }
        return results
    }
}
