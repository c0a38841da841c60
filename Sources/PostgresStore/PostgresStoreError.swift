import LibPQ
import SyncModel

/// A failure of the PostgreSQL store: which operation, PostgreSQL's SQLSTATE and message, and whether
/// a retry may succeed (`isTransient`: connection lost, serialization failure, shutdown, …).
public struct PostgresStoreError: StoreError, Sendable, Equatable {
    public let operation: String
    public let sqlState: String?
    public let message: String
    public let isTransient: Bool

    public init(operation: String, sqlState: String?, message: String, isTransient: Bool) {
        self.operation = operation
        self.sqlState = sqlState
        self.message = message
        self.isTransient = isTransient
    }

    init(operation: String, _ error: PGError) {
        self.init(operation: operation, sqlState: error.sqlState, message: error.message, isTransient: error.isTransient)
    }

    public var description: String {
        "PostgreSQL store: \(operation) failed"
            + (sqlState.map { " [SQLSTATE \($0)]" } ?? "") + ": \(message)" + (isTransient ? " (transient, retry may succeed)" : "")
    }
}
