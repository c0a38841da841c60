import CLibMongoC

/// A libmongoc or server failure: libmongoc's error domain and code (server error codes under the
/// server/command domains), its message, and whether a retry may succeed.
public struct MongoError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// No server could be selected, the connection broke, the server is stepping down / not primary,
        /// or a server error carries a retryable label: a retry may succeed.
        case transient
        /// Authentication failed: fix the credentials.
        case authentication
        /// Anything else (bad command, invalid URI, bad document, write error): retrying will not help.
        case permanent
    }

    public let domain: UInt32
    public let code: UInt32
    public let message: String
    public let kind: Kind

    public init(domain: UInt32, code: UInt32, message: String, kind: Kind? = nil) {
        self.domain = domain
        self.code = code
        self.message = message
        self.kind = kind ?? Self.classify(domain: domain, code: code)
    }

    public var isTransient: Bool { kind == .transient }
    public var isDuplicateKey: Bool { code == 11000 }

    public var description: String {
        "\(message) [domain \(domain) (\(Self.domainName(domain))), code \(code)\(kind == .transient ? ", transient" : "")]"
    }

    /// Server error codes that mean "try again (elsewhere, later)": network, not-primary, shutdown.
    static let transientServerCodes: Set<UInt32> = [
        6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 133, 134,
    ]

    static func classify(domain: UInt32, code: UInt32) -> Kind {
        switch domain {
        case MONGOC_ERROR_SERVER_SELECTION.rawValue, MONGOC_ERROR_STREAM.rawValue:
            return .transient
        case MONGOC_ERROR_CLIENT.rawValue where code == MONGOC_ERROR_CLIENT_AUTHENTICATE.rawValue:
            return .authentication
        case MONGOC_ERROR_SASL.rawValue, MONGOC_ERROR_SCRAM.rawValue:
            return .authentication
        case MONGOC_ERROR_CLIENT.rawValue where code == MONGOC_ERROR_CLIENT_NOT_READY.rawValue:
            return .transient
        default:
            if code == 18 { return .authentication }  // AuthenticationFailed
            return transientServerCodes.contains(code) ? .transient : .permanent
        }
    }

    static func domainName(_ domain: UInt32) -> String {
        switch domain {
        case MONGOC_ERROR_CLIENT.rawValue: return "client"
        case MONGOC_ERROR_STREAM.rawValue: return "stream"
        case MONGOC_ERROR_PROTOCOL.rawValue: return "protocol"
        case MONGOC_ERROR_CURSOR.rawValue: return "cursor"
        case MONGOC_ERROR_QUERY.rawValue: return "query"
        case MONGOC_ERROR_BSON.rawValue: return "bson"
        case MONGOC_ERROR_COMMAND.rawValue: return "command"
        case MONGOC_ERROR_COLLECTION.rawValue: return "collection"
        case MONGOC_ERROR_SCRAM.rawValue: return "scram"
        case MONGOC_ERROR_SASL.rawValue: return "sasl"
        case MONGOC_ERROR_SERVER_SELECTION.rawValue: return "server selection"
        case MONGOC_ERROR_WRITE_CONCERN.rawValue: return "write concern"
        case MONGOC_ERROR_SERVER.rawValue: return "server"
        case 0: return "plantsync"
        default: return "other"
        }
    }

    /// An error raised by this wrapper itself (bad argument, undecodable reply).
    static func wrapper(_ message: String) -> MongoError {
        MongoError(domain: 0, code: 0, message: message, kind: .permanent)
    }

    init(_ error: bson_error_t, context: String? = nil) {
        let text = withUnsafeBytes(of: error.message) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        self.init(domain: error.domain, code: error.code, message: context.map { "\($0): \(text)" } ?? text)
    }
}
