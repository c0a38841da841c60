import Foundation
import LibMongoC
import MongoStore
import SyncModel
import TestSupport
import Testing

/// A MongoDB producer written by LIMS's own Image API (`ForeignMongoStore`) against PlantSync's own
/// store (docs/mongodb.md, "Digest domains", "A foreign producer").
@Suite struct ForeignMongoStoreTests {
    @Test func configurationTakesTheDatabaseFromTheURIAndDefaultsToLIMSsProducer() throws {
        let named = try ForeignMongoStore(.init(connectionString: "mongodb://mongodb-producer:27017/limsdb?directConnection=true"))
        #expect(named.database == "limsdb")
        let plain = try ForeignMongoStore(.init(connectionString: "mongodb://mongodb-producer:27017"))
        #expect(plain.database == "imagedbplantproducer")
        #expect(plain.configuration.layout == .lims)
        #expect(plain.configuration.digest == .auto)
        #expect(ForeignMongoStore.DigestMode.allCases.map(\.rawValue) == ["auto", "hashed", "client"])
        let error = #expect(throws: MongoStoreError.self) {
            try ForeignMongoStore(.init(connectionString: "mongodb://u:secret@h:port/db"))
        }
        #expect(error?.description.contains("secret") == false)
        #expect(throws: MongoStoreError.self) { try ForeignMongoStore(.init(connectionString: "postgresql://h/db")) }
    }

    @Test func decodesLIMSDocumentsWithInt32IdsObjectIdsAndFieldsItDoesNotKnow() async throws {
        try await withForeignFixture { fixture async throws in
            let records = limsRecords(ids: 1...30)
            try await fixture.insert(records)
            let store = try fixture.foreign()
            try await store.verifyLayout()
            let read = try await store.records(of: .pepper, in: .all, pageSize: 7).collect()
            #expect(read == records)
            // Each record carries its document's `_id`, which the consumer keeps (docs/design.md §2).
            #expect(read.map(\.sourceID) == records.map { SourceID(objectID: limsObjectID($0.id)) })
            #expect(try await store.count(of: .pepper) == 30)
            #expect(try await store.count(of: .potato) == 0)
            #expect(try await store.idBounds(of: .pepper) == KeyRange(lower: 1, upper: 31))
            #expect(try await store.idBounds(of: .tomato) == nil)
            #expect(try await store.record(RecordKey(plant: .pepper, id: 12)) == records[11])
            #expect(try await store.record(RecordKey(plant: .pepper, id: 99)) == nil)
            #expect(try await store.records(of: .pepper, ids: [20, 3, 3, 99], pageSize: 2).collect() == [records[2], records[19]])
            // A version's ts is updated_at ?? created_at in whole milliseconds.
            let versions = try await store.versions(of: .pepper, in: .all, pageSize: 8, domain: .metadata).collect()
            #expect(versions.map(\.version) == records.map(\.version))
            #expect(versions.allSatisfy { $0.version.ts % 1000 == 0 })
            // changedSince: updated_at ≥ d, or no updated_at and created_at ≥ d.
            let since = records[9].version.ts
            let changed = try await store.records(of: .pepper, changedSince: since, pageSize: 4).collect()
            #expect(changed == records.filter { $0.version.ts >= since })
            #expect(!changed.isEmpty && changed.count < records.count)
            // Whole doubles and int64 ids decode as integers too.
            let collection = try fixture.producerCollection(.tomato)
            var doc = limsDocument(limsRecords(plant: .tomato, ids: [5])[0], int32Id: false)
            doc.append("camera_id_dup", .int32(1))
            _ = try await collection.bulkWrite([.insertOne(doc)])
            _ = try await collection.bulkWrite([
                .updateOne(filter: ["id": .int64(5)], update: ["$set": ["camera_id": .double(4)]], upsert: false)
            ])
            #expect(try await store.record(RecordKey(plant: .tomato, id: 5))?.cameraId == 4)
        }
    }

    @Test func aBadFieldNamesTheFieldTheValueAndTheId() async throws {
        try await withForeignFixture { fixture async throws in
            var doc = limsDocument(limsRecords(ids: [8])[0])
            doc.append("x", .null)
            _ = try await fixture.producerCollection(.pepper).bulkWrite([.insertOne(doc)])
            _ = try await fixture.producerCollection(.pepper).bulkWrite([
                .updateOne(filter: ["id": .int32(8)], update: ["$set": ["camera_id": "three"]], upsert: false)
            ])
            let store = try fixture.foreign()
            let error = await #expect(throws: MongoStoreError.self) {
                try await store.records(of: .pepper, in: .all, pageSize: 10).collect()
            }
            let text = error?.description ?? ""
            #expect(text.contains("camera_id") && text.contains("three") && text.contains("8"), "\(text)")
        }
    }

    @Test func mongoAndMetadataDigestsEqualPlantSyncsOwnStoreForEverySplit() async throws {
        try await withForeignFixture { fixture async throws in
            guard await serverHashes(fixture.client) else { return try await requireRealServer(fixture) }  // $toHashedIndexKey: MongoDB 7.0+
            let records = limsRecords(ids: (1...60).map { $0 * 3 })
            try await fixture.insert(records)
            #expect(try await fixture.own.apply(records.map { .upsert($0) }).applied == records.count)
            let foreign = try fixture.foreign()
            #expect(try await foreign.digestDomains() == [.mongo, .metadata])
            #expect(try await fixture.own.digestDomains() == [.plantsync, .mongo, .metadata])
            #expect(DigestDomain.shared(producer: try await foreign.digestDomains(), consumer: try await fixture.own.digestDomains()) == .mongo)
            #expect(foreign.computesInDatabase(.mongo) && !foreign.computesInDatabase(.metadata))
            #expect(fixture.own.computesInDatabase(.mongo) && fixture.own.computesInDatabase(.metadata))
            let root = KeyRange(lower: 1, upper: 200)
            for parts in [1, 2, 3, 7, 16, 60, 199] {
                let ranges = root.split(into: parts)
                for domain in [DigestDomain.mongo, .metadata] {
                    let theirs = try await foreign.summaries(of: .pepper, in: ranges, domain: domain)
                    let ours = try await fixture.own.summaries(of: .pepper, in: ranges, domain: domain)
                    #expect(theirs == ours, "\(domain), \(parts) parts")
                    #expect(theirs.map(\.count) == ranges.map { r in records.filter { r.contains($0.id) }.count })
                }
                // .metadata is MetadataDigest.of(record) summed.
                let metadata = try await foreign.summaries(of: .pepper, in: ranges, domain: .metadata)
                #expect(
                    metadata.map(\.checksum)
                        == ranges.map { r in RowDigest.checksum(of: records.filter { r.contains($0.id) }.map(MetadataDigest.of)) })
            }
            // Unsorted, overlapping ranges (one $group per range).
            let odd = [KeyRange(lower: 50, upper: 120), KeyRange(lower: 1, upper: 60), KeyRange(lower: 100, upper: 100)]
            for domain in [DigestDomain.mongo, .metadata] {
                #expect(
                    try await foreign.summaries(of: .pepper, in: odd, domain: domain)
                        == fixture.own.summaries(of: .pepper, in: odd, domain: domain))
            }
            // Per-key versions and digests agree in both domains; .metadata is MetadataDigest.of(record).
            for domain in [DigestDomain.mongo, .metadata] {
                let theirs = try await foreign.versions(of: .pepper, in: root, pageSize: 13, domain: domain).collect()
                let ours = try await fixture.own.versions(of: .pepper, in: root, pageSize: 17, domain: domain).collect()
                #expect(theirs.map(\.id) == records.map(\.id))
                #expect(theirs.map(\.version) == ours.map(\.version))
                #expect(theirs.map(\.digest) == ours.map(\.digest), "\(domain)")
                if domain == .metadata { #expect(theirs.map(\.digest) == records.map(MetadataDigest.of)) }
            }
        }
    }

    @Test func aDifferenceShowsInExactlyOneRange() async throws {
        try await withForeignFixture { fixture async throws in
            guard await serverHashes(fixture.client) else { return try await requireRealServer(fixture) }
            let records = limsRecords(ids: 1...40)
            try await fixture.insert(records)
            _ = try await fixture.own.apply(records.map { .upsert($0) })
            let foreign = try fixture.foreign()
            let ranges = KeyRange(lower: 1, upper: 41).split(into: 8)
            func differing(_ domain: DigestDomain) async throws -> [Int] {
                let theirs = try await foreign.summaries(of: .pepper, in: ranges, domain: domain)
                let ours = try await fixture.own.summaries(of: .pepper, in: ranges, domain: domain)
                return ranges.indices.filter { theirs[$0] != ours[$0] }
            }
            let collection = try fixture.producerCollection(.pepper)
            func set(_ id: Int32, _ update: BSONDocument) async throws {
                _ = try await collection.bulkWrite([.updateOne(filter: ["id": .int32(id)], update: ["$set": .document(update)], upsert: false)])
            }
            // Below an integer: $toHashedIndexKey would truncate a raw double, the string keeps it.
            try await set(3, ["gps_coordinates": [.double(records[2].latitude + 1e-9), .double(records[2].longitude)]])
            #expect(try await differing(.mongo) == [0])
            #expect(try await differing(.metadata) == [0])
            try await set(3, ["gps_coordinates": [.double(records[2].latitude), .double(records[2].longitude)]])
            #expect(try await differing(.mongo) == [])
            // Other bytes of the same length: only the full-content domain sees them.
            let bytes = records[20].data!
            try await set(21, ["data": .bytes(bytes.map { $0 ^ 0x5A })])
            #expect(try await differing(.mongo) == [4])
            #expect(try await differing(.metadata) == [])
            let key = try await foreign.versions(of: .pepper, in: KeyRange(lower: 21, upper: 22), pageSize: 5, domain: .mongo).collect()
            let mine = try await fixture.own.versions(of: .pepper, in: KeyRange(lower: 21, upper: 22), pageSize: 5, domain: .mongo)
                .collect()
            #expect(key.first?.version == mine.first?.version && key.first?.digest != mine.first?.digest)
            // Another length: both.
            try await set(21, ["data": .bytes(bytes + [1])])
            #expect(try await differing(.metadata) == [4])
        }
    }

    @Test func unknownBytesAndTombstonesInTheOwnStoreDiffer() async throws {
        try await withForeignFixture { fixture async throws in
            guard await serverHashes(fixture.client) else { return try await requireRealServer(fixture) }
            let records = limsRecords(ids: 1...12).map { r -> ImageRecord in
                var r = r
                if r.data == nil { r.data = [1, 2, 3] }
                return r
            }
            try await fixture.insert(records)
            // Key 4 came only through a change without bytes: its bytes are not yet known.
            _ = try await fixture.own.apply(records.map { .upsert($0, keepsStoredData: $0.id == 4) })
            let foreign = try fixture.foreign()
            let all = KeyRange(lower: 1, upper: 13)
            for domain in [DigestDomain.mongo, .metadata] {
                #expect(
                    try await foreign.summary(of: .pepper, in: all, domain: domain)
                        != fixture.own.summary(of: .pepper, in: all, domain: domain), "\(domain)")
                let theirs = try await foreign.versions(of: .pepper, in: all, pageSize: 50, domain: domain).collect()
                let ours = try await fixture.own.versions(of: .pepper, in: all, pageSize: 50, domain: domain).collect()
                #expect(theirs.indices.filter { theirs[$0].digest != ours[$0].digest } == [3], "\(domain)")
                #expect(ours[3].version == theirs[3].version && ours[3].dataVersion == nil)
            }
            // Once the bytes arrive, the stores agree.
            _ = try await fixture.own.apply([.upsert(records[3])])
            for domain in [DigestDomain.mongo, .metadata] {
                #expect(
                    try await foreign.summary(of: .pepper, in: all, domain: domain)
                        == fixture.own.summary(of: .pepper, in: all, domain: domain))
            }
            // A tombstone is not in the summaries; its versions digest is 0.
            _ = try await fixture.own.apply([.delete(records[5].key, at: Timestamp(microsecondsSinceEpoch: records[5].version.ts + 1))])
            for domain in [DigestDomain.mongo, .metadata] {
                let ours = try await fixture.own.summary(of: .pepper, in: all, domain: domain)
                #expect(ours.count == 11)
                let versions = try await fixture.own.versions(of: .pepper, in: all, pageSize: 50, domain: domain).collect()
                #expect(versions[5].isTombstone && versions[5].digest == 0)
                var without = records
                without.remove(at: 5)
                let expected = try await foreign.summaries(
                    of: .pepper, in: [KeyRange(lower: 1, upper: 6), KeyRange(lower: 7, upper: 13)], domain: domain)
                let mine = try await fixture.own.summaries(
                    of: .pepper, in: [KeyRange(lower: 1, upper: 6), KeyRange(lower: 7, upper: 13)], domain: domain)
                #expect(expected == mine)
            }
        }
    }

    @Test func documentsOfAnotherWriterInTheOwnStoreDigestLikeTheProducers() async throws {
        try await withForeignFixture { fixture async throws in
            guard await serverHashes(fixture.client) else { return try await requireRealServer(fixture) }
            let records = limsRecords(ids: 1...20)
            try await fixture.insert(records)
            // Half through PlantSync, half left in the consumer by another writer (no _ps).
            _ = try await fixture.own.apply(records.filter { $0.id % 2 == 0 }.map { .upsert($0) })
            let ownCollection = try fixture.client.collection(Plant.pepper.limsCollection, database: fixture.own.configuration.database)
            _ = try await ownCollection.bulkWrite(records.filter { $0.id % 2 == 1 }.map { .insertOne(limsDocument($0)) })
            let foreign = try fixture.foreign()
            let ranges = KeyRange(lower: 1, upper: 21).split(into: 3)
            for domain in [DigestDomain.mongo, .metadata] {
                #expect(
                    try await foreign.summaries(of: .pepper, in: ranges, domain: domain)
                        == fixture.own.summaries(of: .pepper, in: ranges, domain: domain), "\(domain)")
                let theirs = try await foreign.versions(of: .pepper, in: .all, pageSize: 6, domain: domain).collect()
                let ours = try await fixture.own.versions(of: .pepper, in: .all, pageSize: 6, domain: domain).collect()
                #expect(theirs == ours, "\(domain)")
            }
        }
    }

    @Test func writesAreRefusedAndNoWriteCommandReachesTheProducer() async throws {
        try await withForeignFixture { fixture async throws in
            let records = limsRecords(ids: 1...25)
            try await fixture.insert(records)
            let before = await commandLog(fixture.client, database: fixture.producerDatabase)
            for mode in ForeignMongoStore.DigestMode.allCases {
                let store = try fixture.foreign(mode)
                try await store.verifyLayout()
                #expect(try await store.plants() == Plant.lims.sorted())
                // Read-only by type: no write, purge or bookkeeping method exists on a foreign producer.
                #expect(!((store as Any) is any ChangeApplier) && !((store as Any) is any TombstonePurging))
                // Every read.
                for plant in Plant.lims {
                    _ = try await store.count(of: plant)
                    _ = try await store.idBounds(of: plant)
                    _ = try await store.records(of: plant, in: .all, pageSize: 10).collect()
                    _ = try await store.records(of: plant, ids: [1, 2, 30], pageSize: 10).collect()
                    _ = try await store.records(of: plant, changedSince: 0, pageSize: 10).collect()
                    _ = try await store.record(RecordKey(plant: plant, id: 3))
                    for domain in try await store.digestDomains() {
                        _ = try await store.summaries(of: plant, in: KeyRange(lower: 1, upper: 30).split(into: 4), domain: domain)
                        _ = try await store.versions(of: plant, in: .all, pageSize: 10, domain: domain).collect()
                    }
                }
            }
            guard let before, let after = await commandLog(fixture.client, database: fixture.producerDatabase) else { return }  // a real server
            let received = after.filter { $0.value > (before[$0.key] ?? 0) }.map(\.key)
            let reads: Set = ["find", "aggregate", "getmore", "killcursors", "listcollections", "count"]
            #expect(!received.isEmpty)
            #expect(Set(received).isSubset(of: reads), "commands sent to the producer database: \(received.sorted())")
            let writes: Set = [
                "insert", "update", "delete", "findandmodify", "createindexes", "create", "drop", "dropdatabase", "dropindexes",
            ]
            #expect(Set(received).isDisjoint(with: writes))
            // The own store, for contrast, does write (a plant's indexes before its first document): the log sees that.
            _ = try await fixture.own.apply([.upsert(records[0])])
            #expect((await commandLog(fixture.client, database: fixture.own.configuration.database)?["createindexes"] ?? 0) > 0)
        }
    }

    /// `verifyLayout` writes nothing and needs a plant of the layout: the database's `imagecolplant<plant>`
    /// collections are the producer's plants (`plants()`), whatever they are; other collections are not.
    @Test func verifyLayoutWritesNothingAndTheLayoutsCollectionsAreThePlants() async throws {
        let base = try testURI()
        let database = freshDatabaseName()
        let client = try await TestMongoClient.connect(uri: base)
        defer { Task { try? await client.dropDatabase(database) } }
        try await client.command(["create": "unrelated"], database: database)
        try await client.command(["create": "imagecolplantBad-Name"], database: database)
        let store = try ForeignMongoStore(.init(connectionString: uri(base, withDatabase: database)))
        let error = await #expect(throws: MongoStoreError.self) { try await store.verifyLayout() }
        #expect(error?.description.contains("no collection of layout imagecolplant{plant}") == true, "\(String(describing: error))")
        #expect(try await store.plants() == [])
        try await client.command(["create": "imagecolplantcucumber"], database: database)
        try await client.command(["create": "imagecolplantpotato"], database: database)
        try await store.verifyLayout()
        #expect(try await store.plants().map(\.rawValue) == ["cucumber", "potato"])
        let names = try await client.command(["listCollections": .int32(1), "nameOnly": true], database: database)
        #expect(names[path: "cursor.firstBatch"]?.arrayValue?.count == 4)  // nothing created
    }

    /// One collection for every plant, told apart by a field: its values are the plants, each a valid name.
    @Test func aSharedCollectionsPlantFieldValuesAreThePlants() async throws {
        let base = try testURI()
        let database = freshDatabaseName()
        let client = try await TestMongoClient.connect(uri: base)
        defer { Task { try? await client.dropDatabase(database) } }
        let leaves = try client.collection("leaves", database: database)
        let cucumber = try Plant(validating: "cucumber", field: "test")
        var docs = limsRecords(plant: cucumber, ids: 1...3).map { limsDocument($0) } + limsRecords(plant: .potato, ids: 4...5).map { limsDocument($0) }
        for i in docs.indices { docs[i].append("kind", .string(i < 3 ? "cucumber" : "potato")) }
        _ = try await leaves.bulkWrite(docs.map { .insertOne($0) })
        let layout = ForeignLayout(container: "leaves", plantColumn: "kind")
        let store = try ForeignMongoStore(.init(connectionString: uri(base, withDatabase: database), layout: layout))
        #expect(try await store.plants() == [cucumber, .potato])
        #expect(try await store.count(of: cucumber) == 3)
        var bad = limsDocument(limsRecords(plant: .potato, ids: 6...6)[0])
        bad.append("kind", "Bad Kale")
        _ = try await leaves.bulkWrite([.insertOne(bad)])
        let error = await #expect(throws: PlantNameError.self) { try await store.plants() }
        #expect(error?.description.contains("leaves field kind (--producer-plant-column): 'Bad Kale' is not a valid plant name") == true)
    }

    @Test func forcedClientModeComputesMetadataOnTheClient() async throws {
        try await withForeignFixture { fixture async throws in
            let records = limsRecords(ids: 1...50)
            try await fixture.insert(records)
            _ = try await fixture.own.apply(records.map { .upsert($0) })
            let store = try fixture.foreign(.client)
            #expect(try await store.digestDomains() == [.metadata])
            #expect(!store.computesInDatabase(.metadata))
            #expect(DigestDomain.shared(producer: try await store.digestDomains(), consumer: try await fixture.own.digestDomains()) == .metadata)
            await #expect(throws: MongoStoreError.self) { try await store.summaries(of: .pepper, in: [.all], domain: .mongo) }
            await #expect(throws: MongoStoreError.self) { try await store.summaries(of: .pepper, in: [.all], domain: .plantsync) }
            let ranges = KeyRange(lower: 1, upper: 51).split(into: 9)
            #expect(
                try await store.summaries(of: .pepper, in: ranges, domain: .metadata)
                    == fixture.own.summaries(of: .pepper, in: ranges, domain: .metadata))
            let versions = try await store.versions(of: .pepper, in: .all, pageSize: 11, domain: .metadata).collect()
            #expect(versions.map(\.digest) == records.map(MetadataDigest.of))
            #expect(try await fixture.foreign(.hashed).digestDomains() == [.mongo, .metadata])
            if await serverHashes(fixture.client) { #expect(try await fixture.foreign(.auto).digestDomains() == [.mongo, .metadata]) }
        }
    }
}
