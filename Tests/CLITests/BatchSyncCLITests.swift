import Foundation
import PostgresStore
import StoreFactory
import SyncBenchCore
import SyncModel
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite struct BatchSyncCLITests {
    let batchSync = Executable(name: "BatchSync")

    @Test func printsVersionAndHelp() async throws {
        let version = try await batchSync.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.contains("0."))
        let help = try await batchSync.run(["--help"])
        #expect(help.status == 0)
        for flag in ["--producer-uri", "--consumer-uri", "--strategy", "--plants", "--dry-run", "--deletes", "--interval", "--pushgateway"]
        {
            #expect(help.stdout.contains(flag), "\(flag)")
        }
    }

    @Test(arguments: [
        (["--strategy", "rsync"], "rsync"),
        (["--plants", "potato,Cucumber"], "--plants: 'Cucumber' is not a valid plant name: a plant name starts with a lower-case letter"),
        (["--plants", "potato,,tomato"], "--plants: '' is not a valid plant name: a plant name must not be empty"),
        (["--plants", ""], "--plants: '' is not a valid plant name"),
        (["--plants", "all,bell-pepper"], "'bell-pepper' is not a valid plant name"),
        (["--fanout", "1"], "--fanout 1"),
        (["--interval", "0"], "--interval 0"),
        (["--deletes", "maybe"], "maybe"),
        (["--log-level", "loud"], "loud"),
        (["--consumer-uri", "redis://x"], "redis://x"),
        (["--pushgateway", "not a url"], "not a url"),
        (["--producer-layout", "debezium"], "debezium"),
        (["--producer-field", "colour=hue"], "--producer-field 'colour=hue': unknown field 'colour'"),
        (["--producer-field", "disease"], "--producer-field 'disease': expected FIELD=NAME"),
        (["--producer-field", "latitude=lat"], "map both latitude and longitude"),
        (["--producer-table", "app.images"], "needs --producer-plant-column"),
        (["--mongo-digest", "sha1"], "--mongo-digest sha1"),
    ])
    func badInputIsAClearErrorAndNonZeroExit(arguments: [String], mentions: String) async throws {
        var all = [
            "--producer-uri", "postgresql:///x?host=/nonexistent-plantsync", "--consumer-uri",
            "postgresql:///y?host=/nonexistent-plantsync",
        ]
        all += arguments
        let result = try await batchSync.run(all)
        #expect(result.status != 0)
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test func missingURIsAreNamed() async throws {
        let result = try await batchSync.run([], environment: ["PLANTSYNC_PRODUCER_URI": "", "PLANTSYNC_CONSUMER_URI": ""])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--producer-uri"))
    }

    @Test func unreachableDatabaseFailsWithAMessage() async throws {
        let result = try await batchSync.run([
            "--producer-uri", "postgresql:///x?host=/nonexistent-plantsync&connect_timeout=1",
            "--consumer-uri", "postgresql:///y?host=/nonexistent-plantsync&connect_timeout=1",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot connect"))
    }

    @Test func oneRunPrintsOneJSONLineAndConverges() async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                var rng = SplitMix64(seed: 1)
                _ = try await producer.apply((1...40).map { .upsert(randomRecord(plant: .potato, id: $0, rng: &rng)) })
                let uri = try postgresURI()
                let result = try await batchSync.run([
                    "--producer-uri", uri, "--producer-layout", "plantsync", "--producer-schema", producer.configuration.schema,
                    "--consumer-uri", uri, "--consumer-schema", consumer.configuration.schema, "--plants", "potato",
                ])
                #expect(result.status == 0, "\(result.stderr)")
                let lines = result.stdout.split(separator: "\n")
                try #require(lines.count == 1)
                let json = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
                #expect(json?["strategy"] as? String == "merkle")
                #expect(json?["rows_written"] as? Int == 40)
                #expect(try await liveRecords(consumer) == liveRecords(producer))
            }
        }
    }

    /// The application's own table, mapped by flags: one table with a plant column, renamed columns.
    @Test func foreignProducerTableMappedByFlags() async throws {
        let tables = try await LimsPostgresProducer.create(shape: .applicationTable)
        defer { tables.drop() }
        try await withPostgresStore { consumer in
            var rng = SplitMix64(seed: 2)
            try await tables.write((1...30).map { randomRecord(plant: .pepper, id: $0, rng: &rng) })
            let layout = tables.layout
            var arguments = [
                "--producer-uri", tables.uri, "--producer-table", layout.container, "--producer-plant-column", layout.plantColumn!,
                "--consumer-uri", try postgresURI(), "--consumer-schema", consumer.configuration.schema,
            ]
            for (field, name) in layout.renamed.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                arguments += ["--producer-field", "\(field.rawValue)=\(name)"]
            }
            let result = try await batchSync.run(arguments)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains(#""digest_domain":"postgres""#))
            #expect(try await liveRecords(consumer) == liveRecords(try tables.store))
            #expect(try await consumer.count(of: .pepper) == 30)
        }
    }

    /// A LIMS-style MongoDB producer diffed against a PostgreSQL consumer (and back): no other diff
    /// tool compares the two engines; merkle does, through the shared digest.
    @Test func mixedEnginesConvergeInBothDirections() async throws {
        guard let mongo = ProcessInfo.processInfo.environment["PLANTSYNC_MONGO_URI"], let slash = mongo.range(of: "/?") else {
            throw SetupError("PLANTSYNC_MONGO_URI is not set (or has no '/?'): run the tests through scripts/test")
        }
        let database = uniqueSchema()
        let mongoURI = mongo.replacingCharacters(in: slash, with: "/\(database)?")
        let pg = try postgresURI()
        try await withPostgresStore { postgres in
            var rng = SplitMix64(seed: 77)
            let records = (1...60).map { randomRecord(plant: .tomato, id: $0, rng: &rng, dataBytes: 300) }
            let mongoStore = try StoreFactory.openConsumer(uri: mongoURI, role: "producer")
            _ = try await mongoStore.apply(records.map { .upsert($0) })
            // MongoDB → PostgreSQL
            let forward = try await batchSync.run([
                "--producer-uri", mongoURI, "--producer-layout", "plantsync", "--consumer-uri", pg, "--consumer-schema",
                postgres.configuration.schema, "--plants", "tomato",
            ])
            #expect(forward.status == 0, "\(forward.stderr)")
            #expect(try await liveRecords(postgres) == records)
            // PostgreSQL → MongoDB, after the PostgreSQL side moved on
            var changed = records[7]
            changed.updatedAt = Timestamp(microsecondsSinceEpoch: 9_000_000)
            changed.disease = "Late Blight"
            _ = try await postgres.apply([.upsert(changed), .delete(records[8].key, at: Timestamp(microsecondsSinceEpoch: 9_000_000))])
            let back = try await batchSync.run([
                "--producer-uri", pg, "--producer-layout", "plantsync", "--producer-schema", postgres.configuration.schema,
                "--consumer-uri", mongoURI, "--plants", "tomato",
            ])
            #expect(back.status == 0, "\(back.stderr)")
            #expect(try await liveRecords(mongoStore) == liveRecords(postgres))
            #expect(back.stdout.contains(#""differences":2"#), "\(back.stdout)")
        }
    }

    /// Loop mode: runs every --interval, serves /metrics, and exits 0 on SIGTERM.
    @Test func loopModeServesMetricsAndStopsGracefully() async throws {
        try await withPostgresStore { producer in
            try await withPostgresStore { consumer in
                let uri = try postgresURI()
                let port = Int.random(in: 20_000...40_000)
                let process = Process()
                process.executableURL = Executable.productsDirectory.appendingPathComponent("BatchSync")
                process.arguments = [
                    "--producer-uri", uri, "--producer-layout", "plantsync", "--producer-schema", producer.configuration.schema,
                    "--consumer-uri", uri,
                    "--consumer-schema", consumer.configuration.schema, "--interval", "1", "--http-port", String(port),
                    "--http-host", "127.0.0.1",
                ]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                var text = ""
                for _ in 0..<100 where !text.contains("plantsync_runs_total") {
                    try await Task.sleep(for: .milliseconds(100))
                    if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!) {
                        text = String(decoding: data, as: UTF8.self)
                    }
                }
                #expect(text.contains(#"plantsync_runs_total{job="batchsync",strategy="merkle",outcome="success"}"#), "\(text)")
                process.terminate()
                process.waitUntilExit()
                #expect(process.terminationStatus == 0)
            }
        }
    }

    @Test func httpPortNeedsLoopMode() async throws {
        let result = try await batchSync.run(["--producer-uri", "postgresql:///x", "--consumer-uri", "postgresql:///y", "--http-port", "9000"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--http-port 9000"))
    }
}
