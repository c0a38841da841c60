import PostgresStore
import SyncModel

/// Opens the store named by a URI: `postgresql://…` (or `postgres://…`) → PostgreSQL.
public enum StoreFactory {
    public static func open(uri: String, schema: String, applicationName: String = "plantsync-streamsync")
        throws(StreamSyncError) -> any ImageStore
    {
        let scheme = uri.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        switch scheme {
        case "postgresql", "postgres":
            do {
                return try PostgresStore(.init(conninfo: uri, schema: schema, applicationName: applicationName))
            } catch {
                throw StreamSyncError.configuration(field: "--schema", value: schema, detail: "\(error)")
            }
        case "mongodb", "mongodb+srv":
            throw StreamSyncError.configuration(
                field: "--store-uri", value: redacted(uri),
                detail: "the MongoDB store is not part of this build yet; use a postgresql:// URI")
        default:
            throw StreamSyncError.configuration(
                field: "--store-uri", value: redacted(uri), detail: "unsupported scheme '\(scheme)' (expected postgresql://)")
        }
    }

    /// The URI without a password, for messages and logs.
    public static func redacted(_ uri: String) -> String {
        guard let schemeEnd = uri.range(of: "://"), let at = uri[schemeEnd.upperBound...].firstIndex(of: "@") else { return uri }
        let userInfo = uri[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return uri }
        return String(uri[..<colon]) + ":***" + String(uri[at...])
    }
}
