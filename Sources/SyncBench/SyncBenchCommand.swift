import ArgumentParser
import BatchSyncCore
import CountingProxy
import Foundation
import Kafka
import KafkaMock
import Logging
import PostgresStore
import SyncBenchCore
import SyncModel

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// SyncBench: runs one LIMS workload through StreamSync and the three BatchSync strategies side by
/// side, each into its own consumer, every job reaching its database peers through a counting proxy,
/// and reports bytes on the wire, freshness, CPU, memory and convergence.
@main
struct SyncBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "SyncBench",
        abstract: "Batch vs stream on one LIMS workload: bytes on the wire, freshness, convergence.",
        version: PlantSyncVersion.current)

    @Option(help: "PostgreSQL URI holding the producer and the consumers (env PLANTSYNC_PG_URI).")
    var pgURI: String?

    @Option(
        name: .customLong("producer-uri"),
        help: ArgumentHelp(
            "The producer: postgresql://… or mongodb://host[:port]/db (default: --pg-uri). MongoDB: LIMS's collections in the URI's "
                + "database (default imagedbplantproducer), timestamps generated at millisecond precision.",
            valueName: "uri"))
    var producerURI: String?

    @Option(
        help: ArgumentHelp(
            "lims: write the producer as LIMS's Image API does (imagecolplant<plant>, LIMS's fields; BatchSync gets --producer-layout lims). "
                + "plantsync: PlantSync's own store (schema syncbench_producer), as earlier runs did.",
            valueName: "lims|plantsync"))
    var producerLayout = "lims"

    @Option(help: "Kafka bootstrap servers; default: an embedded librdkafka mock cluster.")
    var bootstrapServers: String?

    @Option(help: "Seconds the workload runs (real time).")
    var duration: Double = 180

    @Option(help: "lims (LIMS's job rates, time-compressed by --speed) or steady (--rate changes/s).")
    var profile = "lims"

    @Option(help: "lims profile: workload seconds per real second.")
    var speed: Double = 60

    @Option(help: "steady profile: changes per second.")
    var rate: Double = 5

    @Option(help: "Comma-separated plants the workload writes: a topic, and a table or collection, each.")
    var plants = Plant.lims.map(\.rawValue).joined(separator: ",")

    @Option(help: "Initial records per plant (LIMS had ~2,200).")
    var recordsPerPlant = 2200

    @Option(help: "Image bytes per record (LIMS's JPEGs: 10–30 KB).")
    var imageBytes = 20_000

    @Option(help: "BatchSync interval in workload seconds (LIMS: 600); real interval = this / speed for lims.")
    var batchInterval: Double = 600

    @Option(help: "Seconds BatchSync's watermark strategy re-reads before its mark (real seconds: versions are wall-clock times).")
    var watermarkOverlap = 2

    @Option(help: "Random seed of the workload.")
    var seed: UInt64 = 42

    @Option(help: "Directory for report.md, report.json, chart.svg and the job logs.")
    var out = "out/syncbench"

    @Option(help: "Directory holding the StreamSync and BatchSync executables (default: beside this one).")
    var binDir: String?

    @Option(help: "Redraw chart.svg (into --out) from an earlier report.json, without running anything.")
    var chartFrom: String?

    @Flag(
        help: ArgumentHelp(
            "The gap experiment instead (issue #20): one plant (the first of --plants) of --records records in the producer and the "
                + "consumer; while StreamSync is down --gap-percent of them change and the mock broker's retention trims their events; "
                + "StreamSync, restarted with --producer-uri, heals the gap. Reports time to healed and bytes beside the changes and a full "
                + "re-snapshot (report.md/report.json in --out: \"Gap healing\"), then one dead-lettered event's time to healed."))
    var gap = false

    @Option(help: "--gap: records of the plant.")
    var records = 100_000

    @Option(help: "--gap: image bytes per record.")
    var recordBytes = 1_000

    @Option(help: "--gap: percent of the plant's records that change while StreamSync is down.")
    var gapPercent: Double = 1

    func validate() throws {
        guard (1...1_000_000).contains(records) else { throw ValidationError("--records \(records): must be within 1…1000000") }
        guard (0...1_000_000).contains(recordBytes) else { throw ValidationError("--record-bytes \(recordBytes): must be within 0…1000000") }
        guard gapPercent > 0, gapPercent <= 50 else { throw ValidationError("--gap-percent \(gapPercent): must be within (0, 50]") }
        if gap, bootstrapServers != nil {
            throw ValidationError("--gap with --bootstrap-servers \(bootstrapServers!): the gap is made by the embedded mock cluster's retention; leave it out")
        }
        if gap, producerLayout != "lims" {
            throw ValidationError("--gap with --producer-layout \(producerLayout): the experiment writes LIMS's PostgreSQL tables (lims)")
        }
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration \(duration): must be within (0, 86400] s") }
        guard ["lims", "steady"].contains(profile) else { throw ValidationError("--profile '\(profile)': expected lims or steady") }
        guard speed > 0 else { throw ValidationError("--speed \(speed): must be positive") }
        guard rate > 0 else { throw ValidationError("--rate \(rate): must be positive") }
        guard (1...1_000_000).contains(recordsPerPlant) else {
            throw ValidationError("--records-per-plant \(recordsPerPlant): must be within 1…1000000")
        }
        guard (0...16_000_000).contains(imageBytes) else { throw ValidationError("--image-bytes \(imageBytes): must be within 0…16000000") }
        guard batchInterval > 0 else { throw ValidationError("--batch-interval \(batchInterval): must be positive") }
        do throws(PlantNameError) {
            _ = try plantList()
        } catch {
            throw ValidationError(error.description)
        }
        if chartFrom == nil {
            do {
                _ = try ProducerSide(layout: producerLayout, uri: producerURI ?? "postgresql:///postgres")
            } catch let error as HarnessError {
                throw ValidationError(error.description)
            }
        }
    }

    /// `--plants`, parsed.
    func plantList() throws(PlantNameError) -> [Plant] { try Plant.list(plants, field: "--plants") }

    var workloadProfile: WorkloadProfile { profile == "lims" ? .lims(speed: speed) : .steady(perSecond: rate) }

    /// Real seconds between batch runs.
    var realBatchInterval: Double { profile == "lims" ? batchInterval / speed : batchInterval }

    func run() async throws {
        if let chartFrom {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let report = try decoder.decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: chartFrom)))
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try Data(Chart.svg(report).utf8).write(to: URL(fileURLWithPath: out).appendingPathComponent("chart.svg"))
            return
        }
        guard let uri = pgURI ?? ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"] else {
            throw ValidationError("missing --pg-uri (or PLANTSYNC_PG_URI)")
        }
        let harness = try Harness(command: self, pgURI: uri)
        if gap {
            let report = try await harness.runGapExperiment()
            print("\nGap healing\n\n" + report.table())
            print("\nreport: \(out)/report.md, \(out)/report.json")
            guard report.remainingDifferences == 0 else {
                throw HarnessError("NOT CONVERGED: the consumer differs from the producer in \(report.remainingDifferences) keys")
            }
            return
        }
        let report = try await harness.run()
        print("\n" + report.table())
        print("\nreport: \(out)/report.md, \(out)/report.json, \(out)/chart.svg")
        guard report.converged else {
            throw HarnessError(
                "NOT CONVERGED: "
                    + report.approaches.filter { !$0.converged }.map { "\($0.name) (\($0.remainingDifferences) keys differ)" }.joined(
                        separator: ", "))
        }
    }
}
