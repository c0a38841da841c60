import ArgumentParser
import BatchSyncCore
import Foundation
import Logging
import Observability
import ServiceLifecycle
import StoreFactory
import SyncModel
import UnixSignals

/// BatchSync: diffs the producer and consumer databases and repairs every difference.
@main
struct BatchSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "BatchSync",
        abstract: "Diff the producer and consumer databases and repair every difference.",
        discussion: """
            One run by default (exit 0 on success, non-zero with a message on failure: what a Kubernetes \
            CronJob needs); --interval SECONDS repeats runs until SIGTERM/SIGINT. Each run prints one JSON \
            line with what it compared, fetched and wrote, and the payload bytes per peer.
            Store URIs may also come from PLANTSYNC_PRODUCER_URI and PLANTSYNC_CONSUMER_URI.
            """,
        version: PlantSyncVersion.current)

    @OptionGroup(title: "Producer")
    var producer: ProducerOptions

    @Option(help: "Consumer store (env PLANTSYNC_CONSUMER_URI).")
    var consumerURI: String?

    @Option(help: "PostgreSQL schema of the consumer store.")
    var consumerSchema = BatchRunSettings().consumerSchema

    @Option(help: "merkle (default), reconcile, watermark or full.")
    var strategy: SyncStrategy = BatchOptions().strategy

    @Option(
        help:
            "Comma-separated plants to sync, or all: every plant the producer has (its tables or collections matching --producer-table, or the values of --producer-plant-column) and every plant the consumer holds."
    )
    var plants = BatchOptions().plants.description

    @Flag(help: "Report the differences without writing.")
    var dryRun = false

    @Option(help: "Records the producer no longer has: propagate (tombstone) or ignore.")
    var deletes: DeletePolicy = BatchOptions().deletes

    @Flag(help: "Keep consumer rows holding a version the producer lacks, instead of rewriting them to the producer's state.")
    var keepConsumerAhead = false

    @Option(help: "Purge consumer tombstones older than this after each run that writes (7d, 36h, 90m, 3600s).")
    var tombstoneRetention = BatchOptions().tombstoneRetention.description

    @Option(help: "Loop: seconds between the starts of runs (LIMS's synchronizer used 600). Omit for one run.")
    var interval: Int?

    @Option(help: "Merkle: children per mismatching range.")
    var fanout = BatchOptions().fanout

    @Option(help: "Merkle: rows per range compared key by key.")
    var leafSize = BatchOptions().leafSize

    @Option(help: "Reconcile: IBLT cells, tried once before merkle takes over (default: sized from the last run's findings or a strata estimate).")
    var ibltCells: Int?

    @Option(help: "Rows per read page and per write batch.")
    var pageSize = BatchOptions().pageSize

    @Option(help: "Watermark: seconds re-read before the high-water mark.")
    var watermarkOverlap = BatchOptions().watermarkOverlapSeconds

    @Option(help: "Loop mode: serve /healthz and /metrics on this port (0 = off).")
    var httpPort = BatchRunSettings().httpPort

    @Option(help: "Loop mode: address to serve HTTP on.")
    var httpHost = BatchRunSettings().httpHost

    @Option(
        name: .long,
        help: "Seconds one database call may take before it is interrupted and the run fails (a silent connection: failover, partition).")
    var dbTimeout: Int = Int(BatchRunSettings().dbTimeout.components.seconds)

    @Option(help: "Pushgateway URL to push metrics to after each run, e.g. http://pushgateway:9091.")
    var pushgateway: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(name: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)': unknown level") }
        do {
            try runSettings().validate()
            try options().validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func runSettings() throws -> BatchRunSettings {
        var settings = BatchRunSettings()
        settings.producerLayout = producer.producerLayout
        settings.foreignLayout = try producer.foreignLayout()
        settings.mongoDigest = try producer.digest()
        settings.interval = interval
        settings.httpPort = httpPort
        settings.httpHost = httpHost
        settings.producerSchema = producer.producerSchema
        settings.consumerSchema = consumerSchema
        settings.dbTimeout = .seconds(dbTimeout)
        return settings
    }

    func options() throws -> BatchOptions {
        var options = BatchOptions()
        options.strategy = strategy
        options.plants = try PlantSelection.parse(plants, field: "--plants")
        options.dryRun = dryRun
        options.deletes = deletes
        options.fanout = fanout
        options.ibltCells = ibltCells
        options.leafSize = leafSize
        options.pageSize = pageSize
        options.watermarkOverlapSeconds = watermarkOverlap
        options.keepConsumerAhead = keepConsumerAhead
        options.tombstoneRetention = try TombstoneRetention(parsing: tombstoneRetention, field: "--tombstone-retention")
        return options
    }

    func uri(_ value: String?, env: String, option: String) throws -> String {
        if let value, !value.isEmpty { return value }
        if let value = ProcessInfo.processInfo.environment[env], !value.isEmpty { return value }
        throw ValidationError("missing --\(option) (or \(env))")
    }

    func run() async throws {
        LogSetup.bootstrap(level: Logger.Level(name: logLevel)!)
        let logger = Logger(label: "batchsync")
        let settings = try runSettings()
        let producer = try StoreFactory.openProducer(
            uri: try uri(self.producer.producerURI, env: ProducerOptions.uriVariable, option: "producer-uri"),
            options: .init(
                schema: settings.producerSchema, applicationName: "plantsync-batchsync", layout: settings.producerLayout,
                foreign: settings.foreignLayout, mongoDigest: settings.mongoDigest, callTimeout: settings.dbTimeout),
            role: "producer")
        let consumer = try StoreFactory.openConsumer(
            uri: try uri(consumerURI, env: "PLANTSYNC_CONSUMER_URI", option: "consumer-uri"),
            options: .init(schema: consumerSchema, applicationName: "plantsync-batchsync", callTimeout: settings.dbTimeout),
            role: "consumer")
        let gateway = try pushgateway.map { url throws(PushgatewayError) in try Pushgateway(url: url) }
        let metrics = BatchMetrics()
        let job = BatchJob(
            reconciler: Reconciler(producer: producer, consumer: consumer, options: try options()),
            metrics: metrics, pushgateway: gateway, logger: logger)

        guard let interval else {
            try await job.runOnce()
            return
        }
        let loop = BatchLoop(job: job, interval: .seconds(interval), logger: logger)
        var services: [any Service] = [loop]
        if httpPort != 0 {
            services.append(MetricsServer.application(metrics: metrics, host: httpHost, port: httpPort, logger: logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

extension SyncStrategy: ExpressibleByArgument {}
extension DeletePolicy: ExpressibleByArgument {}
