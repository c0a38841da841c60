import Foundation
import Testing

/// StreamSync's command line for the read API's access flags: bad values are a clear error naming
/// the flag and its value, with a non-zero exit and no crash, before anything is connected.
@Suite struct StreamSyncCLITests {
    let streamSync = Executable(name: "StreamSync")
    /// Enough for validation to pass the store check; validation fails before any connection.
    let environment = ["PLANTSYNC_STORE_URI": "postgresql:///x?host=/nonexistent-plantsync&connect_timeout=1", "ENV": ""]

    @Test func helpListsTheAccessFlags() async throws {
        let help = try await streamSync.run(["--help"])
        #expect(help.status == 0)
        for flag in ["--read-token-file", "--read-rate-limit", "--read-rate-burst", "--trust-forwarded-for", "--forwarded-for-entries"] {
            #expect(help.stdout.contains(flag), "\(flag)")
        }
    }

    func tokenFile(_ contents: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("plantsync-cli-token-\(UUID().uuidString)")
        try Data(contents.utf8).write(to: url)
        return url.path
    }

    @Test(arguments: ["", "\n"])
    func emptyTokenFileStopsStreamSync(contents: String) async throws {
        let path = try tokenFile(contents)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await streamSync.run(["--read-token-file", path], environment: environment)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("--read-token-file \"\(path)\": the file is empty"), "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test(arguments: [
        (["--read-token-file", "/nonexistent/plantsync/token"], "/nonexistent/plantsync/token"),
        (["--read-rate-limit=-1"], "--read-rate-limit \"-1.0\""),
        (["--read-rate-limit", "nan"], "--read-rate-limit"),
        (["--read-rate-limit", "fast"], "fast"),
        (["--read-rate-burst", "0"], "--read-rate-burst \"0\""),
        (["--forwarded-for-entries", "0"], "--forwarded-for-entries \"0\""),
        (["--timestamp-precision", "nanoseconds"], "nanoseconds"),
        (["--topic-plant", "cdc.leaves=Cucumber"], "invalid --topic-plant \"cdc.leaves=Cucumber\": 'Cucumber': a plant name starts with"),
        (["--topic-pattern", "cucumber"], "invalid --topic-pattern \"cucumber\": must start with '^'"),
        (["--topic-pattern", "^(cu"], "invalid --topic-pattern \"^(cu\": not a POSIX extended regular expression"),
        (["--topic-pattern", "^[a-z]"], "matches the dead-letter topic 'plantsync.deadletter'"),
        (["--format", "lims", "--topics", "potato,Cucumber"], "invalid --topics \"Cucumber\""),
    ])
    func badAccessFlagsAreAClearError(arguments: [String], mentions: String) async throws {
        let result = try await streamSync.run(arguments, environment: environment)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }

    @Test func goodTokenFileGetsAsFarAsTheStore() async throws {
        let path = try tokenFile("a-token-of-thirty-two-characters\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await streamSync.run(
            [
                "--read-token-file", path, "--trust-forwarded-for", "--read-rate-limit", "5", "--read-rate-burst", "10",
                "--store-wait-seconds", "0",
            ],
            environment: environment)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("cannot connect"), "\(result.stderr)")
    }
}
