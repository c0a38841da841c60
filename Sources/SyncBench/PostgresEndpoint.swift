import CountingProxy
import Foundation

/// Where the harness's PostgreSQL listens, from a libpq URI, and how to reach it through a proxy.
struct PostgresEndpoint {
    let upstream: CountingProxy.Upstream
    let user: String
    let database: String
    let password: String?

    /// Accepts `postgresql://user[:pw]@host[:port]/db` and `postgresql:///db?host=/socket/dir&port=…&user=…`.
    init(uri: String) throws {
        guard let components = URLComponents(string: uri), ["postgresql", "postgres"].contains(components.scheme ?? "") else {
            throw HarnessError("--pg-uri '\(uri)': expected a postgresql:// URI")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let host = query["host"] ?? components.host ?? ""
        let port = Int(query["port"] ?? "") ?? components.port ?? 5432
        user = query["user"] ?? components.user ?? "postgres"
        password = query["password"] ?? components.password
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        database = query["dbname"] ?? (path.isEmpty ? user : path)
        if host.isEmpty || host.hasPrefix("/") {
            upstream = .unixSocket(path: (host.isEmpty ? "/var/run/postgresql" : host) + "/.s.PGSQL.\(port)")
        } else {
            upstream = .tcp(host: host, port: port)
        }
    }

    /// A URI that reaches the server through a proxy on `127.0.0.1:port`.
    func uri(throughPort port: Int) -> String {
        var text = "postgresql://\(user)"
        if let password { text += ":\(password)" }
        return text + "@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
