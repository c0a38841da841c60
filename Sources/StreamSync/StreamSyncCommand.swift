import ArgumentParser
import Foundation
import Kafka
import Logging
import Observability
import StoreFactory
import StreamSyncCore
import SyncModel

/// StreamSync: consumes change events from Kafka and applies them to the consumer database.
@main
struct StreamSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "StreamSync",
        abstract: "Apply Kafka change events to the consumer database as idempotent upserts and deletes.",
        discussion: """
            Events are LIMS records (topic = plant) or Debezium envelopes. Every change carries a version \
            (updated_at ?? created_at, content tiebreak); the store applies it only if it is newer than \
            what it holds, so replays and reorderings converge to one state. Offsets are committed only \
            after the batch holding them is durable in the store.

            Kafka settings, lowest precedence first: defaults, the JSON file (--kafka-config, else \
            kafka.$ENV.json in --config-dir when ENV is set), the typed flags, then -X key=value.
            """,
        version: PlantSyncVersion.current)

    // MARK: Kafka

    @Option(name: .long, help: "Kafka bootstrap servers (host:port,…).")
    var bootstrapServers: String?

    @Option(name: .long, help: "Consumer group id.")
    var groupId: String?

    @Option(name: .long, help: "Kafka client id.")
    var clientId: String?

    @Option(name: .long, help: "Where to start without a committed offset: earliest, latest or error.")
    var autoOffsetReset: String?

    @Option(name: .customShort("X"), help: ArgumentHelp("Any librdkafka property, key=value (repeatable).", valueName: "key=value"))
    var rdkafka: [String] = []

    @Option(name: .long, help: "LIMS-style Kafka JSON config file.")
    var kafkaConfig: String?

    @Option(name: .long, help: "Directory holding kafka.<ENV>.json, used when ENV is set and --kafka-config is not.")
    var configDir: String = "."

    @Option(name: .long, help: "librdkafka statistics interval in ms (rx/tx bytes, lag); 0 disables.")
    var statsIntervalMs: Int = 5000

    // MARK: Pipeline

    @Option(
        name: .long,
        help: "Topics to subscribe to, comma-separated (default: \(StreamSyncSettings().topics.joined(separator: ",")); none with --topic-pattern).")
    var topics: String?

    @Option(
        name: .long,
        help:
            "Also subscribe to every topic matching this POSIX regex, '^' first (librdkafka): a new plant's topic is read without a restart, from the next metadata refresh (topic.metadata.refresh.interval.ms)."
    )
    var topicPattern: String?

    @Option(
        name: .long,
        help:
            "Event format: auto (detects each message's), lims, debezium (relational and MongoDB connectors) or mongodb-change-stream (MongoDB Kafka source connector; needed for its simplified-JSON publish.full.document.only documents). See docs/streamsync.md, \"MongoDB change events\"."
    )
    var format: EventDecoder.Format = StreamSyncSettings().format

    @Option(
        name: .long,
        help: "Topic→plant mappings for topics not named after their plant (default: the topic's last '.' segment), e.g. cdc.potatoes=potato.")
    var topicPlant: String?

    @Option(
        name: .long,
        help:
            "Debezium's unavailable-value placeholder (the connector's unavailable.value.placeholder): a column holding it keeps its stored value."
    )
    var debeziumUnavailablePlaceholder: String = StreamSyncSettings().debeziumUnavailablePlaceholder.text

    @Option(
        help:
            "The producer's timestamp precision: microseconds, or milliseconds beside a MongoDB producer (BSON dates), so that events and BatchSync agree on versions."
    )
    var timestampPrecision: TimestampPrecision = StreamSyncSettings().timestampPrecision

    @Option(name: .long, help: "Largest batch, in messages.")
    var batchSize: Int = StreamSyncSettings().batchMaxSize

    @Option(name: .long, help: "Store connections applying batches at once (offsets are still committed in order).")
    var applyConnections: Int = StreamSyncSettings().applyConnections

    @Option(name: .long, help: "Longest a batch waits for more messages, in ms.")
    var batchWaitMs: Int = Int(StreamSyncSettings().batchMaxWait.milliseconds)

    @Option(name: .long, help: "Dead-letter topic for messages that cannot be decoded.")
    var deadLetterTopic: String = StreamSyncSettings().deadLetterTopic

    @Option(name: .long, help: "Cap of the store retry backoff, in ms.")
    var retryMaxMs: Int = Int(StreamSyncSettings().retryMaxDelay.milliseconds)

    // MARK: Store, HTTP, process

    @Option(name: .long, help: "Consumer database URI (postgresql://…). Default: $PLANTSYNC_STORE_URI.")
    var storeURI: String?

    @Option(name: .long, help: "Schema holding the consumer tables.")
    var schema: String = StreamSyncServerSettings().schema

    @Option(name: .long, help: "HTTP port for /ping, /healthz, /readyz, /metrics and /image-plant.")
    var httpPort: Int = StreamSyncServerSettings().httpPort

    @Option(name: .long, help: "HTTP bind address.")
    var httpHost: String = StreamSyncServerSettings().httpHost

    @Option(name: .long, help: "Graceful-shutdown deadline in seconds (drain, commit, leave the group).")
    var drainTimeout: Int = Int(StreamSyncServerSettings().drainDeadline.components.seconds)

    @Option(name: .long, help: "Seconds start-up waits for an unreachable consumer database before exiting (0: exit at once).")
    var storeWaitSeconds: Int = Int(StreamSyncServerSettings().storeStartupWait.components.seconds)

    @Option(
        name: .long,
        help: "Seconds one consumer-database call may take before it is interrupted and retried (a silent connection: failover, partition).")
    var dbTimeout: Int = Int(StreamSyncServerSettings().dbTimeout.components.seconds)

    @Option(name: .long, help: "Purge consumer tombstones older than this, hourly (7d, 36h, 90m, 3600s).")
    var tombstoneRetention: String = StreamSyncServerSettings().tombstoneRetention.description

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    // MARK: Healing stream gaps (docs/design.md §8)

    @OptionGroup(
        title: "Healing",
        visibility: .default)
    var producer: ProducerOptions

    // MARK: Read API access (/image-plant/*)

    @Option(
        name: .long,
        help: ArgumentHelp(
            "File holding the token /image-plant/* then requires as 'Authorization: Bearer <token>' (read once at start; trailing newline ignored). Default: no token check.",
            valueName: "path"))
    var readTokenFile: String?

    @Option(name: .long, help: "Requests per second each client may make to /image-plant/* (0 turns the limit off).")
    var readRateLimit: Double = ReadAccessSettings().rateLimit

    @Option(name: .long, help: "Requests a client may make at once before --read-rate-limit applies.")
    var readRateBurst: Int = ReadAccessSettings().rateBurst

    @Flag(
        name: .long,
        help:
            "Rate-limit by the client address in X-Forwarded-For instead of the connection's peer (only behind a load balancer that appends to it, e.g. GKE's)."
    )
    var trustForwardedFor: Bool = ReadAccessSettings().trustForwardedFor

    @Option(
        name: .long,
        help:
            "With --trust-forwarded-for: how many X-Forwarded-For entries the load balancer appends; the client is the first of them (GKE: 2)."
    )
    var forwardedForEntries: Int = ReadAccessSettings().forwardedForEntries

    func run() async throws {
        let runner: StreamSyncRunner
        do {
            runner = try makeRunner()
        } catch {
            throw ValidationError("\(error)")
        }
        do {
            try await runner.run()
        } catch {
            runner.logger.critical("StreamSync failed", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    func makeRunner() throws -> StreamSyncRunner {
        guard let level = Logger.Level(name: logLevel) else {
            throw StreamSyncError.configuration(
                field: "--log-level", value: logLevel, detail: "expected trace, debug, info, notice, warning, error or critical")
        }
        LogSetup.bootstrap(level: level)
        let environment = ProcessInfo.processInfo.environment

        var kafka = KafkaConfiguration(clientId: "plantsync-streamsync")
        kafka.statisticsIntervalMs = statsIntervalMs
        if let file = try kafkaConfig ?? KafkaConfiguration.environmentFile(directory: configDir, environment: environment) {
            kafka = try KafkaConfiguration.load(file: file, over: kafka)
        }
        if let bootstrapServers { try kafka.set("bootstrap.servers", bootstrapServers) }
        if let groupId { try kafka.set("group.id", groupId) }
        if let clientId { try kafka.set("client.id", clientId) }
        if let autoOffsetReset { try kafka.set("auto.offset.reset", autoOffsetReset) }
        for property in rdkafka { try kafka.set(passthrough: property) }

        let subscribed =
            topics.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            ?? (topicPattern == nil ? StreamSyncSettings().topics : [])
        let settings = StreamSyncSettings(
            topics: subscribed, topicPattern: topicPattern, format: format, topicPlants: try topicPlant.map(parseTopicPlants) ?? [:],
            batchMaxSize: batchSize, batchMaxWait: .milliseconds(batchWaitMs),
            deadLetterTopic: deadLetterTopic, retryMaxDelay: .milliseconds(retryMaxMs), applyConnections: applyConnections,
            debeziumUnavailablePlaceholder: try parseUnavailablePlaceholder(debeziumUnavailablePlaceholder),
            timestampPrecision: timestampPrecision)
        try settings.validate()
        let server = StreamSyncServerSettings(
            storeURI: storeURI ?? environment["PLANTSYNC_STORE_URI"] ?? "", schema: schema, httpHost: httpHost,
            httpPort: httpPort, drainDeadline: .seconds(drainTimeout),
            tombstoneRetention: try TombstoneRetention(parsing: tombstoneRetention, field: "--tombstone-retention"),
            storeStartupWait: .seconds(storeWaitSeconds), dbTimeout: .seconds(dbTimeout))
        try server.validate()
        var readAccess = ReadAccessSettings(
            rateLimit: readRateLimit, rateBurst: readRateBurst, trustForwardedFor: trustForwardedFor,
            forwardedForEntries: forwardedForEntries)
        try readAccess.validate()
        if let readTokenFile { readAccess.token = try ReadToken.load(file: readTokenFile) }
        // Healing from the producer: checked here (a bad flag is a start-up error naming it); reached later.
        var healing: StreamSyncRunner.Healing? = nil
        if let uri = producer.uri(environment: environment) {
            healing = StreamSyncRunner.Healing(
                uri: uri, options: try producer.storeOptions(applicationName: "plantsync-streamsync-heal", callTimeout: StoreCallTimeout.batch))
        }
        return StreamSyncRunner(
            settings: settings, server: server, readAccess: readAccess, kafka: kafka, healing: healing,
            logger: Logger(label: "plantsync.streamsync"))
    }
}

extension EventDecoder.Format: ExpressibleByArgument {}

extension TimestampPrecision: ExpressibleByArgument {}
