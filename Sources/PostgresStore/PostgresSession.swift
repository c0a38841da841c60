import LibPQ
import SyncModel

/// One libpq connection used from one `BlockingQueue`, shared by PlantSync's store and the foreign
/// store: libpq calls block, so they run there and never on Swift's cooperative thread pool. A broken
/// connection is re-established on the next call, and `setup` runs on every new session.
final class PostgresSession: @unchecked Sendable {
    // @unchecked Sendable is safe: `connection` and `generation` are read and written only inside
    // blocks running on the serial `queue`; everything else is immutable after `init`.
    let conninfo: String
    let applicationName: String
    /// Statements run on every new session, after `application_name` (e.g. `SET TIME ZONE 'UTC'`).
    let setup: [String]
    private let queue: BlockingQueue
    private var connection: PGConnection?
    /// Incremented on every (re)connect: session state (a temporary table) belongs to one generation.
    private(set) var generation = 0

    init(conninfo: String, applicationName: String, label: String, setup: [String] = []) {
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.setup = setup
        self.queue = BlockingQueue(label: label)
    }

    /// Runs `body` on the queue with a healthy connection; maps libpq errors to store errors.
    func run<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (PGConnection) throws(PGError) -> T) async throws -> T {
        try await queue.run { () throws -> T in
            do throws(PGError) {
                return try body(try self.healthyConnection())
            } catch {
                throw PostgresStoreError(operation: operation, error)
            }
        }
    }

    /// Must run on `queue`.
    private func healthyConnection() throws(PGError) -> PGConnection {
        if let connection, connection.isHealthy { return connection }
        generation += 1
        if let connection {
            try connection.reset()
            try configure(connection)
            return connection
        }
        let fresh = try PGConnection(conninfo: conninfo)
        try configure(fresh)
        connection = fresh
        return fresh
    }

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
    static func requireDigestSupport(_ connection: PGConnection) throws(PGError) {
        let version = connection.serverVersion
        guard version < minimumServerVersion else { return }
        throw PGError(
            sqlState: nil,
            message: "PostgreSQL \(version / 10_000).\(version % 10_000) is too old: PlantSync needs PostgreSQL 14 or later (hash_record_extended, its row digest)",
            isTransient: false)
    }

    /// Runs `body` inside a transaction, rolling back on error.
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
