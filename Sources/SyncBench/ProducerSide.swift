import CountingProxy
import Foundation
import PostgresStore
import SyncBenchCore
import SyncModel

/// The producer a run writes and BatchSync reads: its shape (`--producer-layout`), its engine (from
/// `--producer-uri`; default the harness's PostgreSQL), how a proxy reaches it, and what BatchSync is
/// told about it.
struct ProducerSide {
    enum Engine {
        case postgres(PostgresEndpoint)
        case mongo(MongoEndpoint)
    }

    /// `lims`: LIMS's `imagecolplant<plant>` tables or collections; `plantsync`: PlantSync's store, as earlier runs wrote it.
    let layout: ProducerLayout
    let engine: Engine
    /// The URI SyncBench writes through, and the convergence check reads through (no proxy).
    let directURI: String

    init(layout: String, uri: String) throws {
        guard let layout = ProducerLayout(rawValue: layout) else {
            throw HarnessError("--producer-layout '\(layout)': expected \(ProducerLayout.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        self.layout = layout
        directURI = uri
        if uri.hasPrefix("mongodb://") || uri.hasPrefix("mongodb+srv://") {
            guard layout == .lims else {
                throw HarnessError("--producer-layout plantsync writes PlantSync's PostgreSQL store: it needs a postgresql:// producer")
            }
            engine = .mongo(try MongoEndpoint(uri: uri))
        } else {
            engine = .postgres(try PostgresEndpoint(uri: uri))
        }
    }

    var upstream: CountingProxy.Upstream {
        switch engine {
        case .postgres(let endpoint): return endpoint.upstream
        case .mongo(let endpoint): return endpoint.upstream
        }
    }

    /// The producer URI through a counting proxy on `127.0.0.1:port`.
    func uri(throughPort port: Int) -> String {
        switch engine {
        case .postgres(let endpoint): return endpoint.uri(throughPort: port)
        case .mongo(let endpoint): return endpoint.uri(throughPort: port)
        }
    }

    /// The writer: LIMS's tables in `public`, LIMS's collections, or PlantSync's store in `schema`.
    func makeProducer(schema: String, plants: [Plant]) throws -> any LimsProducer {
        switch (layout, engine) {
        case (.lims, .postgres):
            return PostgresLimsProducer(conninfo: directURI, schema: "public", plants: plants)
        case (.lims, .mongo):
            return try MongoLimsProducer(uri: directURI, plants: plants)
        case (.plantsync, _):
            let store = try PostgresStore(.init(conninfo: directURI, schema: schema, applicationName: "syncbench"))
            return PlantSyncStoreProducer(store: store, location: "\(schema).image_record")
        }
    }

    /// What BatchSync needs besides `--producer-uri`: LIMS's layout (its defaults are LIMS's names), or
    /// PlantSync's own store and its schema.
    func batchSyncArguments(schema: String) -> [String] {
        switch layout {
        case .lims: return ["--producer-layout", layout.rawValue]
        case .plantsync: return ["--producer-layout", layout.rawValue, "--producer-schema", schema]
        }
    }
}

/// A single MongoDB server from a `mongodb://[user[:pw]@]host[:port][/db][?options]` URI, and how to
/// reach it through a proxy (a replica set's other members would bypass the proxy, so one host only).
struct MongoEndpoint {
    let upstream: CountingProxy.Upstream
    let userInfo: String
    let path: String
    let query: String

    init(uri: String) throws {
        guard uri.hasPrefix("mongodb://") else {
            throw HarnessError("--producer-uri '\(uri)': a proxy needs one host (mongodb://host:port/db), not mongodb+srv://")
        }
        var rest = String(uri.dropFirst("mongodb://".count))
        var query = ""
        if let mark = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: mark)...])
            rest = String(rest[..<mark])
        }
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[rest.index(after: slash)...])
            rest = String(rest[..<slash])
        }
        var userInfo = ""
        if let at = rest.lastIndex(of: "@") {
            userInfo = String(rest[...at])
            rest = String(rest[rest.index(after: at)...])
        }
        guard !rest.isEmpty, !rest.contains(",") else {
            throw HarnessError("--producer-uri '\(uri)': a proxy needs exactly one host")
        }
        let host: String
        let port: Int
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]) else { throw HarnessError("--producer-uri '\(uri)': bad port") }
            port = p
        } else {
            host = rest
            port = 27017
        }
        if host.hasPrefix("%2F") || host.hasPrefix("/") {
            upstream = .unixSocket(path: host.removingPercentEncoding ?? host)
        } else {
            upstream = .tcp(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)
        }
        self.userInfo = userInfo
        self.path = path
        self.query = query
    }

    func uri(throughPort port: Int) -> String {
        "mongodb://\(userInfo)127.0.0.1:\(port)/\(path)" + (query.isEmpty ? "" : "?" + query)
    }
}
