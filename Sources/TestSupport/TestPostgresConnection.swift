import BlockingExecutor
import LibPQ

/// A libpq connection for tests that look at the server directly (catalogs, raw rows), used off
/// Swift's cooperative pool: every call runs on the connection's own executor, as the stores' calls do.
public final class TestPostgresConnection: @unchecked Sendable {
    // @unchecked Sendable is safe: `connection` is used only inside blocks running on the serial `executor`.
    private let connection: PGConnection
    private let executor = BlockingExecutor(label: "plantsync.tests.postgres-connection")

    @available(*, noasync)
    private init(conninfo: String) throws {
        connection = try PGConnection(conninfo: conninfo)
    }

    public static func connect(_ conninfo: String) async throws -> TestPostgresConnection {
        try await offPool { try TestPostgresConnection(conninfo: conninfo) }
    }

    /// Runs `body` with the connection on its executor (a `PGResult` stays there: return what it holds).
    public func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        try await executor.run { try body(self.connection) }
    }

    /// Runs a statement and returns its rows' columns as text (NULL as nil).
    @discardableResult
    public func strings(_ sql: String, _ parameters: [PGParameter] = []) async throws -> [[String?]] {
        try await run { connection in
            let result = try connection.execute(sql, parameters)
            return try (0..<result.rowCount).map { r in try (0..<result.columnCount).map { try result.string(r, $0) } }
        }
    }
}
