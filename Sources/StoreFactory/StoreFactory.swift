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

        public init(schema: String? = nil, applicationName: String = "plantsync") {
            self.schema = schema
            self.applicationName = applicationName
        }
    }

    public static func open(uri: String, options: Options = Options(), role: String) throws -> any ImageStore {
        let lowered = uri.lowercased()
        if lowered.hasPrefix("postgresql://") || lowered.hasPrefix("postgres://") || (uri.contains("=") && !uri.contains("://")) {
            return try PostgresStore(
                .init(conninfo: uri, schema: options.schema ?? "plantsync", applicationName: options.applicationName))
        }
        if MongoStore.Configuration.accepts(uri) {
            return try MongoStore(MongoStore.Configuration(connectionString: uri, appName: options.applicationName))
        }
        throw StoreURIError(role: role, uri: StoreURI.redacted(uri))
    }

}

public struct StoreURIError: Error, CustomStringConvertible {
    public let role: String
    public let uri: String

    public var description: String {
        "--\(role)-uri '\(uri)': unsupported store; use a postgresql:// or mongodb:// URI, or a libpq conninfo string"
    }
}
