import CountingProxy
import Foundation
import LibMongoC
import MongoStore
import SyncModel
import TestSupport
import Testing

@Suite struct MongoStoreTests {
    @Test func defaultsAreLIMSNames() throws {
        let configuration = MongoStore.Configuration(uri: "mongodb://mongodb-consumer:27017")
        #expect(configuration.database == "imagedbplantconsumer")
        #expect(Plant.lims.map(configuration.collectionName) == ["imagecolplantpotato", "imagecolplanttomato", "imagecolplantpepper"])
        #expect(Plant.lims.map(configuration.collectionName) == Plant.lims.map(\.limsCollection))
    }

    @Test func configurationFromOneConnectionString() throws {
        let producer = try MongoStore.Configuration(connectionString: "mongodb://mongodb-producer:27017/imagedbplantproducer")
        #expect(producer.database == "imagedbplantproducer")
        #expect(producer.collectionName(.tomato) == "imagecolplanttomato")
        let consumer = try MongoStore.Configuration(connectionString: "mongodb://u:pw@mongodb-consumer:27017/?authSource=admin")
        #expect(consumer.database == "imagedbplantconsumer")
        #expect(MongoStore.Configuration.accepts("mongodb+srv://cluster.example/db"))
        #expect(!MongoStore.Configuration.accepts("postgresql://localhost/db"))
        let error = #expect(throws: MongoStoreError.self) { try MongoStore.Configuration(connectionString: "mongodb://u:secret@h:port/db") }
        #expect(error?.description.contains("secret") == false)
    }

    /// Every plant's collection has the unique index on id before its first document: `prepareSchema`
    /// indexes the plant collections that exist (idempotent); a plant nobody named gets its collection
    /// and indexes from its first write.
    @Test func everyPlantCollectionHasAUniqueIndexOnIdBeforeItsFirstDocument() async throws {
        try await withStore { store, client async throws in
            try await client.command(["create": "imagecolplanttomato"], database: store.configuration.database)
            try await store.prepareSchema()
            try await store.prepareSchema()
            let cucumber = try Plant(validating: "cucumber", field: "test")
            _ = try await store.apply([.upsert(sampleRecord(plant: cucumber, id: 1))])
            #expect(try await store.plants() == [cucumber, .tomato])
            for plant in [Plant.tomato, cucumber] {
                let collection = client.collection(store.configuration.collectionName(plant), database: store.configuration.database)
                let indexes = try await collection.listIndexes()
                let id = indexes.first { $0["key"]?.documentValue?.keys == ["id"] }
                #expect(id?["unique"]?.boolValue == true, "no unique index on id in \(collection.namespace): \(indexes)")
                #expect(indexes.contains { $0["key"]?.documentValue?.keys == ["_ps.ts"] })
            }
        }
    }

    /// A batch of several plants is one store call whose outcome counts per plant (docs/design.md §3).
    @Test func aBatchOfSeveralPlantsReportsItsCountsPerPlant() async throws {
        try await withStore { store, _ async throws in
            let batch = [
                Change.upsert(sampleRecord(plant: .tomato, id: 1)), .upsert(sampleRecord(plant: .potato, id: 1)),
                .upsert(sampleRecord(plant: .potato, id: 2)), .upsert(sampleRecord(plant: .potato, id: 2)),
            ]
            let outcome = try await store.apply(batch)
            #expect(outcome.totals == ApplyOutcome(applied: 3, skippedStale: 1))
            #expect(outcome.byPlant == [.tomato: .init(applied: 1, skippedStale: 0), .potato: .init(applied: 2, skippedStale: 1)])
            #expect(try await store.apply(batch).byPlant[.potato] == .init(applied: 0, skippedStale: 3))
            #expect(try await store.count(of: .potato) == 2)
        }
    }

    @Test func duplicateKeyFromTheConditionalUpsertIsCountedAsSkippedStale() async throws {
        try await withStore { store, client async throws in
            let record = sampleRecord(id: 1)
            #expect(try await store.apply([.upsert(record)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            // The mechanism: the conditional filter does not match the stored (equal) version, so the
            // upsert tries an insert, and the unique index on id answers E11000.
            let collection = try client.collection("imagecolplantpepper", database: store.configuration.database)
            let filter: BSONDocument = [
                "id": .int64(1),
                "$or": [.document(["_ps.ts": ["$lt": .int64(record.version.ts)]])],
            ]
            let result = try await collection.bulkWrite([.replaceOne(filter: filter, replacement: ["id": .int64(1)], upsert: true)])
            #expect(result.writeErrors.map(\.code) == [11000])
            #expect(result.outcomes.count == 1)
            // Through the store: equal and older versions are skipped, nothing changes.
            var older = record
            older.createdAt = Timestamp(microsecondsSinceEpoch: record.createdAt.microsecondsSinceEpoch - 1)
            #expect(try await store.apply([.upsert(record), .upsert(older)]).totals == ApplyOutcome(applied: 0, skippedStale: 2))
            #expect(try await store.record(record.key) == record)
            #expect(try await collection.countDocuments([:]) == 1)
        }
    }

    @Test func microsecondsSurviveMillisecondDatesAndKeepTheVersionOrder() async throws {
        try await withStore { store, client async throws in
            // two versions 1 µs apart in the same millisecond
            let base: Int64 = 1_696_779_589_123_123
            var first = sampleRecord(id: 5, createdAt: base)
            first.updatedAt = Timestamp(microsecondsSinceEpoch: base + 400)
            var second = first
            second.updatedAt = Timestamp(microsecondsSinceEpoch: base + 401)
            second.disease = "Late Blight"
            #expect(try await store.apply([.upsert(second)]).applied == 1)
            #expect(try await store.apply([.upsert(first)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            let stored = try await store.record(first.key)
            #expect(stored == second)
            #expect(stored?.updatedAt?.microsecondsSinceEpoch == base + 401)
            #expect(stored?.createdAt.microsecondsSinceEpoch == base)
            // the raw document: BSON dates in whole milliseconds, exact microseconds beside them
            let raw = try await client.collection("imagecolplantpepper", database: store.configuration.database)
                .find(["id": .int64(5)]).first
            #expect(raw?["created_at"] == .datetime(base / 1000))
            #expect(raw?["updated_at"] == .datetime((base + 401) / 1000))
            #expect(raw?[path: "_ps.created_us"] == .int64(base))
            #expect(raw?[path: "_ps.updated_us"] == .int64(base + 401))
            #expect(raw?["data"] == .bytes(second.data!))
            #expect(raw?["gps_coordinates"] == [.double(52.52), .double(13.405)])
        }
    }

    @Test func documentsOfAnotherWriterAreReadAndChecksummedLikeOwnOnes() async throws {
        try await withStore { store, client async throws in
            // As LIMS's Image API writes them: int32 numbers, millisecond dates, no _ps.
            let collection = try client.collection("imagecolplanttomato", database: store.configuration.database)
            let created: Int64 = 1_696_779_589_123
            _ = try await collection.bulkWrite([
                .insertOne([
                    "id": .int32(1), "camera_id": .int32(2), "data": .bytes([1, 2, 3]),
                    "gps_coordinates": [.double(1.5), .int32(2)], "disease": nil, "percentage": nil,
                    "created_at": .datetime(created), "updated_at": nil, "is_active": true, "is_deleted": false,
                ])
            ])
            let expected = ImageRecord(
                plant: .tomato, id: 1, cameraId: 2, data: [1, 2, 3], latitude: 1.5, longitude: 2,
                createdAt: Timestamp(microsecondsSinceEpoch: created * 1000))
            #expect(try await store.record(expected.key) == expected)
            #expect(try await store.count(of: .tomato) == 1)
            let versions = try await store.versions(of: .tomato, in: .all, pageSize: 10).collect()
            #expect(versions == [KeyVersion(id: 1, version: expected.version, digest: expected.digest)])
            #expect(try await store.summary(of: .tomato, in: .all) == RangeSummary(count: 1, checksum: UInt64(bitPattern: expected.digest)))
            // mixed with an own document in one range
            let own = sampleRecord(plant: .tomato, id: 2)
            _ = try await store.apply([.upsert(own)])
            #expect(
                try await store.summary(of: .tomato, in: .all)
                    == RangeSummary(count: 2, checksum: RowDigest.checksum(of: [expected.digest, own.digest])))
            // the first change for the key adopts the document; a keep-data change keeps its bytes
            var update = expected
            update.updatedAt = Timestamp(microsecondsSinceEpoch: created * 1000 + 5)
            update.disease = "Healthy"
            #expect(try await store.apply([.upsert(update, keepsStoredData: true)]).applied == 1)
            #expect(try await store.record(expected.key) == update)
            #expect(try await store.versions(of: .tomato, in: .all, pageSize: 10).collect().first?.digest == update.digest)
            #expect(try await store.summary(of: .tomato, in: .all).checksum == RowDigest.checksum(of: [update.digest, own.digest]))
        }
    }

    @Test func malformedDocumentsGiveAnErrorNamingFieldAndValue() async throws {
        try await withStore { store, client async throws in
            let collection = try client.collection("imagecolplantpotato", database: store.configuration.database)
            _ = try await collection.bulkWrite([
                .insertOne([
                    "id": .int64(9), "camera_id": "three", "gps_coordinates": [.double(1), .double(2)],
                    "created_at": .datetime(0), "is_active": true, "is_deleted": false,
                ])
            ])
            let error = await #expect(throws: MongoStoreError.self) { try await store.record(RecordKey(plant: .potato, id: 9)) }
            #expect(error?.description.contains("'camera_id'") == true)
            #expect(error?.description.contains("\"three\"") == true)
            #expect(error?.isTransient == false)
        }
    }

    @Test func rejectsBadInputWithoutWriting() async throws {
        try await withStore { store, _ async throws in
            let bad = Change.delete(RecordKey(plant: .pepper, id: -1), at: Timestamp(microsecondsSinceEpoch: 1))
            let error = await #expect(throws: MongoStoreError.self) { try await store.apply([.upsert(sampleRecord(id: 1)), bad]) }
            #expect(error?.description.contains("'id'") == true)
            #expect(error?.description.contains("-1") == true)
            #expect(try await store.count(of: .pepper) == 0)
        }
    }

    @Test func rejectsInvalidConfiguration() {
        for database in ["", "a/b", "a.b", "a b", "x$y", String(repeating: "d", count: 64)] {
            let error = #expect(throws: MongoStoreError.self) { try MongoStore(.init(uri: "mongodb://localhost", database: database)) }
            #expect(error?.message.contains("'\(database)'") == true)
        }
        #expect(throws: MongoStoreError.self) { try MongoStore(.init(uri: "mongodb://localhost", collectionPrefix: "")) }
        #expect(throws: MongoStoreError.self) { try MongoStore(.init(uri: "mongodb://localhost", collectionPrefix: "a$")) }
        let error = #expect(throws: MongoStoreError.self) { try MongoStore(.init(uri: "postgresql://u:secret@localhost/x")) }
        #expect(error?.message.contains("mongodb://") == true)
        #expect(error?.message.contains("secret") == false)
    }

    @Test func unreachableServerIsATransientErrorSayingSo() async throws {
        let store = try MongoStore(.init(uri: "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"))
        let error = await #expect(throws: MongoStoreError.self) { try await store.count(of: .tomato) }
        #expect(error?.isTransient == true)
        #expect(error?.operation == "count imagedbplantconsumer.imagecolplanttomato")
        #expect(error?.description.contains("No suitable servers found") == true)
    }

    @Test func invalidURIIsRejectedAtConfiguration() {
        for uri in ["mongodb://localhost:notaport", "mongodb://u:secret@localhost/?w=-7&authMechanism=NOPE"] {
            let error = #expect(throws: MongoStoreError.self) { try MongoStore(.init(uri: uri)) }
            #expect(error?.isTransient == false)
            #expect(error?.description.contains("invalid MongoDB URI") == true, "\(String(describing: error))")
            #expect(error?.description.contains("secret") == false, "\(String(describing: error))")
        }
    }

    @Test func failedAuthenticationSaysSo() async throws {
        let uri = withCredentials(try testURI(), user: "plantsync-nobody", password: "wrong-password")
        let store = try MongoStore(.init(uri: uri, database: freshDatabaseName()))
        let error = await #expect(throws: MongoStoreError.self) { try await store.prepareSchema() }
        #expect(error?.kind == .authentication)
        #expect(error?.isTransient == false)
        #expect(error?.description.contains("authentication failed") == true)
    }

    @Test func serverErrorsCarryCodeAndMessage() async throws {
        let client = try await TestMongoClient.connect(uri: try testURI())
        let error = await #expect(throws: MongoError.self) {
            try await client.run { try $0.command(["plantsyncNoSuchCommand": .int32(1)], database: "admin") }
        }
        #expect(error?.code == 59)
        #expect(error?.kind == .permanent)
        #expect(error?.description.contains("plantsyncNoSuchCommand") == true)
        try await client.ping()
    }
}

/// Documents the first release wrote — `_ps` without the bytes register's `dts`/`dtb` (its
/// `MongoRecordCodec.document` and `tombstone`, from `git show 1605eb1:Sources/MongoStore/MongoRecordCodec.swift`)
/// — read by this release: a live document's register reads as "version = the record's" (its bytes
/// came with its record), a tombstone's as empty (docs/mongodb.md, "Document shape").
@Suite struct FirstReleaseDocumentTests {
    static func halves(_ value: Int64) -> (BSONValue, BSONValue) {
        let bits = UInt64(bitPattern: value)
        return (.int64(Int64(bits >> 32)), .int64(Int64(bits & 0xFFFF_FFFF)))
    }

    static func firstReleaseDocument(_ r: ImageRecord) -> BSONDocument {
        let (tbh, tbl) = halves(r.version.storedTiebreak)
        let (dhh, dhl) = halves(Int64(bitPattern: r.dataHash))
        return [
            "id": .int64(r.id), "camera_id": .int64(r.cameraId), "data": r.data.map(BSONValue.bytes) ?? .null,
            "gps_coordinates": [.double(r.latitude), .double(r.longitude)], "disease": r.disease.map(BSONValue.string) ?? .null,
            "percentage": r.percentage.map(BSONValue.double) ?? .null,
            "created_at": .datetime(r.createdAt.microsecondsSinceEpoch / 1000), "updated_at": .null,
            "is_active": .bool(r.isActive), "is_deleted": .bool(r.isDeleted),
            "_ps": [
                "ts": .int64(r.version.ts), "tb": .int64(r.version.storedTiebreak), "tbh": tbh, "tbl": tbl,
                "created_us": .int64(r.createdAt.microsecondsSinceEpoch), "updated_us": .null, "tombstone": false,
                "dh": .int64(Int64(bitPattern: r.dataHash)), "dhh": dhh, "dhl": dhl,
            ],
        ]
    }

    static func firstReleaseTombstone(id: Int64, at ts: Int64) -> BSONDocument {
        let version = Version.delete(ts: ts)
        let (tbh, tbl) = halves(version.storedTiebreak)
        return [
            "id": .int64(id),
            "_ps": [
                "ts": .int64(ts), "tb": .int64(version.storedTiebreak), "tbh": tbh, "tbl": tbl, "tombstone": true,
                "dh": .int64(0), "dhh": .int64(0), "dhl": .int64(0),
            ],
        ]
    }

    @Test func firstReleaseDocumentsKeepTheirBytesAndReadAsBytesOfTheirRecord() async throws {
        try await withStore { store, client async throws in
            let collection = try client.collection("imagecolplantpepper", database: store.configuration.database)
            let record = sampleRecord(id: 1)
            var second = sampleRecord(id: 2)
            second.data = [9, 8, 7]
            _ = try await collection.bulkWrite([
                .insertOne(Self.firstReleaseDocument(record)), .insertOne(Self.firstReleaseDocument(second)),
                .insertOne(Self.firstReleaseTombstone(id: 3, at: 5_000)),
            ])
            #expect(try await store.records(of: .pepper, in: .all, pageSize: 10).collect() == [record, second])
            #expect(
                try await store.versions(of: .pepper, in: .all, pageSize: 10).collect() == [
                    KeyVersion(id: 1, version: record.version, digest: record.digest, dataVersion: record.version),
                    KeyVersion(id: 2, version: second.version, digest: second.digest, dataVersion: second.version),
                    KeyVersion(id: 3, version: .delete(ts: 5_000), digest: 0, dataVersion: nil),
                ])
            #expect(
                try await store.summary(of: .pepper, in: .all)
                    == RangeSummary(count: 2, checksum: RowDigest.checksum(of: [record.digest, second.digest])))
            // a byte-less update keeps the bytes; an older change with other bytes does not replace them
            var later = record
            later.updatedAt = Timestamp(microsecondsSinceEpoch: record.createdAt.microsecondsSinceEpoch + 10)
            #expect(try await store.apply([.upsert(later, keepsStoredData: true)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.record(record.key) == later)
            var older = second
            older.createdAt = Timestamp(microsecondsSinceEpoch: second.createdAt.microsecondsSinceEpoch - 10)
            older.data = [0xBA, 0xD0]
            #expect(try await store.apply([.upsert(older)]).totals == ApplyOutcome(applied: 0, skippedStale: 1))
            #expect(try await store.record(second.key)?.data == [9, 8, 7])
            // the tombstone's register is empty: a create older than the delete brings its bytes to it
            let third = sampleRecord(id: 3, createdAt: 1_000)
            #expect(try await store.apply([.upsert(third)]).totals == ApplyOutcome(applied: 1, skippedStale: 0))
            #expect(try await store.record(third.key) == nil)
            let written = try await collection.find(["id": .int64(1)]).first
            #expect(written?[path: "_ps.dts"] == .int64(record.version.ts))
            #expect(written?[path: "_ps.dtb"] == .int64(record.version.storedTiebreak))
        }
    }
}

/// docs/design.md §4, "Timeouts": a connection to MongoDB that goes silent is a transient error within
/// the store's call timeout (libmongoc's `socketTimeoutMS`), and a retry connects afresh.
@Suite struct MongoSilentConnectionTests {
    @Test func aCallOnASilentConnectionFailsAsTransientAndARetryReconnects() async throws {
        try await withMongoDouble { try await silentConnection() }
    }

    func silentConnection() async throws {
        let base = try testURI()
        guard let components = URLComponents(string: base), let host = components.host, let port = components.port else {
            throw SetupError(description: "PLANTSYNC_MONGO_URI has no host:port: \(base)")
        }
        let proxy = try await CountingProxy.start(name: "silent-mongo", upstream: .tcp(host: host, port: port))
        let database = freshDatabaseName()
        // libmongoc retries a write or read once on a network error, on a new connection (which the proxy
        // passes): off here, so the call that meets the silent connection is the one that fails. Its
        // single-threaded client also checks the server before a call once `heartbeatFrequencyMS` (60 s)
        // has passed, and that check, timing out on the silent connection, reconnects first: a slow run
        // under load passed that mark and the write went through a new connection. No check here.
        let uri =
            "mongodb://127.0.0.1:\(proxy.port)/?directConnection=true&retryWrites=false&retryReads=false&heartbeatFrequencyMS=3600000"
        let store = try MongoStore(.init(uri: uri, database: database, appName: database, callTimeout: .seconds(5)))
        try await withCleanup {
            try await store.prepareSchema()
            #expect(try await store.apply([.upsert(sampleRecord(id: 1))]).applied == 1)
            #expect(await proxy.silenceExisting() >= 1)
            let error = await #expect(throws: MongoStoreError.self) { try await store.apply([.upsert(sampleRecord(id: 2))]) }
            #expect(error?.isTransient == true, "\(String(describing: error))")
            // What StreamSync's retry does: the next attempts connect afresh (a busy test double may make one
            // time out as well, which is transient too).
            var outcome: ApplyOutcome?
            for _ in 0..<10 where outcome == nil {
                do {
                    outcome = try await store.apply([.upsert(sampleRecord(id: 2))])
                } catch let error as MongoStoreError where error.isTransient {
                    continue
                }
            }
            // Applied once: by this attempt, or by an earlier one that timed out after the server had it.
            #expect(outcome.map { $0.applied + $0.skippedStale } == 1)
            #expect(try await store.count(of: .pepper) == 2)
        } cleanup: {
            try? await proxy.stop()
            if let client = try? await TestMongoClient.connect(uri: base) { try? await client.dropDatabase(database) }
        }
    }
}
