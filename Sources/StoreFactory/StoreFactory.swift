import MongoStore
import PostgresStore
import SyncModel

/// Opens the store a URI names: `postgresql://` / `postgres://` (or a libpq key=value conninfo) →
/// PostgreSQL; `mongodb://` / `mongodb+srv://` → MongoDB (database from the URI's path, LIMS's
/// collection names). The scheme decides; anything else is a clear error naming the value.
public enum StoreFactory {
    public struct Options: Sendable {
        /// PostgreSQL schema (default `plantsync`).
        public var schema: String?
        /// `application_name` reported to the server.
        public var applicationName: String
        /// PlantSync's own store, or a foreign (read-only) producer in `foreign`'s layout.
        public var layout: ProducerLayout
        public var foreign: ForeignLayout
        /// A foreign MongoDB producer's digest: `auto` (`$toHashedIndexKey` on servers from 7.0),
        /// `hashed` or `client` (metadata and byte length, computed here).
        public var mongoDigest: MongoDigestMode
        /// How long one database call may run before it is interrupted (`--db-timeout`; docs/design.md §4).
        public var callTimeout: Duration

        public init(
            schema: String? = nil, applicationName: String = "plantsync", layout: ProducerLayout = .plantsync,
            foreign: ForeignLayout = .lims, mongoDigest: MongoDigestMode = .auto, callTimeout: Duration = StoreCallTimeout.batch
        ) {
            self.callTimeout = callTimeout
            self.schema = schema
            self.applicationName = applicationName
            self.layout = layout
            self.foreign = foreign
            self.mongoDigest = mongoDigest
        }
    }

    public static func isPostgres(_ uri: String) -> Bool {
        let lowered = uri.lowercased()
        return lowered.hasPrefix("postgresql://") || lowered.hasPrefix("postgres://") || (uri.contains("=") && !uri.contains("://"))
    }

    /// A diff's producer: a foreign (read-only) producer in `options.foreign`'s layout, or PlantSync's
    /// own store when `options.layout` is `.plantsync` (a producer that is itself a PlantSync consumer).
    public static func openProducer(uri: String, options: Options = Options(), role: String) throws -> any DiffSource {
        guard options.layout == .lims else { return try openConsumer(uri: uri, options: options, role: role) }
        if isPostgres(uri) {
            return try ForeignPostgresStore(
                .init(conninfo: uri, layout: options.foreign, applicationName: options.applicationName, callTimeout: options.callTimeout))
        }
        if MongoStore.Configuration.accepts(uri) { return try openForeignMongo(uri: uri, options: options) }
        throw StoreURIError(role: role, uri: StoreURI.redacted(uri))
    }

    /// PlantSync's own store (a consumer, or a producer in PlantSync's layout), which also answers a ping.
    public static func openConsumer(uri: String, options: Options = Options(), role: String) throws -> any ConsumerStore & StoreProbe {
        if isPostgres(uri) {
            return try PostgresStore(
                .init(
                    conninfo: uri, schema: options.schema ?? "plantsync", applicationName: options.applicationName,
                    callTimeout: options.callTimeout))
        }
        if MongoStore.Configuration.accepts(uri) {
            return try MongoStore(
                MongoStore.Configuration(connectionString: uri, appName: options.applicationName, callTimeout: options.callTimeout))
        }
        throw StoreURIError(role: role, uri: StoreURI.redacted(uri))
    }
}

extension StoreFactory {
    /// LIMS's MongoDB producer, read-only.
    static func openForeignMongo(uri: String, options: Options) throws -> any DiffSource {
        try ForeignMongoStore(
            .init(
                connectionString: uri, appName: options.applicationName, layout: options.foreign, digest: options.mongoDigest,
                callTimeout: options.callTimeout))
    }
}

public struct StoreURIError: Error, CustomStringConvertible {
    public let role: String
    public let uri: String

    public var description: String {
        "--\(role)-uri '\(uri)': unsupported store; use a postgresql:// or mongodb:// URI, or a libpq conninfo string"
    }
}
