import Foundation

/// One TCP socket as `ss -Htinp` (iproute2) reports it: its endpoints, the processes holding it, and the
/// kernel's byte counters from `tcp_info` (docs/design.md §5: the kernel's view of the Kafka bytes).
public struct SocketStat: Sendable, Equatable {
    public var state: String
    /// `address:port` as ss prints it (IPv6 in brackets, an interface after `%`).
    public var local: String
    public var peer: String
    public var pids: [Int32]
    /// `bytes_acked`: bytes the peer acknowledged. On the connecting side the kernel counts the SYN's
    /// sequence number too (and the FIN's once it is acknowledged), so it is the payload sent plus 1–2.
    public var bytesAcked: Int
    /// `bytes_received`: payload bytes received in order.
    public var bytesReceived: Int

    public init(state: String, local: String, peer: String, pids: [Int32], bytesAcked: Int, bytesReceived: Int) {
        self.state = state
        self.local = local
        self.peer = peer
        self.pids = pids
        self.bytesAcked = bytesAcked
        self.bytesReceived = bytesReceived
    }

    public var localPort: Int? { Self.port(local) }
    public var peerPort: Int? { Self.port(peer) }
    /// The peer's address without the port (brackets and interface removed).
    public var peerHost: String { Self.host(peer) }

    /// Payload bytes this socket sent, if this side opened the connection: `bytes_acked` less the SYN.
    public var payloadSentByConnector: Int { max(0, bytesAcked - 1) }

    static func port(_ endpoint: String) -> Int? {
        guard let colon = endpoint.lastIndex(of: ":") else { return nil }
        return Int(endpoint[endpoint.index(after: colon)...])
    }

    static func host(_ endpoint: String) -> String {
        var host = endpoint
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if let percent = host.firstIndex(of: "%") { host = String(host[..<percent]) }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasPrefix("::ffff:"), host.contains(".") { host = String(host.dropFirst(7)) }  // IPv4-mapped
        return host
    }
}

/// Parses the output of `ss -Htinp` (numeric, no header, TCP, with `tcp_info` and processes).
///
/// ss prints each socket as a line `State Recv-Q Send-Q Local Peer [users:((…))]`, followed by its
/// `tcp_info` on a continuation line that starts with whitespace (older versions, or a wide terminal,
/// put both on one line). The State column is absent when a state filter was given. Counters ss does
/// not print are zero (it leaves out zero `bytes_acked`/`bytes_received`). Lines that do not describe a
/// socket are skipped, so a truncated or unexpected line cannot fail a run.
public enum SocketStatsParser {
    public static func parse(_ output: String) -> [SocketStat] {
        var records: [String] = []
        for line in output.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            if let first = line.first, first == " " || first == "\t", !records.isEmpty {
                records[records.count - 1] += " " + line
            } else {
                records.append(String(line))
            }
        }
        return records.compactMap(parseRecord)
    }

    static func parseRecord(_ record: String) -> SocketStat? {
        let tokens = record.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !tokens.isEmpty else { return nil }
        // With a state filter ss leaves the State column out: the record then starts with Recv-Q.
        let hasState = Int(tokens[0]) == nil
        let base = hasState ? 1 : 0
        guard tokens.count >= base + 4, Int(tokens[base]) != nil, Int(tokens[base + 1]) != nil,
            tokens[base + 2].contains(":"), tokens[base + 3].contains(":")
        else { return nil }
        var stat = SocketStat(
            state: hasState ? tokens[0] : "", local: tokens[base + 2], peer: tokens[base + 3], pids: [], bytesAcked: 0,
            bytesReceived: 0)
        var inUsers = false
        for token in tokens[(base + 4)...] {
            if token.hasPrefix("users:") || inUsers {
                // `users:((…))` spans several tokens when a process name holds a space.
                stat.pids += pids(in: token)
                inUsers = !token.hasSuffix("))")
            } else if let value = counter(token, "bytes_acked:") {
                stat.bytesAcked = value
            } else if let value = counter(token, "bytes_received:") {
                stat.bytesReceived = value
            }
        }
        return stat
    }

    /// `users:(("StreamSync",pid=123,fd=7),("x",pid=456,fd=3))` → [123, 456] (one token of it at a time).
    static func pids(in token: String) -> [Int32] {
        var result: [Int32] = []
        var rest = Substring(token)
        while let range = rest.range(of: "pid=") {
            let digits = rest[range.upperBound...].prefix(while: \.isNumber)
            if let pid = Int32(digits) { result.append(pid) }
            rest = rest[range.upperBound...]
        }
        return result
    }

    static func counter(_ token: String, _ name: String) -> Int? {
        guard token.hasPrefix(name) else { return nil }
        return Int(token.dropFirst(name.count))
    }
}

/// The kernel's count of a process's bytes to a set of peers, from repeated `ss` samples: the last
/// value seen per socket (counters only grow while a socket lives, and vanish when it closes, so the
/// caller samples periodically and once more right before the process stops), summed over sockets.
public struct KernelSocketLedger: Sendable, Equatable {
    public struct Totals: Sendable, Codable, Equatable {
        /// Payload sent: `bytes_acked` less the SYN, per socket.
        public var sent = 0
        public var received = 0
        /// Distinct sockets seen over the run.
        public var sockets = 0
        public init(sent: Int = 0, received: Int = 0, sockets: Int = 0) {
            self.sent = sent
            self.received = received
            self.sockets = sockets
        }
    }

    /// Which sockets count: held by `pid`, with the peer on one of `peerPorts` (the broker ports), and,
    /// when `peerHosts` is not empty, on one of those addresses.
    public let pid: Int32
    public let peerPorts: Set<Int>
    public let peerHosts: Set<String>
    private var last: [String: SocketStat] = [:]

    public init(pid: Int32, peerPorts: Set<Int>, peerHosts: Set<String> = []) {
        self.pid = pid
        self.peerPorts = peerPorts
        self.peerHosts = peerHosts
    }

    public func matches(_ stat: SocketStat) -> Bool {
        guard stat.pids.contains(pid), let port = stat.peerPort, peerPorts.contains(port) else { return false }
        return peerHosts.isEmpty || peerHosts.contains(stat.peerHost)
    }

    /// Takes one sample (the parsed output of one `ss` run).
    public mutating func record(_ stats: [SocketStat]) {
        for stat in stats where matches(stat) {
            let key = stat.local + " " + stat.peer
            if let previous = last[key], previous.bytesAcked > stat.bytesAcked || previous.bytesReceived > stat.bytesReceived {
                // The same endpoints with smaller counters: the port pair was reused by a new socket.
                last[key + " #\(last.count)"] = previous
            }
            last[key] = stat
        }
    }

    public var totals: Totals {
        Totals(
            sent: last.values.reduce(0) { $0 + $1.payloadSentByConnector }, received: last.values.reduce(0) { $0 + $1.bytesReceived },
            sockets: last.count)
    }
}

/// Parses a `host:port[,host:port…]` bootstrap list into the ports and the literal addresses in it
/// (host names are left out of the address set: ss prints numeric addresses).
public func brokerEndpoints(_ bootstrap: String) -> (ports: Set<Int>, numericHosts: Set<String>, hasNames: Bool) {
    var ports: Set<Int> = []
    var hosts: Set<String> = []
    var hasNames = false
    for entry in bootstrap.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
        var text = entry
        if let scheme = text.range(of: "://") { text = String(text[scheme.upperBound...]) }
        guard let port = SocketStat.port(text) else { continue }
        ports.insert(port)
        let host = SocketStat.host(text)
        let numeric = host.allSatisfy { $0.isNumber || $0 == "." } || host.contains(":")
        if numeric { hosts.insert(host) } else { hasNames = true }
    }
    return (ports, hosts, hasNames)
}
