import LibMongoC
import SyncModel

/// What BatchSync needs beyond the shared reads: incremental reads by version, compare-and-set
/// repairs, and named sync state (high-water marks) in a `plantsync_state` collection.
extension MongoStore {
    static let stateCollection = "plantsync_state"

    public func records(of plant: Plant, changedSince since: Int64, pageSize: Int) -> PagedSequence<ImageRecord> {
        let size = max(1, pageSize)
        let operation = "read records of \(describe(plant)) changed since \(since)"
        return PagedSequence(start: .init(1)) { cursor in
            try await self.withClient(operation) { store in
                let page = try Self.readRecords(
                    plant: plant,
                    filter: ["id": MongoQueries.idRange(cursor.position, Int64.max), "_ps.ts": ["$gte": .int64(since)]],
                    limit: size, collection: store.collection(plant), operation: operation)
                return .init(elements: page, next: .after(page.last?.id, pageFull: page.count == size))
            }
        }
    }

    /// One unordered bulk of `replaceOne` without upsert per plant, each matching the key only while
    /// its stored version equals the expected one.
    public func replace(_ changes: [Change], expecting expected: [RecordKey: Version]) async throws -> ApplyOutcome {
        let winners = Change.winners(changes).values.filter { expected[$0.key] != nil }.sorted { $0.key < $1.key }
        var applied = 0
        for plant in Plant.allCases {
            let batch = winners.filter { $0.key.plant == plant }
            guard !batch.isEmpty else { continue }
            let models: [WriteModel] = batch.map { change in
                let want = expected[change.key]!
                let filter: BSONDocument = [
                    "id": .int64(change.key.id), "_ps.ts": .int64(want.ts), "_ps.tb": .int64(want.storedTiebreak),
                ]
                let replacement = change.record.map { MongoRecordCodec.document($0, version: change.version) }
                    ?? MongoRecordCodec.tombstone(id: change.key.id, version: change.version)
                return .replaceOne(filter: filter, replacement: replacement, upsert: false)
            }
            applied += try await withClient("replace \(batch.count) documents in \(describe(plant))") { store in
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
