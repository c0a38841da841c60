import LibMongoC
import Testing

/// The wrapper itself, against the server under test (the double, or a real MongoDB).
@Suite struct LibMongoCTests {
    func withCollection<T>(_ body: (MongoCollection) throws -> T) throws -> T {
        let client = try MongoClient(uri: try testURI(), appName: "plantsync-tests")
        let database = freshDatabaseName()
        defer { _ = try? client.dropDatabase(database) }
        let collection = try client.collection("things", database: database)
        try collection.createIndexes([IndexModel(keys: ["id": .int32(1)], name: "id_1", unique: true)])
        return try body(collection)
    }

    @Test func bulkWriteReportsEveryOperationsOutcome() throws {
        try withCollection { collection in
            let seeded = try collection.bulkWrite((1...3).map { .insertOne(["id": .int64($0), "v": .int32(0)]) })
            #expect(seeded.inserted == 3)
            #expect(seeded.outcomes == [.upserted, .upserted, .upserted])
            let result = try collection.bulkWrite([
                .updateOne(filter: ["id": .int64(1)], update: ["$set": ["v": .int32(1)]], upsert: false),
                .replaceOne(filter: ["id": .int64(9)], replacement: ["id": .int64(9), "v": .int32(9)], upsert: true),
                .insertOne(["id": .int64(2)]),  // duplicate id
                .deleteOne(filter: ["id": .int64(3)]),
                .updateOne(filter: ["id": .int64(77)], update: ["$set": ["v": .int32(1)]], upsert: false),
            ])
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
            #expect(try collection.countDocuments([:]) == 3)
        }
    }

    @Test func cursorsFetchBatchByBatchAndCanBeAbandoned() throws {
        try withCollection { collection in
            _ = try collection.bulkWrite(
                (1...250).map { .insertOne(["id": .int64($0), "blob": .bytes([UInt8](repeating: 7, count: 100))]) })
            let all = try collection.find(
                [:], options: ["sort": ["id": .int32(1)], "batchSize": .int32(10), "projection": ["blob": .int32(0)]]
            ).all()
            #expect(all.map { $0["id"]?.int64Value } == (1...250).map { Optional($0) })
            #expect(all.allSatisfy { $0["blob"] == nil })
            do {
                let abandoned = try collection.find([:], options: ["batchSize": .int32(10)])
                for _ in 0..<5 { _ = try abandoned.next() }
            }  // released here: killCursors
            try collection.client.ping()
            let sums = try collection.aggregate([
                ["$match": ["id": ["$lte": .int64(10)]]],
                ["$group": ["_id": nil, "total": ["$sum": "$id"], "n": ["$sum": .int32(1)]]],
            ]).all()
            #expect(sums.first?["total"]?.int64Value == 55)
            #expect(sums.first?["n"]?.int64Value == 10)
        }
    }

    @Test func badFiltersAndUpdatesAreErrorsNotCrashes() throws {
        try withCollection { collection in
            _ = try collection.bulkWrite([.insertOne(["id": .int64(1)])])
            let unknown = #expect(throws: MongoError.self) { try collection.find(["id": ["$noSuchOperator": .int32(1)]]).all() }
            #expect(unknown?.kind == .permanent)
            #expect(unknown?.description.contains("$noSuchOperator") == true, "\(String(describing: unknown))")
            // an update document without operators is refused before anything is sent
            let error = #expect(throws: MongoError.self) {
                try collection.bulkWrite([.updateOne(filter: [:], update: ["v": .int32(1)], upsert: false)])
            }
            #expect(error?.kind == .permanent)
            try collection.client.ping()
        }
    }
}
