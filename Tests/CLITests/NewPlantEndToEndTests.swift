import Foundation
import Kafka
import KafkaMock
import MongoStore
import PostgresStore
import SyncModel
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Issue 21's "done when": LIMS starts imaging cucumbers and PlantSync follows by configuration alone,
/// through the real executables — events on the new plant's topic, created after StreamSync started and
/// found by `--topic-pattern`, reach the consumer; the read API serves them; metrics carry the plant's
/// label; BatchSync `--plants all` diffs and repairs the plant from a foreign producer (LIMS's tables on
/// PostgreSQL, LIMS's collections on MongoDB) and tombstones a plant the producer no longer has.
@Suite struct NewPlantEndToEndTests {
    enum Engine: String, CaseIterable, CustomStringConvertible, Sendable {
        case postgres, mongo
        var description: String { rawValue }
    }

    static let cucumber = Plant(rawValue: "cucumber")!
    static let kale = Plant(rawValue: "kale")!

    /// A LIMS record at whole milliseconds (what a BSON date keeps), so every engine holds it exactly.
    static func record(_ plant: Plant, _ id: Int64, revision: Int = 0) -> ImageRecord {
        let created = Timestamp(microsecondsSinceEpoch: 1_696_779_589_000_000 + id * 60_000_000)
        return ImageRecord(
            plant: plant, id: id, cameraId: id % 5, data: (0..<(100 + Int(id))).map { UInt8(truncatingIfNeeded: Int(id) &* 7 &+ $0) },
            latitude: 52.2 + Double(id) / 1000, longitude: 21.0, disease: revision > 0 ? "Powdery Mildew" : nil,
            percentage: revision > 0 ? 0.75 : nil, createdAt: created,
            updatedAt: revision > 0 ? Timestamp(microsecondsSinceEpoch: created.microsecondsSinceEpoch + Int64(revision) * 1_000_000) : nil)
    }

    /// The producer as LIMS's Image API keeps it: LIMS's three plants and cucumber (kale was removed).
    struct Producer {
        let uri: String
        let arguments: [String]
        let store: any DiffSource
        let write: @Sendable ([ImageRecord]) async throws -> Void
        let delete: @Sendable ([RecordKey]) async throws -> Void
    }

    func withProducer<T>(_ engine: Engine, _ body: (Producer) async throws -> T) async throws -> T {
        let plants = Plant.lims + [Self.cucumber]
        switch engine {
        case .postgres:
            let tables = try await LimsPostgresProducer.create(shape: .limsTables, plants: plants)
            defer { tables.drop() }
            return try await body(
                Producer(
                    uri: tables.uri, arguments: ["--producer-table", tables.layout.container], store: try tables.store,
                    write: { try await tables.write($0) }, delete: { try await tables.delete($0) }))
        case .mongo:
            return try await withMongoDouble {
                let collections = try await LimsMongoProducer.create(plants: plants)
                defer { collections.drop() }
                return try await body(
                    Producer(
                        uri: collections.uri, arguments: [], store: try collections.store(), write: { try await collections.write($0) },
                        delete: { try await collections.delete($0) }))
            }
        }
    }

    /// PlantSync's consumer of the engine (empty, dropped afterwards) and the flags that name it.
    func withConsumer<T>(_ engine: Engine, _ body: (any ConsumerStore, _ uri: String, _ schema: [String]) async throws -> T) async throws -> T {
        switch engine {
        case .postgres:
            return try await withPostgresStore { store in
                try await body(store, try postgresURI(), ["--schema", store.configuration.schema])
            }
        case .mongo:
            return try await withMongoStore { store in
                try await body(store, TestSupport.uri(try mongoURI(), withDatabase: store.configuration.database), [])
            }
        }
    }

    func produce(_ records: [ImageRecord], cluster: KafkaMockCluster) async throws {
        try await publish(records, cluster: cluster) { Int32($0.id % 2) }
    }

    @Test(arguments: Engine.allCases)
    func aFourthPlantFlowsEndToEndByConfigurationAlone(engine: Engine) async throws {
        let (cucumber, kale) = (Self.cucumber, Self.kale)
        try await withProducer(engine) { producer in
            try await withConsumer(engine) { consumer, consumerURI, schema in
                try await withMockCluster { cluster in
                    try cluster.createTopic("potato", partitions: 1)
                    try cluster.createTopic("plantsync.deadletter", partitions: 1)
                    let arguments =
                        [
                            "--bootstrap-servers", cluster.bootstrapServers, "--group-id", uniqueName("e2e-"), "--topics", "",
                            "--topic-pattern", "^[a-z][a-z0-9_]*$", "-X", "topic.metadata.refresh.interval.ms=500",
                            // A new topic is a rebalance, which the mock broker can stall until the session ends.
                            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
                            "--store-uri", consumerURI, "--batch-wait-ms", "50", "--timestamp-precision", "milliseconds",
                            "--log-level", "warning",
                        ] + schema
                    try await withStreamSync(arguments) { base, log, streamSync in
                    var logText: String { log() }
                    let ready = await eventually { await get("\(base)/readyz")?.status == 200 }
                    try #require(ready, "StreamSync not ready: \(logText)")

                    // LIMS starts imaging cucumbers (and, for a while, kale): new topics, nothing else.
                    try cluster.createTopic("cucumber", partitions: 2)
                    try cluster.createTopic("kale", partitions: 2)
                    let cucumbers = (Int64(1)...30).map { Self.record(cucumber, $0) }
                    let kales = (Int64(1)...5).map { Self.record(kale, $0) }
                    try await producer.write(cucumbers)
                    try await produce(cucumbers + kales, cluster: cluster)
                    let arrived = await eventually {
                        let cucumberTotal = await total(base, "cucumber")
                        let kaleTotal = await total(base, "kale")
                        return cucumberTotal == 30 && kaleTotal == 5
                    }
                    #expect(arrived, "\(logText)")

                    // The read API serves the new plant as LIMS's would; invalid names are a 400.
                    let one = await get("\(base)/image-plant/cucumber/7")
                    #expect(one?.status == 200)
                    #expect(one?.body == RecordJSON.encode(cucumbers[6]))
                    #expect(await get("\(base)/image-plant/cucumber/99")?.status == 404)
                    let invalid = await get("\(base)/image-plant/Cucumber/7")
                    #expect(invalid?.status == 400)
                    #expect(invalid?.body.contains("a plant name starts with a lower-case letter") == true)
                    let metrics = await get("\(base)/metrics")?.body ?? ""
                    #expect(metrics.contains(#"plantsync_changes_applied_total{job="streamsync",plant="cucumber"} 30"#), "\(metrics)")
                    #expect(metrics.contains(#"plantsync_changes_applied_total{job="streamsync",plant="kale"} 5"#))

                    // The producer changes without events (what BatchSync is for), and kale is gone there;
                    // StreamSync runs on beside BatchSync (both write through the version rule).
                    let updated = (Int64(1)...4).map { Self.record(cucumber, $0, revision: 1) }
                    let created = Self.record(cucumber, 31)
                    try await producer.write(updated + [created])
                    try await producer.delete([cucumbers[29].key])
                    let expected = Array(updated + cucumbers[4..<29] + [created])
                    #expect(try await producer.store.records(of: cucumber, in: .all, pageSize: 100).collect() == expected)

                    let batchSync = Executable(name: "BatchSync")
                    let arguments =
                        ["--producer-uri", producer.uri, "--consumer-uri", consumerURI, "--plants", "all", "--strategy", "merkle"]
                        + producer.arguments + schema.map { $0 == "--schema" ? "--consumer-schema" : $0 }
                    let first = try await batchSync.run(arguments)
                    #expect(first.status == 0, "\(first.stderr)")
                    let report = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any] ?? [:]
                    #expect(report["plants"] as? [String] == ["cucumber", "kale", "pepper", "potato", "tomato"], "\(first.stdout)")
                    #expect(report["rows_deleted"] as? Int == 6, "\(first.stdout)")  // five kale, one cucumber
                    #expect(try await liveRecords(consumer, plants: [cucumber]) == expected)
                    #expect(try await consumer.count(of: kale) == 0)
                    let second = try await batchSync.run(arguments)
                    #expect(second.status == 0, "\(second.stderr)")
                    let again = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any] ?? [:]
                    #expect(again["differences"] as? Int == 0, "\(second.stdout)")

                    // The read API serves the repaired plant; the lost one is gone; a valid plant nobody
                    // wrote is an empty one (asked last: MongoDB's test double creates a collection on a read).
                    #expect(await get("\(base)/image-plant/cucumber/2")?.body == RecordJSON.encode(updated[1]))
                    #expect(await total(base, "cucumber") == 30)
                    #expect(await get("\(base)/image-plant/kale/1")?.status == 404)
                    #expect(await total(base, "kale") == 0)
                    #expect(await total(base, "fennel") == 0)
                    streamSync.terminate()
                    streamSync.waitUntilExit()
                    #expect(streamSync.terminationStatus == 0, "\(logText)")
                    }
                }
            }
        }
    }
}
