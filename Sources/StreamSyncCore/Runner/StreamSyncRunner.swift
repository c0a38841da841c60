import UnixSignals
import Hummingbird
import Kafka
import Logging
import ServiceLifecycle
import StoreFactory
import SyncModel

/// Wires the StreamSync process: store, Kafka clients, pipeline and HTTP server, run as one
/// ServiceGroup that drains gracefully on SIGTERM/SIGINT.
public struct StreamSyncRunner: Sendable {
    public var settings: StreamSyncSettings
    public var kafka: KafkaConfiguration
    public var storeURI: String
    public var schema: String
    public var httpHost: String
    public var httpPort: Int
    /// How long a graceful shutdown may take before the services are cancelled.
    public var drainDeadline: Duration
    public var logger: Logger

    public init(
        settings: StreamSyncSettings, kafka: KafkaConfiguration, storeURI: String, schema: String,
        httpHost: String = "0.0.0.0", httpPort: Int = 8080, drainDeadline: Duration = .seconds(25),
        logger: Logger = Logger(label: "plantsync.streamsync")
    ) {
        self.settings = settings
        self.kafka = kafka
        self.storeURI = storeURI
        self.schema = schema
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.drainDeadline = drainDeadline
        self.logger = logger
    }

    public func run() async throws {
        let store: any ImageStore
        var additionalStores: [any ImageStore] = []
        do {
            let options = StoreFactory.Options(schema: schema, applicationName: "plantsync-streamsync")
            store = try StoreFactory.open(uri: storeURI, options: options, role: "store")
            for _ in 1..<max(1, settings.applyConnections) {
                additionalStores.append(try StoreFactory.open(uri: storeURI, options: options, role: "store"))
            }
        } catch {
            throw StreamSyncError.configuration(field: "--store-uri", value: StoreURI.redacted(storeURI), detail: "\(error)")
        }
        do {
            try await store.prepareSchema()
        } catch {
            throw StreamSyncError.permanentStoreFailure("cannot prepare schema '\(schema)' at \(StoreURI.redacted(storeURI)): \(error)")
        }
        let metrics = StreamMetrics()
        let consumer: KafkaConsumer
        let producer: KafkaProducer
        do {
            consumer = try KafkaConsumer(
                configuration: kafka, logger: logger, onStatistics: { metrics.record($0, client: "consumer") })
            var producerConfig = kafka
            producerConfig.clientId = kafka.clientId + "-deadletter"
            producer = try KafkaProducer(
                configuration: producerConfig, logger: logger, onStatistics: { metrics.record($0, client: "producer") })
        } catch {
            throw StreamSyncError.kafka("\(error)")
        }
        let pipeline = StreamPipeline(
            settings: settings, consumer: consumer, producer: producer, store: store, additionalStores: additionalStores,
            source: .subscribe(settings.topics), metrics: metrics, logger: logger)
        let router = StreamSyncHTTP.router(store: store, metrics: metrics) {
            guard pipeline.hasAssignment else { return false }
            return (try? await store.count(of: .potato)) != nil
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(httpHost, port: httpPort), serverName: "StreamSync"),
            logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: app),
                .init(service: pipeline, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = drainDeadline
        logger.info(
            "StreamSync starting",
            metadata: [
                "topics": "\(settings.topics.joined(separator: ","))", "bootstrap": "\(kafka.bootstrapServers)",
                "group": "\(kafka.groupId)", "store": "\(StoreURI.redacted(storeURI))", "schema": "\(schema)",
                "http.port": "\(httpPort)",
            ])
        try await ServiceGroup(configuration: configuration).run()
    }
}
