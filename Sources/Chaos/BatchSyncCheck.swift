import CountingProxy
import Foundation
import PostgresStore
import SyncBenchCore

/// BatchSync against a consumer whose connections go silent (`--batch-silent`), after the stream: the
/// consumer database of StreamSync (schema `chaos`, exact by then) is the producer, an empty schema is the
/// consumer, reached through a proxy of its own.
///
/// Run 1: once BatchSync has written `triggerBytes` to the consumer, its open consumer connections go
/// silent for good (blackhole-existing). It must fail — exit non-zero, by itself, with its error on its
/// last line — within `--db-timeout` (+5 s) of that instant. Run 2, through the same proxy (new
/// connections pass), must succeed, and the consumer must then hold exactly the last state of every key.
struct BatchSyncCheck {
    static let consumerSchema = "chaos_batch"
    /// Consumer-bound bytes after which the fault comes (BatchSync is then writing the missing rows).
    static let triggerBytes = 128 << 10

    struct Run: Sendable {
        let how: String
        /// Seconds from the start (run 2) or from the fault (run 1) to the exit.
        let took: Double
        let lastLine: String
        let log: URL
    }

    struct Outcome: Sendable {
        /// Seconds into run 1 when its connections went silent; nil: it ended before the trigger.
        var faultAt: Double?
        var silenced = 0
        var bytesBeforeFault = 0
        var first: Run?
        var second: Run?
        var verification: Verification?
        var error: String?
    }

    let executable: URL
    let dbTimeout: Int
    let producerURI: String
    let listener: PostgresListener
    let logs: URL

    /// BatchSync's arguments for one run (`--db-timeout`: the deadline of every consumer call).
    func arguments(consumerURI: String) -> [String] {
        [
            "--producer-uri", producerURI, "--producer-layout", "plantsync", "--producer-schema", ChaosRun.schema,
            "--consumer-uri", consumerURI, "--consumer-schema", Self.consumerSchema, "--db-timeout", String(dbTimeout),
        ]
    }

    func run(stream: LimsStream, progress: (String) -> Void) async throws -> Outcome {
        var outcome = Outcome()
        let proxy = try await CountingProxy.start(name: "batchsync consumer", upstream: listener.upstream)
        do {
            let arguments = arguments(consumerURI: listener.uri(throughPort: proxy.port))
            // Longest a run may take here: a few thousand keys take seconds. Run 1 is SIGKILLed once it
            // outlives its bound after the fault by 5 s.
            let limit: Duration = .seconds(120)

            progress("==> BatchSync run 1: its consumer connections go silent after \(Self.triggerBytes >> 10) kB written\n")
            let first = JobProcess(name: "batchsync-1", executable: executable, arguments: arguments, logDirectory: logs)
            try first.start()
            let started = ContinuousClock.now
            var deadline = started + limit
            var faultInstant: ContinuousClock.Instant?
            while first.isRunning, ContinuousClock.now < deadline {
                if faultInstant == nil, proxy.counts.sent >= Self.triggerBytes {
                    outcome.bytesBeforeFault = proxy.counts.sent
                    outcome.silenced = await proxy.silenceExisting()
                    faultInstant = .now
                    outcome.faultAt = (ContinuousClock.now - started).seconds
                    deadline = ContinuousClock.now + .seconds(dbTimeout) + ChaosReport.exitGrace + .seconds(5)
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            _ = await first.waitForExit(timeout: .zero)
            outcome.first = Run(
                how: first.exitDescription ?? "unknown", took: (ContinuousClock.now - (faultInstant ?? started)).seconds,
                lastLine: StreamSyncSupervisor.lastLine(of: first.logFile), log: first.logFile)

            progress("==> BatchSync run 2: no fault\n")
            let second = JobProcess(name: "batchsync-2", executable: executable, arguments: arguments, logDirectory: logs)
            try second.start()
            let secondStart = ContinuousClock.now
            _ = await second.waitForExit(timeout: limit)
            outcome.second = Run(
                how: second.exitDescription ?? "unknown", took: (ContinuousClock.now - secondStart).seconds,
                lastLine: StreamSyncSupervisor.lastLine(of: second.logFile), log: second.logFile)
        } catch {
            outcome.error = "\(error)"
        }
        try? await proxy.stop()
        if outcome.second?.how == "exit 0" {
            do {
                let store = try PostgresStore(
                    .init(conninfo: producerURI, schema: Self.consumerSchema, applicationName: "chaos-verify-batch"))
                outcome.verification = try await Verification.run(store: store, stream: stream)
            } catch {
                outcome.error = "cannot read \(Self.consumerSchema) after run 2: \(error)"
            }
        }
        return outcome
    }
}
