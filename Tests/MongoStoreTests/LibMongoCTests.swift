import LibMongoC
import TestSupport
import Testing

/// The wrapper itself, against the server under test (the double, or a real MongoDB). The wrapper's
/// calls block, so each test runs them on the client's executor and checks what they returned.
@Suite struct LibMongoCTests {
    func withCollection<T: Sendable>(_ body: @escaping @Sendable (MongoCollection) throws -> T) async throws -> T {
        try await withMongoDouble {
            let client = try await TestMongoClient.connect(uri: try testURI())
            let database = freshDatabaseName()
            return try await withCleanup {
                try await client.run { client in
                    let collection = try client.collection("things", database: database)
                    try collection.createIndexes([IndexModel(keys: ["id": .int32(1)], name: "id_1", unique: true)])
                    return try body(collection)
                }
            } cleanup: {
                try? await client.dropDatabase(database)
            }
        }
    }

    @Test func bulkWriteReportsEveryOperationsOutcome() async throws {
        let (seeded, result, count) = try await withCollection { collection in
            let seeded = try collection.bulkWrite((1...3).map { .insertOne(["id": .int64($0), "v": .int32(0)]) })
            let result = try collection.bulkWrite([
                .updateOne(filter: ["id": .int64(1)], update: ["$set": ["v": .int32(1)]], upsert: false),
                .replaceOne(filter: ["id": .int64(9)], replacement: ["id": .int64(9), "v": .int32(9)], upsert: true),
                .insertOne(["id": .int64(2)]),  // duplicate id
                .deleteOne(filter: ["id": .int64(3)]),
                .updateOne(filter: ["id": .int64(77)], update: ["$set": ["v": .int32(1)]], upsert: false),
            ])
            return (seeded, result, try collection.countDocuments([:]))
        }
        #expect(seeded.inserted == 3)
        #expect(seeded.outcomes == [.upserted, .upserted, .upserted])
        #expect(result.matched == 1)
        #expect(result.upserted == 1)
        #expect(result.deleted == 1)
        #expect(result.writeErrors.map(\.index) == [2])
        #expect(result.writeErrors.first?.isDuplicateKey == true)
        guard result.outcomes.count == 5 else {
            Issue.record("outcomes: \(result.outcomes)")
            return
        }
        #expect(result.outcomes[0] == .succeeded)
        #expect(result.outcomes[1] == .upserted)
        #expect(result.outcomes[3] == .succeeded)
        if case .failed(let error) = result.outcomes[2] { #expect(error.code == 11000) } else { Issue.record("expected E11000") }
        #expect(count == 3)
    }

    @Test func cursorsFetchBatchByBatchAndCanBeAbandoned() async throws {
        let (all, sums) = try await withCollection { collection in
            _ = try collection.bulkWrite(
                (1...250).map { .insertOne(["id": .int64($0), "blob": .bytes([UInt8](repeating: 7, count: 100))]) })
            let all = try collection.find(
                [:], options: ["sort": ["id": .int32(1)], "batchSize": .int32(10), "projection": ["blob": .int32(0)]]
            ).all()
            do {
                let abandoned = try collection.find([:], options: ["batchSize": .int32(10)])
                for _ in 0..<5 { _ = try abandoned.next() }
            }  // released here: killCursors
            try collection.client.ping()
            let sums = try collection.aggregate([
                ["$match": ["id": ["$lte": .int64(10)]]],
                ["$group": ["_id": nil, "total": ["$sum": "$id"], "n": ["$sum": .int32(1)]]],
            ]).all()
            return (all, sums)
        }
        #expect(all.map { $0["id"]?.int64Value } == (1...250).map { Optional($0) })
        #expect(all.allSatisfy { $0["blob"] == nil })
        #expect(sums.first?["total"]?.int64Value == 55)
        #expect(sums.first?["n"]?.int64Value == 10)
    }

    @Test func badFiltersAndUpdatesAreErrorsNotCrashes() async throws {
        let (unknown, badUpdate) = try await withCollection { collection in
            _ = try collection.bulkWrite([.insertOne(["id": .int64(1)])])
            func failure(_ body: () throws -> Void) -> MongoError? {
                do {
                    try body()
                    return nil
                } catch let error as MongoError {
                    return error
                } catch {
                    return MongoError(domain: 0, code: 0, message: "not a MongoError: \(error)")
                }
            }
            let unknown = failure { _ = try collection.find(["id": ["$noSuchOperator": .int32(1)]]).all() }
            // an update document without operators is refused before anything is sent
            let badUpdate = failure { _ = try collection.bulkWrite([.updateOne(filter: [:], update: ["v": .int32(1)], upsert: false)]) }
            try collection.client.ping()
            return (unknown, badUpdate)
        }
        #expect(unknown?.kind == .permanent)
        #expect(unknown?.description.contains("$noSuchOperator") == true, "\(String(describing: unknown))")
        #expect(badUpdate?.kind == .permanent)
    }
}
