import Foundation

/// A sync job run as a child process, so its CPU time and peak memory are its own.
public final class JobProcess: @unchecked Sendable {
    // @unchecked Sendable is safe: `process` is configured before `start` and afterwards only read
    // through Foundation's thread-safe accessors; `lastSample` is guarded by `lock`.
    public let name: String
    let process = Process()
    private let lock = NSLock()
    private var lastSample = ProcessSample()
    private let logURL: URL

    public init(name: String, executable: URL, arguments: [String], environment: [String: String] = [:], logDirectory: URL) {
        self.name = name
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        logURL = logDirectory.appendingPathComponent("\(name).log")
    }

    /// The job's combined stdout/stderr is kept in `<logDirectory>/<name>.log`.
    public var logFile: URL { logURL }

    public func start() throws {
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    /// Reads CPU seconds and peak RSS from /proc while the process lives (the last sample is kept).
    @discardableResult
    public func sample() -> ProcessSample {
        guard process.isRunning, let sample = ProcessSample.read(pid: pid) else { return lock.withLock { lastSample } }
        lock.withLock { lastSample = sample }
        return sample
    }

    /// SIGTERM, then waits (a graceful drain), SIGKILL after `timeout`.
    public func stop(timeout: Duration = .seconds(30)) async -> Int32 {
        sample()
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits for a process that ends by itself (a one-off run), SIGKILL after `timeout`; its status.
    public func waitForExit(timeout: Duration) async -> Int32 {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < deadline {
            sample()
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL, without any chance to drain (what a crash or an OOM kill does), then reaps the process.
    /// Returns its termination status (the signal number: 9).
    @discardableResult
    public func killImmediately() -> Int32 {
        sample()
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// How the process ended, once it has: `exit 1`, `signal 9`; nil while it runs (or before `start`).
    public var exitDescription: String? {
        guard process.processIdentifier != 0, !process.isRunning else { return nil }
        let kind = process.terminationReason == .uncaughtSignal ? "signal" : "exit"
        return "\(kind) \(process.terminationStatus)"
    }

    public var final: ProcessSample { lock.withLock { lastSample } }
}

/// CPU seconds (user + system) and peak resident memory of a process.
public struct ProcessSample: Sendable, Codable, Equatable {
    public var cpuSeconds = 0.0
    public var peakRSSBytes = 0

    public init() {}

    static func read(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        var sample = ProcessSample()
        sample.cpuSeconds = (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            sample.peakRSSBytes = (Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0) * 1024
        }
        return sample
    }
}
