import Foundation
import SyncBenchCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs StreamSync as a child process the way Kubernetes runs the Deployment's pod: started again after
/// every SIGKILL, and after any exit of its own (one second later, like a first restart of a crash loop).
/// One instance at a time; each has its own log file.
actor StreamSyncSupervisor {
    struct Instance {
        let number: Int
        let job: JobProcess
        let startedAt: ContinuousClock.Instant
        var readyAt: ContinuousClock.Instant?
        var killed = false
    }

    /// An exit nobody asked for.
    struct UnplannedExit: Sendable {
        let instance: Int
        let at: ContinuousClock.Instant
        let how: String
        /// The last line the instance logged (StreamSync prints its error there).
        let lastLine: String
    }

    let executable: URL
    let arguments: [String]
    let logDirectory: URL
    let readyURL: URL
    private(set) var instances: [Instance] = []
    private(set) var kills = 0
    private(set) var restartsAfterKill = 0
    /// Kills of an instance that had answered /readyz (partitions assigned, store up): it was processing.
    private(set) var killsWhileReady = 0
    private(set) var unplannedExits: [UnplannedExit] = []
    private var restartDue: ContinuousClock.Instant?
    private var stopping = false

    static let crashRestartDelay: Duration = .seconds(1)

    init(executable: URL, arguments: [String], logDirectory: URL, httpPort: Int) {
        self.executable = executable
        self.arguments = arguments
        self.logDirectory = logDirectory
        readyURL = URL(string: "http://127.0.0.1:\(httpPort)/readyz")!
    }

    var current: Instance? { instances.last }

    /// Starts the next instance.
    func start() throws {
        let number = instances.count + 1
        let job = JobProcess(
            name: String(format: "streamsync-%02d", number), executable: executable, arguments: arguments,
            logDirectory: logDirectory)
        do {
            try job.start()
        } catch {
            throw ChaosError("cannot start \(executable.path): \(error)")
        }
        instances.append(Instance(number: number, job: job, startedAt: .now))
        restartDue = nil
    }

    /// SIGKILLs the running instance and starts the next one at once. Returns false (and does nothing)
    /// while no instance runs, e.g. between two starts of a crash loop: the caller tries again shortly.
    func killAndRestart() throws -> Bool {
        guard !stopping, let index = instances.indices.last, instances[index].job.isRunning else { return false }
        instances[index].killed = true
        instances[index].job.killImmediately()
        kills += 1
        if instances[index].readyAt != nil { killsWhileReady += 1 }
        try start()
        restartsAfterKill += 1
        return true
    }

    /// SIGTERMs the running instance (a rolling restart), waits up to `timeout` for it to drain and exit,
    /// SIGKILLs it past that, and starts the next one. Returns how it ended and how long that took; nil
    /// while no instance runs.
    func terminateAndRestart(timeout: Duration) async throws -> (how: String, took: Duration)? {
        guard !stopping, let index = instances.indices.last, instances[index].job.isRunning else { return nil }
        instances[index].killed = true
        let job = instances[index].job
        let began = ContinuousClock.now
        _ = await job.stop(timeout: timeout)
        let took = ContinuousClock.now - began
        if !stopping { try start() }
        return (job.exitDescription ?? "unknown", took)
    }

    /// Takes the running instance down for a gap fault and starts none: SIGKILL (`kill`), or SIGTERM with
    /// SIGKILL after `timeout`. The caller starts the next instance (`start()`) once the fault is done.
    /// Returns how it ended and how long that took; nil while no instance runs.
    func takeDown(kill: Bool, timeout: Duration) async -> (how: String, took: Duration)? {
        guard !stopping, let index = instances.indices.last, instances[index].job.isRunning else { return nil }
        instances[index].killed = true
        let job = instances[index].job
        let began = ContinuousClock.now
        if kill {
            _ = job.killImmediately()
        } else {
            _ = await job.stop(timeout: timeout)
        }
        return (job.exitDescription ?? "unknown", ContinuousClock.now - began)
    }

    /// Where the logs are now: the current instance and the length of its log.
    func logMark() -> LogMark {
        guard let last = instances.last else { return LogMark(instance: 0, offset: 0) }
        let size = (try? FileManager.default.attributesOfItem(atPath: last.job.logFile.path)[.size] as? Int) ?? 0
        return LogMark(instance: last.number, offset: size)
    }

    /// The lines every instance logged between two marks.
    func lines(from start: LogMark, to end: LogMark) -> [String] {
        var lines: [String] = []
        for instance in instances where instance.number >= start.instance && instance.number <= end.instance {
            guard let data = try? Data(contentsOf: instance.job.logFile) else { continue }
            let from = instance.number == start.instance ? min(start.offset, data.count) : 0
            let to = instance.number == end.instance ? min(end.offset, data.count) : data.count
            guard from < to else { continue }
            lines += String(decoding: data[from..<to], as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return lines
    }

    /// Start instants of the instances after the first.
    var restartTimes: [ContinuousClock.Instant] { instances.dropFirst().map(\.startedAt) }

    /// Notices an instance that ended by itself, records it and restarts it after `crashRestartDelay`.
    func watch() throws {
        guard !stopping, let last = instances.last else { return }
        if let due = restartDue {
            if ContinuousClock.now >= due { try start() }
            return
        }
        guard !last.killed, let how = last.job.exitDescription else { return }
        unplannedExits.append(UnplannedExit(instance: last.number, at: .now, how: how, lastLine: Self.lastLine(of: last.job.logFile)))
        restartDue = .now + Self.crashRestartDelay
    }

    /// Polls `/readyz` of the current instance until it answers 200 once (partitions assigned, store up).
    func pollReadiness() async {
        guard let last = instances.last, last.readyAt == nil, last.job.isRunning else { return }
        var request = URLRequest(url: readyURL)
        request.timeoutInterval = 2
        guard let (_, response) = try? await URLSession.shared.data(for: request),
            (response as? HTTPURLResponse)?.statusCode == 200
        else { return }
        // The instance may have been replaced while the request was out.
        if let index = instances.indices.last, instances[index].number == last.number, instances[index].readyAt == nil {
            instances[index].readyAt = .now
        }
    }

    var currentIsReady: Bool { instances.last?.readyAt != nil }

    /// SIGTERM (graceful drain: flush, commit, leave the group), SIGKILL after `timeout`. Returns how the
    /// instance ended and how long the shutdown took.
    @discardableResult
    func stop(timeout: Duration) async -> (how: String, took: Duration) {
        stopping = true
        guard let last = instances.last else { return ("never started", .zero) }
        let began = ContinuousClock.now
        _ = await last.job.stop(timeout: timeout)
        return (last.job.exitDescription ?? "unknown", ContinuousClock.now - began)
    }

    /// Seconds from start to first ready answer, of every instance that became ready.
    var readyTimes: [Double] {
        instances.compactMap { instance in instance.readyAt.map { ($0 - instance.startedAt).seconds } }
    }

    /// The `error: …` line StreamSync (or BatchSync) prints before exiting non-zero, else its last line.
    static func lastLine(of file: URL) -> String {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return "" }
        let lines = text.split(separator: "\n")
        let line = (lines.last { $0.hasPrefix("error:") } ?? lines.last).map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return line.count > 200 ? String(line.prefix(110)) + " … " + String(line.suffix(80)) : line
    }
}

/// A place in the StreamSync logs: an instance and a byte offset in its log.
struct LogMark: Sendable {
    let instance: Int
    let offset: Int
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
