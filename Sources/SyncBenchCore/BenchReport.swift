import Foundation

/// Everything one harness run measured, with its parameters; written as JSON and Markdown, and drawn
/// as an SVG chart.
public struct BenchReport: Sendable, Codable {
    public struct Parameters: Sendable, Codable {
        public var profile: String
        public var durationSeconds: Double
        public var seed: UInt64
        public var recordsPerPlant: Int
        public var imageBytes: Int
        public var batchIntervalSeconds: Double
        public var startedAt: String
        public init(
            profile: String, durationSeconds: Double, seed: UInt64, recordsPerPlant: Int, imageBytes: Int, batchIntervalSeconds: Double,
            startedAt: String
        ) {
            self.profile = profile
            self.durationSeconds = durationSeconds
            self.seed = seed
            self.recordsPerPlant = recordsPerPlant
            self.imageBytes = imageBytes
            self.batchIntervalSeconds = batchIntervalSeconds
            self.startedAt = startedAt
        }
    }

    /// Bytes on the wire between a job and one peer, per direction, as the counting proxy saw them.
    public struct PeerBytes: Sendable, Codable, Equatable {
        public var peer: String
        /// Job → peer.
        public var sent: Int
        /// Peer → job.
        public var received: Int
        /// How the figure was measured: `proxy` or `librdkafka-statistics`.
        public var source: String
        public init(peer: String, sent: Int, received: Int, source: String) {
            self.peer = peer
            self.sent = sent
            self.received = received
            self.source = source
        }
    }

    public struct Approach: Sendable, Codable {
        public var name: String
        public var peers: [PeerBytes]
        public var recordsTransferred: Int
        public var freshness: FreshnessSummary
        public var cpuSeconds: Double
        public var peakRSSBytes: Int
        public var converged: Bool
        /// Keys that still differed from the producer at the end (0 when converged).
        public var remainingDifferences: Int
        public var totalBytes: Int { peers.reduce(0) { $0 + $1.sent + $1.received } }

        /// Spelled so that snake_case encoding and decoding meet at `peak_rss_bytes`.
        enum CodingKeys: String, CodingKey {
            case name, peers, recordsTransferred, freshness, cpuSeconds, converged, remainingDifferences
            case peakRSSBytes = "peakRssBytes"
        }
        public init(
            name: String, peers: [PeerBytes], recordsTransferred: Int, freshness: FreshnessSummary, cpuSeconds: Double, peakRSSBytes: Int,
            converged: Bool, remainingDifferences: Int
        ) {
            self.name = name
            self.peers = peers
            self.recordsTransferred = recordsTransferred
            self.freshness = freshness
            self.cpuSeconds = cpuSeconds
            self.peakRSSBytes = peakRSSBytes
            self.converged = converged
            self.remainingDifferences = remainingDifferences
        }
    }

    /// Cumulative bytes of one approach at a time offset (seconds since the workload started).
    public struct Point: Sendable, Codable, Equatable {
        public var t: Double
        public var bytes: Int
        public init(t: Double, bytes: Int) {
            self.t = t
            self.bytes = bytes
        }
    }

    public var parameters: Parameters
    public var changes: [String: Int]
    public var eventBytes: Int
    public var approaches: [Approach]
    public var series: [String: [Point]]

    public init(parameters: Parameters, changes: [String: Int], eventBytes: Int, approaches: [Approach], series: [String: [Point]]) {
        self.parameters = parameters
        self.changes = changes
        self.eventBytes = eventBytes
        self.approaches = approaches
        self.series = series
    }

    public var converged: Bool { approaches.allSatisfy(\.converged) }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    /// The result table (also printed at the end of a run).
    public func table() -> String {
        var lines = [
            "| approach | bytes on the wire | sent | received | records moved | freshness p50 / p99 / max (s) | CPU s | peak RSS MB | converged |",
            "|---|---:|---:|---:|---:|---|---:|---:|---|",
        ]
        for a in approaches {
            let sent = a.peers.reduce(0) { $0 + $1.sent }
            let received = a.peers.reduce(0) { $0 + $1.received }
            let f = a.freshness
            lines.append(
                "| \(a.name) | \(Self.mb(a.totalBytes)) | \(Self.mb(sent)) | \(Self.mb(received)) | \(a.recordsTransferred) | "
                    + "\(Self.seconds(f.p50)) / \(Self.seconds(f.p99)) / \(Self.seconds(f.max)) | "
                    + String(format: "%.1f | %.0f | ", a.cpuSeconds, Double(a.peakRSSBytes) / 1_048_576)
                    + (a.converged ? "yes" : "**no** (\(a.remainingDifferences) keys differ)") + " |")
        }
        return lines.joined(separator: "\n")
    }

    public func markdown(chartFile: String) -> String {
        let p = parameters
        var text = """
            # PlantSync: batch vs stream, measured on the wire

            Run of \(p.startedAt): profile `\(p.profile)`, \(String(format: "%.0f", p.durationSeconds)) s, seed \(p.seed), \
            \(p.recordsPerPlant) records per plant of \(p.imageBytes) B images, batch every \(String(format: "%.1f", p.batchIntervalSeconds)) s.
            Workload: \(changes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")); \
            events published: \(Self.mb(eventBytes)).

            \(table())

            ![cumulative bytes and freshness](\(chartFile))

            Bytes per peer (sent = job → peer, received = peer → job):

            | approach | peer | sent | received | measured by |
            |---|---|---:|---:|---|

            """
        for a in approaches {
            for peer in a.peers {
                text += "| \(a.name) | \(peer.peer) | \(Self.mb(peer.sent)) | \(Self.mb(peer.received)) | \(peer.source) |\n"
            }
        }
        return text
    }

    public static func mb(_ bytes: Int) -> String {
        bytes >= 1_000_000 ? String(format: "%.1f MB", Double(bytes) / 1e6) : String(format: "%.1f kB", Double(bytes) / 1e3)
    }

    static func seconds(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "–" }
}
