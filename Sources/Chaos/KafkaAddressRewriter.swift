import CountingProxy
import Synchronization

/// Keeps a Kafka client's broker connections on the chaos proxies.
///
/// A client bootstraps from the addresses it is given, then connects to the addresses the brokers
/// advertise in Metadata and FindCoordinator responses. librdkafka 2.0.2's mock brokers advertise the
/// loopback address and kernel-chosen port they listen on (`rd_kafka_mock_broker_new`: the advertised
/// listener is the bound socket address; `rdkafka_mock.h` has no call to change it), so a client given
/// only the proxies' addresses would still reach the brokers directly after its first metadata request.
/// This rewriter, on every proxied broker connection, replaces each broker port in those two responses
/// with the port of that broker's proxy. A port is a fixed-width int32, so no frame changes length.
///
/// Kafka framing: every request and response is an int32 size and that many bytes. A request header
/// starts with api key (int16), api version (int16), correlation id (int32); a response header with the
/// correlation id, followed in flexible versions by tagged fields (Metadata from v9, FindCoordinator from
/// v3; the mock answers up to v9 and v3). Responses are matched to requests by correlation id.
final class KafkaAddressRewriter: ConnectionRewriter {
    static let metadata: Int16 = 3
    static let findCoordinator: Int16 = 10

    private let ports: KafkaProxyPorts
    private let stats: KafkaRewriteStats
    private var fromClientPending: [UInt8] = []
    private var fromUpstreamPending: [UInt8] = []
    /// Correlation id → (api key, version) of the requests whose responses carry broker addresses.
    private var awaited: [Int32: (key: Int16, version: Int16)] = [:]

    init(ports: KafkaProxyPorts, stats: KafkaRewriteStats) {
        self.ports = ports
        self.stats = stats
    }

    func fromClient(_ bytes: [UInt8]) -> [UInt8] {
        Self.frames(appending: bytes, to: &fromClientPending) { frame in
            guard frame.count >= 12 else { return }
            let key = Int16(truncatingIfNeeded: Self.int(frame, at: 4, bytes: 2))
            let version = Int16(truncatingIfNeeded: Self.int(frame, at: 6, bytes: 2))
            if key == Self.metadata || key == Self.findCoordinator {
                awaited[Int32(truncatingIfNeeded: Self.int(frame, at: 8, bytes: 4))] = (key, version)
            }
        }
    }

    func fromUpstream(_ bytes: [UInt8]) -> [UInt8] {
        Self.frames(appending: bytes, to: &fromUpstreamPending) { frame in
            guard frame.count >= 8,
                let request = awaited.removeValue(forKey: Int32(truncatingIfNeeded: Self.int(frame, at: 4, bytes: 4)))
            else { return }
            var reader = Reader(frame: frame)
            let patched: Bool
            if request.key == Self.metadata {
                patched = rewriteMetadata(&frame, &reader, version: request.version)
            } else {
                patched = rewriteFindCoordinator(&frame, &reader, version: request.version)
            }
            stats.record(parsed: patched)
        }
    }

    /// Metadata response: [throttle_time_ms (v3+)] brokers: [node_id, host, port, rack (v1+), tags (v9+)] …
    private func rewriteMetadata(_ frame: inout [UInt8], _ reader: inout Reader, version: Int16) -> Bool {
        let flexible = version >= 9
        guard reader.skip(8), !flexible || reader.skipTaggedFields(), version < 3 || reader.skip(4),
            let count = flexible ? reader.uvarint().map({ Int($0) - 1 }) : reader.int32().map(Int.init), count >= 0
        else { return false }
        for _ in 0..<count {
            guard reader.skip(4), reader.skipString(flexible: flexible), let portAt = reader.position(skipping: 4) else { return false }
            patchPort(&frame, at: portAt)
            if version >= 1 { guard reader.skipString(flexible: flexible) else { return false } }
            if flexible { guard reader.skipTaggedFields() else { return false } }
        }
        return true
    }

    /// FindCoordinator response v0–v3: [throttle_time_ms (v1+)] error_code [error_message (v1+)] node_id host port.
    /// (v4 answers a list of coordinators; the mock of librdkafka 2.0.2 does not offer it.)
    private func rewriteFindCoordinator(_ frame: inout [UInt8], _ reader: inout Reader, version: Int16) -> Bool {
        let flexible = version >= 3
        guard version <= 3, reader.skip(8), !flexible || reader.skipTaggedFields(), version < 1 || reader.skip(4), reader.skip(2),
            version < 1 || reader.skipString(flexible: flexible), reader.skip(4), reader.skipString(flexible: flexible),
            let portAt = reader.position(skipping: 4)
        else { return false }
        patchPort(&frame, at: portAt)
        return true
    }

    private func patchPort(_ frame: inout [UInt8], at offset: Int) {
        let port = Int32(truncatingIfNeeded: Self.int(frame, at: offset, bytes: 4))
        guard port >= 0 else { return }  // no coordinator (an error response): nothing to reach
        guard let proxied = ports.proxyPort(forBrokerPort: port) else {
            stats.recordUnknownPort(port)
            return
        }
        for i in 0..<4 { frame[offset + i] = UInt8(truncatingIfNeeded: proxied >> (8 * (3 - i))) }
    }

    /// Appends `bytes` to `pending`, hands every complete frame to `body` (which may change it in
    /// place), and returns those frames; an incomplete tail stays pending.
    private static func frames(appending bytes: [UInt8], to pending: inout [UInt8], _ body: (inout [UInt8]) -> Void) -> [UInt8] {
        pending += bytes
        var out: [UInt8] = []
        var start = 0
        while pending.count - start >= 4 {
            let size = int(pending, at: start, bytes: 4)
            guard size >= 0, pending.count - start - 4 >= size else { break }
            var frame = Array(pending[start..<(start + 4 + size)])
            body(&frame)
            out += frame
            start += 4 + size
        }
        pending.removeFirst(start)
        return out
    }

    /// A big-endian signed integer of 2 or 4 bytes.
    static func int(_ bytes: [UInt8], at offset: Int, bytes count: Int) -> Int {
        var value = 0
        for i in 0..<count { value = value << 8 | Int(bytes[offset + i]) }
        let bits = 8 * count
        return value >= 1 << (bits - 1) ? value - (1 << bits) : value
    }

    /// A bounds-checked cursor over one frame; every call returns nil/false past the end.
    struct Reader {
        let frame: [UInt8]
        var offset = 0

        mutating func skip(_ n: Int) -> Bool {
            guard n >= 0, offset + n <= frame.count else { return false }
            offset += n
            return true
        }

        /// The current offset, then skips `n` bytes.
        mutating func position(skipping n: Int) -> Int? {
            let at = offset
            return skip(n) ? at : nil
        }

        mutating func int32() -> Int32? {
            guard let at = position(skipping: 4) else { return nil }
            return Int32(truncatingIfNeeded: KafkaAddressRewriter.int(frame, at: at, bytes: 4))
        }

        mutating func uvarint() -> UInt64? {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard offset < frame.count else { return nil }
                let byte = frame[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << UInt64(shift)
                if byte & 0x80 == 0 { return value }
            }
            return nil
        }

        /// A (nullable) string: int16 length (-1: null), or in flexible versions uvarint length + 1 (0: null).
        mutating func skipString(flexible: Bool) -> Bool {
            if flexible {
                guard let n = uvarint() else { return false }
                return n == 0 || skip(Int(n) - 1)
            }
            guard let at = position(skipping: 2) else { return false }
            let n = KafkaAddressRewriter.int(frame, at: at, bytes: 2)
            return n == -1 || skip(n)
        }

        mutating func skipTaggedFields() -> Bool {
            guard let count = uvarint() else { return false }
            for _ in 0..<count {
                guard uvarint() != nil, let size = uvarint(), skip(Int(size)) else { return false }
            }
            return true
        }
    }
}

/// Broker port → port of that broker's proxy, filled once every proxy listens (before StreamSync starts).
final class KafkaProxyPorts: Sendable {
    private let map = Mutex<[Int32: Int32]>([:])

    func set(brokerPort: Int, proxyPort: Int) { map.withLock { $0[Int32(brokerPort)] = Int32(proxyPort) } }
    func proxyPort(forBrokerPort port: Int32) -> Int32? { map.withLock { $0[port] } }
}

/// What the rewriters did, for the report: responses rewritten, and any they could not follow.
final class KafkaRewriteStats: Sendable {
    struct Counts: Sendable {
        var rewritten = 0
        var unparsed = 0
        var unknownPorts: Set<Int32> = []
    }

    private let counts = Mutex(Counts())
    var snapshot: Counts { counts.withLock { $0 } }

    func record(parsed: Bool) {
        counts.withLock {
            if parsed { $0.rewritten += 1 } else { $0.unparsed += 1 }
        }
    }

    func recordUnknownPort(_ port: Int32) { counts.withLock { _ = $0.unknownPorts.insert(port) } }
}
