import CLibMongoC

/// Initializes libmongoc once per process. Its log goes to stderr from warnings up; its debug and
/// info lines (one per failed authentication, per topology change) are dropped: failures reach the
/// caller as `MongoError`s, which the jobs log.
private let mongocInitialized: Bool = {
    mongoc_init()
    mongoc_log_set_handler(
        { level, domain, message, data in
            guard level.rawValue <= MONGOC_LOG_LEVEL_WARNING.rawValue else { return }
            mongoc_log_default_handler(level, domain, message, data)
        }, nil)
    return true
}()

/// A libmongoc client for one `mongodb://` URI.
///
/// Not thread-safe (neither is `mongoc_client_t`): use it, and the collections and cursors made from
/// it, from one thread or serial queue at a time. Creating it does not connect; the first command
/// selects a server and reports connection or authentication problems. Every call that reaches the
/// server is `@available(*, noasync)`: async code runs it on a `BlockingExecutor`.
///
/// Timeouts (docs/design.md §4): `defaultTimeouts` and the `socketTimeout` given to `init` apply unless
/// the URI sets the option itself, so a server that stops answering is a transient error, never a hang.
public final class MongoClient {
    let handle: OpaquePointer
    public let uri: String
    public let appName: String

    /// Connection and server-selection timeouts, in milliseconds, unless the URI sets them:
    /// libmongoc's own defaults are 10 s and 30 s; a server that cannot be selected in 10 s fails the
    /// call as transient and the caller's retry tries again.
    public static let defaultTimeouts: [(option: String, milliseconds: Int32)] = [
        ("connectTimeoutMS", 10_000), ("serverSelectionTimeoutMS", 10_000),
    ]

    /// `appName` is set once, here (libmongoc allows setting it only once per client). `socketTimeout`
    /// becomes `socketTimeoutMS` (how long a call waits on a connection that sends nothing) unless the URI
    /// sets it; libmongoc's own default is 5 minutes.
    public init(uri: String, appName: String, socketTimeout: Duration? = nil) throws(MongoError) {
        _ = mongocInitialized
        let parsed = try Self.parse(uri)
        defer { mongoc_uri_destroy(parsed) }
        var timeouts = Self.defaultTimeouts
        if let socketTimeout {
            timeouts.append(("socketTimeoutMS", Int32(clamping: socketTimeout.components.seconds * 1000 + socketTimeout.components.attoseconds / 1_000_000_000_000_000)))
        }
        for (option, milliseconds) in timeouts where !mongoc_uri_has_option(parsed, option) {
            _ = mongoc_uri_set_option_as_int32(parsed, option, milliseconds)
        }
        var error = bson_error_t()
        guard let client = mongoc_client_new_from_uri_with_error(parsed, &error) else {
            throw MongoError(error, context: "cannot create a MongoDB client")
        }
        handle = client
        self.uri = uri
        self.appName = appName
        _ = mongoc_client_set_error_api(client, Int32(MONGOC_ERROR_API_VERSION_2))
        if !appName.isEmpty { _ = mongoc_client_set_appname(client, appName) }
    }

    deinit { mongoc_client_destroy(handle) }

    /// Parses `uri`; the caller destroys the result with `mongoc_uri_destroy`.
    private static func parse(_ uri: String) throws(MongoError) -> OpaquePointer {
        var error = bson_error_t()
        guard let parsed = mongoc_uri_new_with_error(uri, &error) else {
            throw MongoError(
                domain: error.domain, code: error.code, message: "invalid MongoDB URI: \(MongoError(error).message)", kind: .permanent)
        }
        return parsed
    }

    /// The database named in the URI's path (`mongodb://host/<database>?…`), if any.
    public static func database(inURI uri: String) throws(MongoError) -> String? {
        _ = mongocInitialized
        let parsed = try parse(uri)
        defer { mongoc_uri_destroy(parsed) }
        return mongoc_uri_get_database(parsed).map { String(cString: $0) }
    }

    /// Parses `uri` as libmongoc would, without creating a client; throws what is wrong with it.
    public static func validate(uri: String) throws(MongoError) {
        _ = mongocInitialized
        var error = bson_error_t()
        guard let parsed = mongoc_uri_new_with_error(uri, &error) else {
            throw MongoError(
                domain: error.domain, code: error.code, message: "invalid MongoDB URI: \(MongoError(error).message)", kind: .permanent)
        }
        mongoc_uri_destroy(parsed)
    }

    /// Runs a command on database `database` and returns the server's reply (`ok: 1`), or throws
    /// the server's (or the connection's) error.
    @discardableResult
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func command(_ command: BSONDocument, database: String) throws(MongoError) -> BSONDocument {
        guard let name = command.keys.first else { throw MongoError.wrapper("empty command") }
        var error = bson_error_t()
        let (ok, reply) = try CBSON.with(command) { (cmd: OpaquePointer) throws(MongoError) -> (Bool, BSONDocument) in
            try CBSON.withReply { reply in mongoc_client_command_with_opts(handle, database, cmd, nil, nil, reply, &error) }
        }
        guard ok else { throw MongoError(error, context: "command '\(name)' on database '\(database)'") }
        return reply
    }

    /// `ping` on `admin`: selects a server and authenticates, so it reports an unreachable server or
    /// bad credentials right away.
@available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func ping() throws(MongoError) {
        try command(["ping": .int32(1)], database: "admin")
    }

    public func collection(_ name: String, database: String) throws(MongoError) -> MongoCollection {
        guard let collection = mongoc_client_get_collection(handle, database, name) else {
            throw MongoError.wrapper("cannot open collection \(database).\(name)")
        }
        return MongoCollection(client: self, handle: collection, database: database, name: name)
    }

@available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func dropDatabase(_ database: String) throws(MongoError) {
        try command(["dropDatabase": .int32(1)], database: database)
    }
}
