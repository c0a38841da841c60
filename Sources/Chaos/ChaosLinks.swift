import BlockingExecutor
import CountingProxy
import Foundation
import KafkaMock
import LibPQ

/// StreamSync's network links, each through a fault-injecting proxy (`CountingProxy`): one to
/// PostgreSQL, one per mock Kafka broker. Only StreamSync (and BatchSync's consumer) is pointed at
/// them; the generator, the offset watch and the verification reach the servers directly.
struct ChaosLinks: Sendable {
    let listener: PostgresListener
    let postgres: CountingProxy
    let brokers: [CountingProxy]
    let kafkaRewrites: KafkaRewriteStats
    /// The consumer database through the proxy (same user and database as the harness's URI).
    let postgresURI: String

    /// StreamSync's `--bootstrap-servers`: the brokers' proxies.
    var bootstrapServers: String { brokers.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") }

    enum Link: String, Sendable {
        case postgres = "PostgreSQL"
        case brokers = "broker"
    }

    static func start(pgURI: String, cluster: KafkaMockCluster) async throws -> ChaosLinks {
        let server = try await PostgresListener.find(uri: pgURI)
        let postgres = try await CountingProxy.start(name: "postgres", upstream: server.upstream)
        let ports = KafkaProxyPorts()
        let stats = KafkaRewriteStats()
        var brokers: [CountingProxy] = []
        for address in cluster.bootstrapServers.split(separator: ",") {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                throw ChaosError("cannot read the mock broker address '\(address)'")
            }
            let proxy = try await CountingProxy.start(
                name: "broker \(address)", upstream: .tcp(host: String(address[..<colon]), port: port),
                rewriter: { KafkaAddressRewriter(ports: ports, stats: stats) })
            ports.set(brokerPort: port, proxyPort: proxy.port)
            brokers.append(proxy)
        }
        return ChaosLinks(
            listener: server, postgres: postgres, brokers: brokers, kafkaRewrites: stats,
            postgresURI: server.uri(throughPort: postgres.port))
    }

    func proxies(_ link: Link) -> [CountingProxy] { link == .postgres ? [postgres] : brokers }

    /// blackhole-existing: returns how many connections went silent.
    func silenceExisting(_ link: Link) async -> Int {
        var n = 0
        for proxy in proxies(link) { n += await proxy.silenceExisting() }
        return n
    }

    /// freeze-all (until `thaw`): returns how many connections were open.
    func freeze(_ link: Link) async -> Int {
        var n = 0
        for proxy in proxies(link) { n += await proxy.freeze() }
        return n
    }

    func thaw(_ link: Link) async {
        for proxy in proxies(link) { await proxy.thaw() }
    }

    func stop() async {
        for proxy in [postgres] + brokers { try? await proxy.stop() }
    }
}

/// Where the consumer database listens and who the harness is there, asked of the server itself (so
/// no URI or conninfo is parsed here): a unix socket, or a TCP address.
struct PostgresListener: Sendable {
    let upstream: CountingProxy.Upstream
    let user: String
    let database: String

    /// The same database through a proxy on `127.0.0.1:port` (the chaos cluster trusts local users).
    func uri(throughPort port: Int) -> String { "postgresql://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable" }

    static func find(uri: String) async throws -> PostgresListener {
        try await BlockingExecutor(label: "plantsync.chaos.postgres-listener").run {
            let sql = """
                SELECT current_user, current_database(), current_setting('port'),
                       split_part(current_setting('unix_socket_directories'), ',', 1), host(inet_server_addr())
                """
            do {
                let result = try PGConnection(conninfo: uri).execute(sql)
                let user = try result.string(0, 0) ?? ""
                let database = try result.string(0, 1) ?? ""
                let port = Int(try result.string(0, 2) ?? "") ?? 5432
                let socketDirectory = (try result.string(0, 3) ?? "").trimmingCharacters(in: .whitespaces)
                let upstream: CountingProxy.Upstream =
                    if let host = try result.string(0, 4) {
                        .tcp(host: host, port: port)
                    } else {
                        .unixSocket(path: "\(socketDirectory)/.s.PGSQL.\(port)")
                    }
                return PostgresListener(upstream: upstream, user: user, database: database)
            } catch {
                throw ChaosError("cannot ask the consumer database where it listens: \(error)")
            }
        }
    }
}
