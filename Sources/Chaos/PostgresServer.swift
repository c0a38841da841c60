import Foundation

/// Stops and starts the PostgreSQL cluster that `scripts/chaos` started (scripts/lib/pg.sh) with its own
/// `pg_ctl`. As root the cluster belongs to an unprivileged user (initdb refuses root), so `pg_ctl` runs
/// as the owner of the data directory through `runuser`.
struct PostgresServer: Sendable {
    let dataDirectory: String
    let pgCtl: String
    /// The server log pg.sh set up, beside the data directory.
    let logFile: String
    /// The data directory's owner when we are root and it is not; nil: run pg_ctl directly.
    let runAs: String?

    init(dataDirectory: String, binDirectory: String) throws(ChaosError) {
        self.dataDirectory = dataDirectory
        pgCtl = binDirectory + "/pg_ctl"
        logFile = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().appendingPathComponent("server.log").path
        let owner: String?
        do {
            owner = try FileManager.default.attributesOfItem(atPath: dataDirectory)[.ownerAccountName] as? String
        } catch {
            throw ChaosError("cannot read the owner of \(dataDirectory): \(error)")
        }
        runAs = geteuid() == 0 && owner != nil && owner != "root" ? owner : nil
    }

    /// The newest `/usr/lib/postgresql/<version>/bin` holding `pg_ctl` (Debian's layout, as pg.sh finds it).
    static func defaultBinDirectory() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted().reversed().map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: $0 + "/pg_ctl") }
    }

    /// `pg_ctl stop -m immediate`: the postmaster and every backend quit at once, without a checkpoint —
    /// what a crash looks like to clients; the next start runs crash recovery. pg_ctl's output is
    /// appended to `output`.
    @available(*, noasync, message: "waits for pg_ctl: run it on a BlockingExecutor")
    func stopImmediately(output: URL) throws(ChaosError) {
        try pgctl(["-D", dataDirectory, "-m", "immediate", "-w", "stop"], output: output)
    }

    /// Starts the stopped server again with the options it was started with: `pg_ctl restart` re-reads
    /// them from `postmaster.opts` (pg.sh passes them on the command line only) and, with the server
    /// already down, just starts it. `-w`: returns once it accepts connections.
    @available(*, noasync, message: "waits for pg_ctl: run it on a BlockingExecutor")
    func start(output: URL) throws(ChaosError) {
        try pgctl(["-D", dataDirectory, "-l", logFile, "-w", "-t", "120", "restart"], output: output)
    }

    /// Runs pg_ctl with its output going to a file, not a pipe (the server it starts inherits the
    /// descriptor, and a pipe would then never end).
    ///
    /// Foundation's `Process` on Linux learns that a child exited when a socket it hands down to the
    /// child closes; `pg_ctl start` leaves the server running with that socket inherited, so the exit
    /// of pg_ctl would never be noticed and `waitUntilExit()` would hang
    /// (swiftlang/swift-corelibs-foundation#4795). A bash in between keeps the socket itself and runs
    /// pg_ctl with every inherited socket closed, so the socket closes when bash exits.
    @available(*, noasync)
    private func pgctl(_ arguments: [String], output: URL) throws(ChaosError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        let script = #"""
            closes=""
            for fd in /proc/$$/fd/*; do
                n=${fd##*/}
                if [ "$n" -gt 2 ] && [ -S "$fd" ]; then closes="$closes $n>&-"; fi
            done
            eval "\"\$@\" $closes"
            """#
        process.arguments = ["-c", script, "pg_ctl"] + (runAs.map { ["runuser", "-u", $0, "--"] } ?? []) + [pgCtl] + arguments
        do {
            if !FileManager.default.fileExists(atPath: output.path) {
                _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            }
            let log = try FileHandle(forWritingTo: output)
            defer { try? log.close() }
            try log.seekToEnd()
            log.write(Data("$ pg_ctl \(arguments.joined(separator: " "))\n".utf8))
            process.standardOutput = log
            process.standardError = log
            try process.run()
        } catch {
            throw ChaosError("cannot run pg_ctl: \(error)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ChaosError("pg_ctl \(arguments.last ?? "") failed (exit \(process.terminationStatus)); see \(output.path)")
        }
    }
}
