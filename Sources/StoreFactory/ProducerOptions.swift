import ArgumentParser
import SyncModel

/// The producer flags BatchSync and StreamSync share (StreamSync heals stream gaps from the same
/// producer BatchSync diffs, docs/design.md §8): one definition, one parser, one set of defaults.
public struct ProducerOptions: ParsableArguments, Sendable {
    public static let uriVariable = "PLANTSYNC_PRODUCER_URI"

    @Option(help: "Producer store: postgresql:// or mongodb:// URI, or a libpq conninfo (env PLANTSYNC_PRODUCER_URI).")
    public var producerURI: String?

    @Option(
        help:
            "lims: a foreign producer, read-only (LIMS's MongoDB documents, the application's PostgreSQL tables); plantsync: PlantSync's own store."
    )
    public var producerLayout: ProducerLayout = .lims

    @Option(help: "Foreign producer: table (PostgreSQL, may be schema.table) or collection; {plant} stands for the plant.")
    public var producerTable = ForeignLayout.lims.container

    @Option(help: "Foreign producer: the column naming the plant, for one table holding every plant.")
    public var producerPlantColumn: String?

    @Option(
        help:
            "Foreign producer: FIELD=NAME where a column or field is not named as in LIMS (repeatable; fields: \(ForeignLayout.Field.allCases.map(\.rawValue).joined(separator: ", ")))."
    )
    public var producerField: [String] = []

    @Option(
        help: "Foreign MongoDB producer digest: auto ($toHashedIndexKey from MongoDB 7.0), hashed, or client (metadata and byte length).")
    public var mongoDigest = MongoDigestMode.auto.rawValue

    @Option(help: "PostgreSQL schema of the producer store (plantsync layout).")
    public var producerSchema = "plantsync"

    public init() {}

    /// `--producer-uri`, else the environment's `PLANTSYNC_PRODUCER_URI`; nil when neither is set.
    public func uri(environment: [String: String]) -> String? {
        if let producerURI, !producerURI.isEmpty { return producerURI }
        if let value = environment[Self.uriVariable], !value.isEmpty { return value }
        return nil
    }

    /// The foreign layout the flags describe; a bad one is an error naming the flag and value.
    public func foreignLayout() throws -> ForeignLayout {
        try ForeignLayout.parse(container: producerTable, plantColumn: producerPlantColumn, fields: producerField)
    }

    public func digest() throws -> MongoDigestMode {
        guard let digest = MongoDigestMode(rawValue: mongoDigest) else {
            throw ValidationError(
                "--mongo-digest \(mongoDigest): must be one of \(MongoDigestMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return digest
    }

    /// How `StoreFactory.openProducer` opens the producer these flags name.
    public func storeOptions(applicationName: String, callTimeout: Duration) throws -> StoreFactory.Options {
        StoreFactory.Options(
            schema: producerSchema, applicationName: applicationName, layout: producerLayout, foreign: try foreignLayout(),
            mongoDigest: try digest(), callTimeout: callTimeout)
    }
}

extension ProducerLayout: ExpressibleByArgument {}
