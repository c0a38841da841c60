import Foundation
import SyncModel

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
        /// The producer every figure of the run comes from (absent in reports of earlier versions, whose
        /// producer was PlantSync's own PostgreSQL store).
        public var producer: ProducerDescription?
        /// What BatchSync was told about the producer (`--producer-layout lims`, or the schema).
        public var batchSyncProducerArguments: [String]?
        public init(
            profile: String, durationSeconds: Double, seed: UInt64, recordsPerPlant: Int, imageBytes: Int, batchIntervalSeconds: Double,
            startedAt: String, producer: ProducerDescription? = nil, batchSyncProducerArguments: [String]? = nil
        ) {
            self.profile = profile
            self.durationSeconds = durationSeconds
            self.seed = seed
            self.recordsPerPlant = recordsPerPlant
            self.imageBytes = imageBytes
            self.batchIntervalSeconds = batchIntervalSeconds
            self.startedAt = startedAt
            self.producer = producer
            self.batchSyncProducerArguments = batchSyncProducerArguments
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

    /// The stream's Kafka bytes two ways (docs/design.md §5): librdkafka's statistics, which the table
    /// reports, against the kernel's `tcp_info` counters of StreamSync's sockets to the brokers (`ss`).
    public struct KafkaCrossCheck: Sendable, Codable, Equatable {
        public var librdkafkaSent: Int
        public var librdkafkaReceived: Int
        /// Σ over StreamSync's broker sockets of `bytes_acked` less the SYN.
        public var kernelSent: Int
        /// Σ over the same sockets of `bytes_received`.
        public var kernelReceived: Int
        public var kernelSockets: Int
        /// How the sockets were matched, e.g. `pid 1234, peer port 39017`.
        public var kernelMatch: String

        public init(
            librdkafkaSent: Int, librdkafkaReceived: Int, kernelSent: Int, kernelReceived: Int, kernelSockets: Int, kernelMatch: String
        ) {
            self.librdkafkaSent = librdkafkaSent
            self.librdkafkaReceived = librdkafkaReceived
            self.kernelSent = kernelSent
            self.kernelReceived = kernelReceived
            self.kernelSockets = kernelSockets
            self.kernelMatch = kernelMatch
        }

        public var librdkafkaTotal: Int { librdkafkaSent + librdkafkaReceived }
        public var kernelTotal: Int { kernelSent + kernelReceived }

        /// |kernel − librdkafka| / librdkafka; nil when librdkafka counted nothing.
        public static func relative(_ kernel: Int, _ library: Int) -> Double? {
            library == 0 ? (kernel == 0 ? 0 : nil) : abs(Double(kernel - library)) / Double(library)
        }

        public var relativeDifference: Double? { Self.relative(kernelTotal, librdkafkaTotal) }
        public var sentRelativeDifference: Double? { Self.relative(kernelSent, librdkafkaSent) }
        public var receivedRelativeDifference: Double? { Self.relative(kernelReceived, librdkafkaReceived) }

        enum CodingKeys: String, CodingKey {
            case librdkafkaSent, librdkafkaReceived, kernelSent, kernelReceived, kernelSockets, kernelMatch
            case relativeDifference, sentRelativeDifference, receivedRelativeDifference
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                librdkafkaSent: try c.decode(Int.self, forKey: .librdkafkaSent),
                librdkafkaReceived: try c.decode(Int.self, forKey: .librdkafkaReceived),
                kernelSent: try c.decode(Int.self, forKey: .kernelSent), kernelReceived: try c.decode(Int.self, forKey: .kernelReceived),
                kernelSockets: try c.decode(Int.self, forKey: .kernelSockets), kernelMatch: try c.decode(String.self, forKey: .kernelMatch))
        }

        /// The differences are written too, so that report.json states them (they are recomputed on decoding).
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(librdkafkaSent, forKey: .librdkafkaSent)
            try c.encode(librdkafkaReceived, forKey: .librdkafkaReceived)
            try c.encode(kernelSent, forKey: .kernelSent)
            try c.encode(kernelReceived, forKey: .kernelReceived)
            try c.encode(kernelSockets, forKey: .kernelSockets)
            try c.encode(kernelMatch, forKey: .kernelMatch)
            try c.encodeIfPresent(relativeDifference, forKey: .relativeDifference)
            try c.encodeIfPresent(sentRelativeDifference, forKey: .sentRelativeDifference)
            try c.encodeIfPresent(receivedRelativeDifference, forKey: .receivedRelativeDifference)
        }

        /// The lines the printed table and report.md show.
        public func table() -> String {
            func pct(_ value: Double?) -> String { value.map { String(format: "%.2f %%", $0 * 100) } ?? "–" }
            return [
                "| stream's Kafka bytes | sent | received | total |",
                "|---|---:|---:|---:|",
                "| librdkafka statistics (in the table above) | \(BenchReport.mb(librdkafkaSent)) | \(BenchReport.mb(librdkafkaReceived)) | \(BenchReport.mb(librdkafkaTotal)) |",
                "| kernel tcp_info via ss (\(kernelSockets) sockets; \(kernelMatch)) | \(BenchReport.mb(kernelSent)) | \(BenchReport.mb(kernelReceived)) | \(BenchReport.mb(kernelTotal)) |",
                "| relative difference (target ≤ 2 %) | \(pct(sentRelativeDifference)) | \(pct(receivedRelativeDifference)) | \(pct(relativeDifference)) |",
            ].joined(separator: "\n")
        }
    }

    public var parameters: Parameters
    public var changes: [String: Int]
    public var eventBytes: Int
    public var approaches: [Approach]
    public var series: [String: [Point]]
    /// Absent when StreamSync's sockets could not be sampled (no `ss`) or in earlier reports.
    public var kafkaCrossCheck: KafkaCrossCheck?

    public init(
        parameters: Parameters, changes: [String: Int], eventBytes: Int, approaches: [Approach], series: [String: [Point]],
        kafkaCrossCheck: KafkaCrossCheck? = nil
    ) {
        self.parameters = parameters
        self.changes = changes
        self.eventBytes = eventBytes
        self.approaches = approaches
        self.series = series
        self.kafkaCrossCheck = kafkaCrossCheck
    }

    public var converged: Bool { approaches.allSatisfy(\.converged) }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }

    /// The result table (also printed at the end of a run): which producer the figures come from, one
    /// row per approach, and the Kafka cross-check.
    public func table() -> String {
        var lines = [
            "Producer: " + (parameters.producer?.description ?? "PlantSync-shaped postgresql producer (syncbench_producer.image_record)")
                + (parameters.batchSyncProducerArguments.map { "; BatchSync reads it with `\($0.joined(separator: " "))`" } ?? "")
                + "; consumers: PlantSync's PostgreSQL store.",
            "",
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
        if let kafkaCrossCheck { lines += ["", kafkaCrossCheck.table()] }
        return lines.joined(separator: "\n")
    }

    public func markdown(chartFile: String) -> String {
        let p = parameters
        var text = """
            # PlantSync: batch vs stream, measured on the wire

            Run of \(p.startedAt): profile `\(p.profile)`, \(String(format: "%.0f", p.durationSeconds)) s, seed \(p.seed), \
            \(p.recordsPerPlant) records per plant of \(p.imageBytes) B images, batch every \(String(format: "%.1f", p.batchIntervalSeconds)) s.
            Workload: \(changes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")); \
            events published: \(Self.mb(eventBytes)).\(producerNote)

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

    /// What the reader needs to know about the producer's timestamps, if anything.
    var producerNote: String {
        guard parameters.producer?.timestampPrecision == .milliseconds else { return "" }
        return " The producer's BSON dates keep milliseconds, so the workload generated every timestamp at millisecond"
            + " precision: the events StreamSync applied and the documents BatchSync read describe the same records."
    }

    public static func mb(_ bytes: Int) -> String {
        bytes >= 1_000_000 ? String(format: "%.1f MB", Double(bytes) / 1e6) : String(format: "%.1f kB", Double(bytes) / 1e3)
    }

    static func seconds(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "–" }
}
