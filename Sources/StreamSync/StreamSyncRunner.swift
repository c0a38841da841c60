import Hummingbird
import BatchSyncCore
import Kafka
import Logging
import ServiceLifecycle
import StoreFactory
import StreamSyncCore
import SyncModel
import UnixSignals

/// Wires the StreamSync process: the stores, the Kafka clients, the pipeline and the HTTP server, run
/// as one ServiceGroup that drains gracefully on SIGTERM/SIGINT. The settings are validated in
/// StreamSyncCore; this is only the wiring.
struct StreamSyncRunner: Sendable {
    var settings: StreamSyncSettings
    var server: StreamSyncServerSettings
    /// Token check and rate limit of /image-plant/*.
    var readAccess: ReadAccessSettings
    var kafka: KafkaConfiguration
    /// The producer gaps are healed from (`--producer-uri`); nil: BatchSync's next run heals them.
    var healing: Healing?
    var logger: Logger

    struct Healing: Sendable {
        var uri: String
        var options: StoreFactory.Options
    }

    func run() async throws {
        let storeURI = server.storeURI
        // Connections by job (docs/design.md §4): the batches' own, one for the read API and readiness
        // (a large batch never delays a probe), one for the tombstone purger.
        var stores: [any ConsumerStore] = []
        let readStore: any RecordReader & StoreProbe
        // The purger's.
        let maintenanceStore: any TombstonePurging
        // The gap healer's: it reads the ledger every second and repairs on it.
        let healStore: any ConsumerStore
        do {
            let options = StoreFactory.Options(
                schema: server.schema, applicationName: "plantsync-streamsync", callTimeout: server.dbTimeout)
            for _ in 0..<max(1, settings.applyConnections) {
                stores.append(try StoreFactory.openConsumer(uri: storeURI, options: options, role: "store"))
            }
            readStore = try StoreFactory.openConsumer(uri: storeURI, options: options, role: "store")
            maintenanceStore = try StoreFactory.openConsumer(uri: storeURI, options: options, role: "store")
            healStore = try StoreFactory.openConsumer(uri: storeURI, options: options, role: "store")
        } catch {
            throw StreamSyncError.configuration(field: "--store-uri", value: StoreURI.redacted(storeURI), detail: "\(error)")
        }
        let store = stores[0]
        // A database that is down or restarting at start-up is waited for (transient errors, capped
        // backoff), as the pipeline waits for it later; anything else is a configuration to fix.
        do {
            let backoff = settings.backoff
            let deadline = ContinuousClock.now + server.storeStartupWait
            try await backoff.retry(
                shouldRetry: { ($0 as? any StoreError)?.isTransient == true && ContinuousClock.now < deadline },
                onRetry: { error, attempt, delay in
                    if attempt == 1 || attempt.isMultiple(of: 10) {
                        logger.warning(
                            "Consumer database not reachable at start-up; retrying",
                            metadata: ["error": "\(error)", "attempt": "\(attempt)", "delay": "\(delay)"])
                    }
                }
            ) { try await store.prepareSchema() }
        } catch {
            throw StreamSyncError.permanentStoreFailure(
                "cannot prepare schema '\(server.schema)' at \(StoreURI.redacted(storeURI)): \(error)")
        }
        let metrics = StreamMetrics()
        // The producer to heal from, opened now (a bad URI or layout is a start-up error naming it); it
        // is first reached by the first repair, so a producer that is down never stops the stream.
        var repairer: (any GapRepairing)? = nil
        if let healing {
            do {
                let producer = try StoreFactory.openProducer(uri: healing.uri, options: healing.options, role: "producer")
                var repair = ReconcilingGapRepair(producer: producer, consumer: healStore)
                repair.logger = logger
                repairer = repair
            } catch {
                throw StreamSyncError.configuration(field: "--producer-uri", value: StoreURI.redacted(healing.uri), detail: "\(error)")
            }
        }
        // librdkafka reports an offset it cannot fetch instead of silently resetting it; the pipeline
        // then goes where --auto-offset-reset says and records what it skips.
        var consumerConfig = kafka
        consumerConfig.autoOffsetReset = .error
        let consumer: KafkaConsumer
        let producer: KafkaProducer
        do {
            consumer = try KafkaConsumer(
                configuration: consumerConfig, logger: logger, onStatistics: { metrics.record($0, client: "consumer") })
            var producerConfig = kafka
            producerConfig.clientId = kafka.clientId + "-deadletter"
            producer = try KafkaProducer(
                configuration: producerConfig, logger: logger, onStatistics: { metrics.record($0, client: "producer") })
        } catch {
            throw StreamSyncError.kafka("\(error)")
        }
        let pipeline = StreamPipeline(
            settings: settings, events: consumer, deadLetters: producer, stores: stores,
            subscription: .subscribe(settings.subscription), metrics: metrics, logger: logger,
            // The gap ledger on the first apply connection: a connection gone silent is found and
            // replaced by the applies, instead of holding each commit's position write for a call timeout.
            gapDetection: GapDetection(ledger: store, group: kafka.groupId, reset: kafka.autoOffsetReset),
            // Changes by producer _id are resolved there too, after the batches before them (docs/design.md §2).
            sources: store)
        let healer = GapHealer(
            ledger: healStore, repairer: repairer, metrics: metrics, logger: logger,
            streamCaughtUp: { pipeline.hasCaughtUp(after: $0) })
        let router = StreamSyncHTTP.router(
            store: readStore, metrics: metrics, access: ReadAccess(readAccess), gaps: { healer.status }
        ) {
            guard pipeline.hasAssignment else { return false }
            return (try? await readStore.ping(timeout: .seconds(2))) != nil
        }
        let purger = TombstonePurger(
            store: maintenanceStore, retention: server.tombstoneRetention, interval: server.purgeInterval, metrics: metrics,
            logger: logger)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(server.httpHost, port: server.httpPort), serverName: "StreamSync"),
            logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: app),
                .init(service: purger),
                .init(service: healer),
                .init(service: pipeline, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = server.drainDeadline
        logger.info(
            "StreamSync starting",
            metadata: [
                "topics": "\(settings.subscription.joined(separator: ","))", "bootstrap": "\(kafka.bootstrapServers)",
                "group": "\(kafka.groupId)", "store": "\(StoreURI.redacted(storeURI))", "schema": "\(server.schema)",
                "http.port": "\(server.httpPort)", "read.token": "\(readAccess.token == nil ? "off" : "required")",
                "read.rate_limit": "\(readAccess.rateLimit > 0 ? "\(readAccess.rateLimit)/s burst \(readAccess.rateBurst)" : "off")",
                "read.client_address": "\(readAccess.trustForwardedFor ? "X-Forwarded-For" : "peer")",
                "gaps.healing": "\(healing.map { "from \(StoreURI.redacted($0.uri))" } ?? "off (BatchSync heals)")",
            ])
        try await ServiceGroup(configuration: configuration).run()
    }
}
