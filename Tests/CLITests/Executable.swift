import Foundation
import TestSupport

/// Runs one of the package's executables (built next to the test bundle) and captures its output.
struct Executable: Sendable {
    let name: String

    struct Result: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// On Linux the test bundle is an executable in the products directory, beside the executables.
    static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Runs it to its end on a thread of its own (waiting for a process would hold one of Swift's
    /// cooperative threads, of which the test process has as many as cores, for the whole run).
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Result {
        try await offPool("plantsync.tests.executable") { try self.runBlocking(arguments, environment: environment) }
    }

    @available(*, noasync)
    private func runBlocking(_ arguments: [String], environment: [String: String]) throws -> Result {
        let process = Process()
        process.executableURL = Self.productsDirectory.appendingPathComponent(name)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}
