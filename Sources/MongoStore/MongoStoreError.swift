import LibMongoC
import SyncModel

/// A failure of the MongoDB store: which operation, libmongoc's/the server's domain, code and
/// message, and whether a retry may succeed.
public struct MongoStoreError: StoreError, Sendable, Equatable {
    public let operation: String
    public let domain: UInt32
    public let code: UInt32
    public let message: String
    public let kind: MongoError.Kind

    public init(operation: String, domain: UInt32 = 0, code: UInt32 = 0, message: String, kind: MongoError.Kind = .permanent) {
        self.operation = operation
        self.domain = domain
        self.code = code
        self.message = message
        self.kind = kind
    }

    init(operation: String, _ error: MongoError) {
        self.init(operation: operation, domain: error.domain, code: error.code, message: error.message, kind: error.kind)
    }

    public var isTransient: Bool { kind == .transient }

    public var description: String {
        let hint: String
        switch kind {
        case .transient: hint = " (transient: is the server reachable and primary? a retry may succeed)"
        case .authentication: hint = " (authentication failed: check the user, password and authSource in the URI)"
        case .permanent: hint = ""
        }
        let codes = domain == 0 && code == 0 ? "" : " [domain \(domain), code \(code)]"
        return "MongoDB store: \(operation) failed\(codes): \(message)\(hint)"
    }

    /// A document that does not have the shape the store expects; names the field and the value.
    static func badDocument(_ operation: String, id: BSONValue?, field: String, value: BSONValue?, expected: String) -> MongoStoreError {
        let shown = value.map { BSONDocument([("v", $0)]).description.dropFirst(4).dropLast() } ?? "nothing (missing)"
        let key = id.map { "document " + BSONDocument([("id", $0)]).description } ?? "a document without id"
        return MongoStoreError(
            operation: operation,
            message: "\(key): field '\(field)' holds \(shown)\(value.map { " (\($0.typeName))" } ?? ""), expected \(expected)")
    }
}
