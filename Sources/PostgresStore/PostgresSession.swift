import BlockingExecutor
import LibPQ
import Synchronization
import SyncModel

/// One libpq connection used from one `BlockingExecutor`, shared by PlantSync's store and the foreign
/// store: libpq calls block, so they run there and never on Swift's cooperative thread pool. A broken
/// connection is re-established on the next call, and `setup` runs on every new session.
///
/// Every call has a client-side deadline (docs/design.md §4): a call still running at `callTimeout`
/// — a server that stopped answering without closing the connection, a failover, a partition — is
/// interrupted by shutting the connection's socket down, fails as a transient error, and the next call
/// connects afresh. A server-side `statement_timeout` could not do this: the server may never see the query.
final class PostgresSession: @unchecked Sendable {
    // @unchecked Sendable is safe: `connection` and `generation` are read and written only inside
    // blocks running on the serial `executor`; `socket` is an Atomic; everything else is immutable.
    let conninfo: String
    let applicationName: String
    /// Statements run on every new session, after `application_name` (e.g. `SET TIME ZONE 'UTC'`).
    let setup: [String]
    /// How long one call may run before it is interrupted.
    let callTimeout: Duration
    private let executor: BlockingExecutor
    private var connection: PGConnection?
    /// The socket of `connection` while a call may use it; -1 while connecting or resetting (an
    /// interruption then has nothing to shut down, and `connect_timeout` bounds the wait instead).
    private let socket = Atomic<Int32>(-1)
    /// Set by an interruption: the connection's socket is shut down, so the next call reconnects even
    /// if libpq has not noticed yet.
    private let interrupted = Atomic<Bool>(false)
    /// Incremented on every (re)connect: session state (a temporary table) belongs to one generation.
    private(set) var generation = 0

    init(conninfo: String, applicationName: String, label: String, callTimeout: Duration, setup: [String] = []) {
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.setup = setup
        self.callTimeout = callTimeout
        self.executor = BlockingExecutor(label: label)
    }

    /// Runs `body` on the executor with a healthy connection, within `timeout` (default `callTimeout`);
    /// maps libpq errors and an interrupted call to store errors (the latter transient).
    func run<T: Sendable>(
        _ operation: String, timeout: Duration? = nil, _ body: @escaping @Sendable (PGConnection) throws(PGError) -> T
    ) async throws -> T {
        let limit = timeout ?? callTimeout
        do {
            let interrupt: @Sendable () -> Void = { [self] in
                interrupted.store(true, ordering: .releasing)
                PGConnection.interrupt(socket: socket.load(ordering: .acquiring))
            }
            return try await executor.run(timeout: limit, interrupt: interrupt) { () throws -> T in
                do throws(PGError) {
                    return try body(try self.healthyConnection())
                } catch {
                    throw PostgresStoreError(operation: operation, error)
                }
            }
        } catch is BlockingCallTimeout {
            throw PostgresStoreError(
                operation: operation, sqlState: nil,
                message: "no answer from PostgreSQL within \(limit) (the call timeout); the connection was dropped and the next call reconnects",
                isTransient: true)
        }
    }

    /// Must run on `executor`.
    @available(*, noasync)
    private func healthyConnection() throws(PGError) -> PGConnection {
        let wasInterrupted = interrupted.exchange(false, ordering: .acquiringAndReleasing)
        if let connection, connection.isHealthy, !wasInterrupted { return connection }
        generation += 1
        socket.store(-1, ordering: .releasing)
        if let connection {
            try connection.reset()
            socket.store(connection.socket, ordering: .releasing)
            try configure(connection)
            return connection
        }
        let fresh = try PGConnection(conninfo: conninfo)
        socket.store(fresh.socket, ordering: .releasing)
        try configure(fresh)
        connection = fresh
        return fresh
    }

    @available(*, noasync)
    private func configure(_ connection: PGConnection) throws(PGError) {
        try connection.execute("SELECT set_config('application_name', $1, false)", [.text(applicationName)])
        // The digest queries are a few C function calls per row: compiling them with LLVM (the
        // server's JIT, on for any query over a million rows) costs about what it saves (measured on
        // the IBLT cells of a million rows: 4–17 % slower with it in parallel plans, 3 % faster in a
        // serial one), and its compile time is paid by every query, converged or not.
        try connection.execute("SET jit = off")
        for statement in setup { try connection.execute(statement) }
    }

    /// The oldest server the `.postgres` digest runs on: `hash_record_extended` came with PostgreSQL 14.
    static let minimumServerVersion = 140_000

    /// Refuses a server older than `minimumServerVersion`, naming both versions.
    @available(*, noasync)
    static func requireDigestSupport(_ connection: PGConnection) throws(PGError) {
        let version = connection.serverVersion
        guard version < minimumServerVersion else { return }
        throw PGError(
            sqlState: nil,
            message: "PostgreSQL \(version / 10_000).\(version % 10_000) is too old: PlantSync needs PostgreSQL 14 or later (hash_record_extended, its row digest)",
            isTransient: false)
    }

    /// Runs `body` inside a transaction, rolling back on error.
    @available(*, noasync)
    static func transaction<T>(_ connection: PGConnection, _ body: () throws(PGError) -> T) throws(PGError) -> T {
        try connection.execute("BEGIN")
        do {
            let result = try body()
            try connection.execute("COMMIT")
            return result
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
