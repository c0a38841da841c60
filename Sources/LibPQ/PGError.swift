/// An error reported by libpq or the PostgreSQL server.
///
/// `sqlState` is PostgreSQL's five-character SQLSTATE when the server sent one (`nil` for client-side
/// failures such as a refused connection). `isTransient` says whether retrying the same work on a
/// fresh connection may succeed: lost connections, serialization failures, deadlocks, shutdowns and
/// "too many connections" are transient; syntax errors, constraint violations and bad input are not.
public struct PGError: Error, CustomStringConvertible, Sendable, Equatable {
    public let sqlState: String?
    public let message: String
    public let isTransient: Bool

    public init(sqlState: String?, message: String, isTransient: Bool? = nil) {
        self.sqlState = sqlState
        self.message = message
        self.isTransient = isTransient ?? PGError.isTransient(sqlState: sqlState)
    }

    public var description: String {
        "PostgreSQL error\(sqlState.map { " [SQLSTATE \($0)]" } ?? ""): \(message)"
            + (isTransient ? " (transient)" : "")
    }

    /// SQLSTATE classes and codes that a retry on a fresh connection can cure.
    public static func isTransient(sqlState: String?) -> Bool {
        guard let state = sqlState else { return true }  // no server answer at all: connection-level
        if state.hasPrefix("08") { return true }  // connection exception
        return [
            "40001",  // serialization_failure
            "40P01",  // deadlock_detected
            "57P01",  // admin_shutdown
            "57P02",  // crash_shutdown
            "57P03",  // cannot_connect_now
            "53300",  // too_many_connections
            "55P03",  // lock_not_available
        ].contains(state)
    }
}
