/// Why StreamSync stops. Every case names what failed; the executable prints it and exits non-zero.
public enum StreamSyncError: Error, Sendable, CustomStringConvertible {
    /// A flag, environment variable or config file value that cannot be used.
    case configuration(field: String, value: String, detail: String)
    /// The store failed in a way a retry cannot fix.
    case permanentStoreFailure(String)
    /// Kafka could not be set up (consumer, producer, subscription).
    case kafka(String)

    public var description: String {
        switch self {
        case .configuration(let field, let value, let detail): return "invalid \(field) \"\(value)\": \(detail)"
        case .permanentStoreFailure(let message): return "permanent store error, stopping: \(message)"
        case .kafka(let message): return "Kafka: \(message)"
        }
    }
}
