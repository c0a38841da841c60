import ArgumentParser
import Foundation
import Logging
import SyncModel

/// Chaos: the reliability checks of docs/streamsync.md ("Delivery guarantee") and docs/design.md §1, §2, §4 as
/// one reproducible run. A steady LIMS event stream goes through the real StreamSync executable into
/// a throwaway PostgreSQL while StreamSync is SIGKILLed at random instants, PostgreSQL is stopped
/// (immediate mode), the Kafka brokers are down and, on request, StreamSync's connections go silent
/// without closing (through proxies, `ChaosLinks`); afterwards every key must hold exactly its last
/// produced state, the group's offsets must reach the end of every partition and nothing may be
/// dead-lettered. `scripts/chaos` builds this, starts the PostgreSQL cluster and passes it in.
@main
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Chaos",
        abstract: "StreamSync under SIGKILLs, outages and silent connections: nothing may be lost.",
        discussion: """
            Run it through scripts/chaos, which builds StreamSync and Chaos, starts a throwaway durable \
            PostgreSQL and passes --pg-uri, --pg-data and --pg-bin. Kafka is librdkafka's mock cluster, \
            inside this process. StreamSync reaches PostgreSQL and each broker through a proxy of this \
            process, which --pg-silent, --pg-freeze, --broker-silent and --broker-freeze use. LIMS's own \
            database (schema chaos_lims) is written before every event; StreamSync heals the gaps of --poison, \
            --retention-gap and --offset-reset from it by itself (no BatchSync process). Prints one \
            line per check and a summary; exits 1 if any check fails.
            """)

    // MARK: The run

    @Option(parsing: .unconditional, help: "Seed of the event stream and of the fault schedule.")
    var seed: UInt64 = 42

    @Option(parsing: .unconditional, help: "LIMS events to produce (creates, full and partial updates, soft and hard deletes).")
    var events: Int = 200_000

    @Option(parsing: .unconditional, help: "SIGKILLs of StreamSync at random instants (each followed by a restart).")
    var kills: Int = 20

    @Option(
        name: .customLong("pg-outage"), parsing: .unconditional,
        help: ArgumentHelp("Seconds PostgreSQL is stopped (pg_ctl stop -m immediate, then start); 0: none.", valueName: "seconds"))
    var pgOutage: Double = 30

    @Option(
        name: .customLong("broker-outage"), parsing: .unconditional,
        help: ArgumentHelp("Seconds every Kafka broker is down; 0: none.", valueName: "seconds"))
    var brokerOutage: Double = 30

    @Flag(
        name: .customLong("pg-silent"),
        help: "StreamSync's PostgreSQL connections open at one instant pass nothing ever again and are never closed; new ones work (a failover).")
    var pgSilent = false

    @Option(
        name: .customLong("pg-freeze"), parsing: .unconditional,
        help: ArgumentHelp("Seconds every StreamSync PostgreSQL connection, open or new, passes nothing (a partition); 0: none.", valueName: "seconds"))
    var pgFreeze: Double = 0

    @Flag(
        name: .customLong("broker-silent"),
        help: "StreamSync's Kafka broker connections open at one instant pass nothing ever again and are never closed; new ones work.")
    var brokerSilent = false

    @Option(
        name: .customLong("broker-freeze"), parsing: .unconditional,
        help: ArgumentHelp("Seconds every StreamSync Kafka broker connection, open or new, passes nothing; 0: none.", valueName: "seconds"))
    var brokerFreeze: Double = 0

    @Option(
        name: .customLong("format"),
        help: ArgumentHelp(
            "How events are published: lims (LIMS's Image API: record JSON, hard deletes as tombstones) or mongodb-change-stream "
                + "(the MongoDB Kafka source connector: inserts and updates with fullDocument, partial updates as updateDescription "
                + "patches by _id, hard deletes by documentKey._id; StreamSync runs with --format mongodb-change-stream).",
            valueName: "format"))
    var format: ChaosEventFormat = .lims

    @Option(
        name: .customLong("poison"), parsing: .unconditional,
        help: ArgumentHelp(
            "Events for existing keys sent with a corrupt (undecodable) value while LIMS's database holds the real change: "
                + "StreamSync must dead-letter each, record a key gap and heal it from the producer; 0: none.",
            valueName: "count"))
    var poison: Int = 0

    @Flag(
        name: .customLong("retention-gap"),
        help: ArgumentHelp(
            "After the other faults: StreamSync is SIGKILLed and, while it is down, real LIMS changes of one partition (large images) "
                + "push its log past the mock broker's retention, beyond the group's committed offset; StreamSync must record a "
                + "retention gap and heal it from the producer by itself."))
    var retentionGap = false

    @Flag(
        name: .customLong("offset-reset"),
        help: ArgumentHelp(
            "After the other faults: StreamSync is stopped (SIGTERM) and, while it is down, an operator commits the group's offset "
                + "of one partition forward past real LIMS changes; StreamSync must record an offset-reset gap and heal it by itself."))
    var offsetReset = false

    @Option(
        name: .customLong("silent-room"), parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds after --pg-silent or --broker-silent within which StreamSync must commit again by itself (the stream goes on).",
            valueName: "seconds"))
    var silentRoom: Double = 30

    @Option(
        name: .customLong("streamsync-arg"), parsing: .unconditionalSingleValue,
        help: ArgumentHelp("An argument added to StreamSync's command line (repeatable; may start with a dash: --streamsync-arg --some-option --streamsync-arg 5).", valueName: "arg"))
    var streamSyncArguments: [String] = []

    @Option(
        name: .customLong("drain-timeout"), parsing: .unconditional,
        help: ArgumentHelp(
            "StreamSync's --drain-timeout: every SIGTERM (during each freeze, and at the end) must end it within this (+5 s).",
            valueName: "seconds"))
    var drainTimeout: Int = 10

    @Flag(
        name: .customLong("batch-silent"),
        help: "After the stream: a BatchSync run whose consumer connections go silent must fail within --batch-db-timeout, the next must converge.")
    var batchSilent = false

    @Option(
        name: .customLong("batch-db-timeout"), parsing: .unconditional,
        help: ArgumentHelp("BatchSync's --db-timeout for --batch-silent.", valueName: "seconds"))
    var batchDBTimeout: Int = 10

    @Option(
        name: .customLong("record-bytes"), parsing: .unconditional,
        help: ArgumentHelp("Image bytes per record (hex in the event, so twice that on the wire).", valueName: "bytes"))
    var recordBytes: Int = 1024

    @Option(
        name: .customLong("partial-percent"), parsing: .unconditional,
        help: ArgumentHelp("Percent of updates sent without the 'data' key (keep the stored bytes).", valueName: "percent"))
    var partialPercent: Int = 30

    @Option(parsing: .unconditional, help: "Target events per second (the run lasts longer when the faults need more time).")
    var rate: Double = 1000

    @Option(help: "Comma-separated plants of the stream, each a topic of its own (named after it).")
    var plants = Plant.lims.map(\.rawValue).joined(separator: ",")

    @Option(parsing: .unconditional, help: "Partitions per plant topic.")
    var partitions: Int = 8

    @Option(
        name: .customLong("converge-timeout"), parsing: .unconditional,
        help: ArgumentHelp("Seconds to wait for StreamSync to catch up after the last event.", valueName: "seconds"))
    var convergeTimeout: Double = 300

    // MARK: Where things are

    @Option(name: .customLong("pg-uri"), help: "libpq URI of the consumer database (default: $PLANTSYNC_PG_URI).")
    var pgURI: String?

    @Option(name: .customLong("pg-data"), help: "Data directory of that PostgreSQL cluster, to stop and start it (its log: ../server.log).")
    var pgData: String?

    @Option(name: .customLong("pg-bin"), help: "Directory holding pg_ctl (default: the newest /usr/lib/postgresql/*/bin).")
    var pgBin: String?

    @Option(name: .customLong("streamsync"), help: "The StreamSync executable (default: beside this one).")
    var streamSync: String?

    @Option(name: .customLong("batchsync"), help: "The BatchSync executable, for --batch-silent (default: beside this one).")
    var batchSync: String?

    @Option(help: "Directory for the logs of every StreamSync instance.")
    var out: String = "out/chaos"

    @Flag(name: .customLong("check-options"), help: .hidden)
    var checkOptions = false

    // MARK: Validation

    /// Numbers are read with `parsing: .unconditional`, so that `--kills -1` reaches this check (and is
    /// named with its value) instead of reading as a missing value.
    func validate() throws {
        func text(_ value: Double) -> String { String(format: "%g", value) }
        func require(_ ok: Bool, _ option: String, _ value: String, _ detail: String) throws {
            guard ok else { throw ValidationError("invalid \(option) \(value): \(detail)") }
        }
        try require((1...10_000_000).contains(events), "--events", String(events), "must be within 1…10000000")
        try require((0...1000).contains(kills), "--kills", String(kills), "must be within 0…1000")
        try require(pgOutage.isFinite && (0...3600).contains(pgOutage), "--pg-outage", text(pgOutage), "must be within 0…3600 seconds")
        try require(
            brokerOutage.isFinite && (0...3600).contains(brokerOutage), "--broker-outage", text(brokerOutage),
            "must be within 0…3600 seconds")
        try require(pgFreeze.isFinite && (0...3600).contains(pgFreeze), "--pg-freeze", text(pgFreeze), "must be within 0…3600 seconds")
        try require(
            brokerFreeze.isFinite && (0...3600).contains(brokerFreeze), "--broker-freeze", text(brokerFreeze), "must be within 0…3600 seconds")
        try require(silentRoom.isFinite && (5...3600).contains(silentRoom), "--silent-room", text(silentRoom), "must be within 5…3600 seconds")
        try require((0...1000).contains(poison), "--poison", String(poison), "must be within 0…1000")
        try require(poison <= events / 10, "--poison", String(poison), "must be at most a tenth of --events (\(events))")
        // A gap fault changes live keys of one partition: the stream must have made some by then.
        try require(!retentionGap || events >= 100, "--retention-gap", "with --events \(events)", "needs at least 100 events (it changes live keys of one partition)")
        try require(!offsetReset || events >= 100, "--offset-reset", "with --events \(events)", "needs at least 100 events (it changes live keys of one partition)")
        try require((1...600).contains(drainTimeout), "--drain-timeout", String(drainTimeout), "must be within 1…600 seconds")
        try require((1...600).contains(batchDBTimeout), "--batch-db-timeout", String(batchDBTimeout), "must be within 1…600 seconds")
        try require((1...65_536).contains(recordBytes), "--record-bytes", String(recordBytes), "must be within 1…65536")
        try require((0...100).contains(partialPercent), "--partial-percent", String(partialPercent), "must be within 0…100")
        try require(rate.isFinite && rate >= 1 && rate <= 100_000, "--rate", text(rate), "must be within 1…100000 events per second")
        try require((1...64).contains(partitions), "--partitions", String(partitions), "must be within 1…64")
        do {
            _ = try Plant.list(plants, field: "--plants")
        } catch {
            throw ValidationError("invalid \(error)")
        }
        try require(
            convergeTimeout.isFinite && (10...36_000).contains(convergeTimeout), "--converge-timeout", text(convergeTimeout),
            "must be within 10…36000 seconds")
        if let pgURI { try require(!pgURI.isEmpty, "--pg-uri", "\"\"", "must not be empty") }
        if let pgData {
            try require(
                FileManager.default.fileExists(atPath: pgData + "/PG_VERSION"), "--pg-data", pgData,
                "not a PostgreSQL data directory (no PG_VERSION)")
        }
        if let pgBin {
            try require(FileManager.default.isExecutableFile(atPath: pgBin + "/pg_ctl"), "--pg-bin", pgBin, "holds no pg_ctl")
        }
        if let streamSync {
            try require(FileManager.default.isExecutableFile(atPath: streamSync), "--streamsync", streamSync, "not an executable file")
        }
        if let batchSync {
            try require(FileManager.default.isExecutableFile(atPath: batchSync), "--batchsync", batchSync, "not an executable file")
        }
    }

    func run() async throws {
        if checkOptions { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let environment = ProcessInfo.processInfo.environment
        guard let uri = pgURI ?? environment["PLANTSYNC_PG_URI"], !uri.isEmpty else {
            throw ValidationError("missing --pg-uri (or PLANTSYNC_PG_URI): the consumer database")
        }
        guard let pgData else { throw ValidationError("missing --pg-data: the data directory of the PostgreSQL cluster to stop and start") }
        guard let pgBinDirectory = pgBin ?? PostgresServer.defaultBinDirectory() else {
            throw ValidationError("missing --pg-bin: no /usr/lib/postgresql/*/bin/pg_ctl found")
        }
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let streamSyncPath = streamSync ?? here.appendingPathComponent("StreamSync").path
        guard FileManager.default.isExecutableFile(atPath: streamSyncPath) else {
            throw ValidationError(
                "StreamSync not found at \(streamSyncPath): build it (swift build --product StreamSync) or pass --streamsync")
        }
        let batchSyncPath = batchSync ?? here.appendingPathComponent("BatchSync").path
        if batchSilent, !FileManager.default.isExecutableFile(atPath: batchSyncPath) {
            throw ValidationError(
                "BatchSync not found at \(batchSyncPath) (--batch-silent): build it (swift build --product BatchSync) or pass --batchsync")
        }
        let options = ChaosOptions(
            seed: seed, events: events, kills: kills, pgOutage: pgOutage, brokerOutage: brokerOutage, pgSilent: pgSilent,
            pgFreeze: pgFreeze, brokerSilent: brokerSilent, brokerFreeze: brokerFreeze, format: format, poison: poison, retentionGap: retentionGap,
            offsetReset: offsetReset, drainTimeout: drainTimeout,
            silentRoom: silentRoom, streamSyncArguments: streamSyncArguments, batchSilent: batchSilent, batchDBTimeout: batchDBTimeout,
            recordBytes: recordBytes,
            partialPercent: partialPercent, rate: rate, plants: try Plant.list(plants, field: "--plants"), partitionsPerTopic: partitions, convergeTimeout: convergeTimeout,
            pgURI: uri, server: try PostgresServer(dataDirectory: pgData, binDirectory: pgBinDirectory),
            streamSync: URL(fileURLWithPath: streamSyncPath), batchSync: URL(fileURLWithPath: batchSyncPath), out: URL(fileURLWithPath: out, isDirectory: true))
        let report = try await ChaosRun(options: options).run()
        print(report.text, terminator: "")
        if !report.passed { throw ExitCode(1) }
    }
}

/// Everything one run needs, validated.
struct ChaosOptions: Sendable {
    var seed: UInt64
    var events: Int
    var kills: Int
    var pgOutage: Double
    var brokerOutage: Double
    var pgSilent: Bool
    var pgFreeze: Double
    var brokerSilent: Bool
    var brokerFreeze: Double
    var format: ChaosEventFormat
    var poison: Int
    var retentionGap: Bool
    var offsetReset: Bool
    var drainTimeout: Int
    var silentRoom: Double
    var streamSyncArguments: [String]
    var batchSilent: Bool
    var batchDBTimeout: Int
    var recordBytes: Int
    var partialPercent: Int
    var rate: Double
    var plants: [Plant]
    var partitionsPerTopic: Int
    var convergeTimeout: Double
    var pgURI: String
    var server: PostgresServer
    var streamSync: URL
    var batchSync: URL
    var out: URL
}

/// A failure of the harness itself (not a finding about StreamSync): the run cannot go on.
struct ChaosError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How the chaos stream's events are published (`--format`).
enum ChaosEventFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// LIMS's Image API: the record JSON with hex bytes; a hard delete is a Kafka tombstone keyed by the id.
    case lims
    /// The MongoDB Kafka source connector's change stream documents (canonical Extended JSON): inserts
    /// and updates with `fullDocument`, partial updates as `updateDescription` patches naming the
    /// document by `_id` only, hard deletes by `documentKey._id` (docs/streamsync.md, "MongoDB change events").
    case mongodbChangeStream = "mongodb-change-stream"
}
