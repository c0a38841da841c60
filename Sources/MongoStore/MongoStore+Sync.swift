import LibMongoC
import SyncModel

/// What BatchSync needs beyond the shared reads: incremental reads by version, compare-and-set
/// repairs, and named sync state (high-water marks) in a `plantsync_state` collection.
extension MongoStore {
    static let stateCollection = "plantsync_state"

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        let operation = "read records of \(describe(plant)) changed since \(since)"
        return .keyset(in: .all, pageSize: pageSize, id: \.id) { lower, limit in
            try await self.withClient(operation) { store in
                try Self.readRecords(
                    plant: plant, filter: ["id": MongoQueries.idRange(lower, Int64.max), "_ps.ts": ["$gte": .int64(since)]],
                    limit: limit, collection: store.collection(plant), operation: operation)
            }
        }
    }

    /// One unordered bulk of compare-and-set pipeline updates per plant (`MongoWrite.replace`), each
    /// matching the key only while its stored version equals the expected one: per key, the greatest
    /// change's record part with the greatest bytes.
    public func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        let reduced = Dictionary(grouping: Change.reduce(changes).values.filter { expected[$0.key] != nil }, by: \.key.plant)
        var applied = 0
        for (plant, unsorted) in reduced.sorted(by: { $0.key < $1.key }) {
            let models: [WriteModel] = unsorted.sorted { $0.key < $1.key }.map { winners in
                let newest = [winners.record, winners.keepingFields].compactMap { $0 }.max { $0.version < $1.version }!
                return MongoWrite.replace(newest, bytes: winners.bytes, expecting: expected[winners.key]!)
            }
            guard !models.isEmpty else { continue }
            applied += try await withClient("replace \(models.count) documents in \(describe(plant))") { store in
                try store.collection(plant).bulkWrite(models, ordered: false).matched
            }
        }
        return ApplyOutcome(applied: applied, skippedStale: changes.count - applied)
    }

    public func syncState(_ name: String) async throws -> Int64? {
        try await withClient("read sync state \(name)") { store in
            let cursor = try store.namedCollection(Self.stateCollection).find(["_id": .string(name)])
            return try cursor.next()?["value"]?.int64Value
        }
    }

    public func setSyncState(_ name: String, to value: Int64) async throws {
        try await withClient("write sync state \(name)") { store in
            _ = try store.namedCollection(Self.stateCollection).bulkWrite(
                [.replaceOne(filter: ["_id": .string(name)], replacement: ["_id": .string(name), "value": .int64(value)], upsert: true)])
        }
    }
}
