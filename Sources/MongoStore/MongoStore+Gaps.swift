import LibMongoC
import SyncModel

/// The gap ledger in the consumer's database (docs/design.md §8): `plantsync_stream_gaps` (what
/// StreamSync will never read, until healed) and `plantsync_stream_positions` (the offsets StreamSync
/// recorded before committing). Neither name starts with the plant prefix, so neither is a plant.
extension MongoStore: GapLedger {
    static let gapCollection = "plantsync_stream_gaps"
    static let positionCollection = "plantsync_stream_positions"

    public func recordGaps(_ gaps: [StreamGap]) async throws {
        guard !gaps.isEmpty else { return }
        // Insert-if-absent: a gap recorded again (a retried batch) changes nothing.
        let models: [WriteModel] = gaps.map { gap in
            let document: BSONDocument = [
                "plant": .string(gap.plant.rawValue), "topic": .string(gap.partition.topic), "partition": .int32(gap.partition.partition),
                "first_offset": .int64(gap.firstOffset), "end_offset": gap.endOffset.map(BSONValue.int64) ?? .null,
                "record_id": gap.recordID.map(BSONValue.int64) ?? .null, "reason": .string(gap.reason.rawValue),
                "detected_us": .int64(gap.detectedAt.microsecondsSinceEpoch), "closed_us": .null,
            ]
            return .updateOne(filter: ["_id": .string(gap.id)], update: ["$setOnInsert": .document(document)], upsert: true)
        }
        try await withClient("record \(gaps.count) stream gaps") { store in
            _ = try store.namedCollection(Self.gapCollection).bulkWrite(models, ordered: true)
        }
    }

    public func openGaps() async throws -> [StreamGap] {
        let documents = try await withClient("read the open stream gaps") { store in
            try store.namedCollection(Self.gapCollection).find(
                ["closed_us": .null], options: ["sort": ["detected_us": .int32(1), "_id": .int32(1)]]
            ).all()
        }
        return try documents.map { document in
            guard let id = document["_id"]?.stringValue, let plantName = document["plant"]?.stringValue,
                let topic = document["topic"]?.stringValue, let partition = document["partition"]?.int64Value,
                let first = document["first_offset"]?.int64Value, let reasonName = document["reason"]?.stringValue,
                let reason = GapReason(rawValue: reasonName), let detected = document["detected_us"]?.int64Value
            else { throw GapLedgerError(store: "MongoDB \(configuration.database).\(Self.gapCollection)", detail: "a document that is no gap: \(document)") }
            return StreamGap(
                id: id, plant: try Plant(validating: plantName, field: "\(Self.gapCollection).plant"),
                partition: StreamPartition(topic: topic, partition: Int32(clamping: partition)), firstOffset: first,
                endOffset: document["end_offset"]?.int64Value, recordID: document["record_id"]?.int64Value, reason: reason,
                detectedAt: Timestamp(microsecondsSinceEpoch: detected))
        }
    }

    @discardableResult
    public func closeGaps(_ ids: [String], at: Timestamp, by closedBy: String) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let models: [WriteModel] = ids.map { id in
            .updateOne(
                filter: ["_id": .string(id), "closed_us": .null],
                update: ["$set": ["closed_us": .int64(at.microsecondsSinceEpoch), "closed_by": .string(closedBy)]], upsert: false)
        }
        return try await withClient("close \(ids.count) stream gaps") { store in
            try store.namedCollection(Self.gapCollection).bulkWrite(models, ordered: false).modified
        }
    }

    public func streamPositions(group: String) async throws -> [StreamPartition: Int64] {
        let documents = try await withClient("read the stream positions of group \(group)") { store in
            try store.namedCollection(Self.positionCollection).find(["group": .string(group)]).all()
        }
        var positions: [StreamPartition: Int64] = [:]
        for document in documents {
            guard let topic = document["topic"]?.stringValue, let partition = document["partition"]?.int64Value,
                let offset = document["next_offset"]?.int64Value
            else { continue }
            positions[StreamPartition(topic: topic, partition: Int32(clamping: partition))] = offset
        }
        return positions
    }

    public func recordStreamPositions(_ positions: [StreamPartition: Int64], group: String) async throws {
        guard !positions.isEmpty else { return }
        let models: [WriteModel] = positions.sorted { $0.key < $1.key }.map { partition, offset in
            .updateOne(
                filter: ["_id": .string("\(group)/\(partition.topic)/\(partition.partition)")],
                update: [
                    "$set": ["group": .string(group), "topic": .string(partition.topic), "partition": .int32(partition.partition)],
                    "$max": ["next_offset": .int64(offset)],
                ], upsert: true)
        }
        try await withClient("record the stream positions of group \(group)") { store in
            _ = try store.namedCollection(Self.positionCollection).bulkWrite(models, ordered: false)
        }
    }
}
