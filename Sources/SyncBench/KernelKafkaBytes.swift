import BlockingExecutor
import Foundation
import SyncBenchCore
import SyncModel

/// The kernel's view of StreamSync's Kafka bytes (docs/design.md §5's cross-check of librdkafka's
/// statistics): `ss -Htinpn` — no root needed for the user's own processes — run once a second and once
/// more right before StreamSync is stopped (a socket's counters vanish when it closes), keeping the
/// last `bytes_acked`/`bytes_received` of every socket StreamSync holds to a broker port.
actor KernelKafkaBytes {
    private var ledger: KernelSocketLedger
    private let queue = BlockingExecutor(label: "syncbench.ss")
    let match: String
    private(set) var failure: String?
    private(set) var samples = 0

    init(pid: Int32, bootstrap: String) {
        let brokers = brokerEndpoints(bootstrap)
        // Host names would need resolving to compare with ss's numeric addresses: then ports only.
        let hosts = brokers.hasNames ? [] : brokers.numericHosts
        ledger = KernelSocketLedger(pid: pid, peerPorts: brokers.ports, peerHosts: hosts)
        match =
            "pid \(pid), peer port \(brokers.ports.sorted().map(String.init).joined(separator: "/"))"
            + (hosts.isEmpty ? "" : " at \(hosts.sorted().joined(separator: ", "))")
    }

    /// One sample; a missing or failing `ss` is remembered (and the cross-check left out), never thrown.
    func sample() async {
        guard failure == nil else { return }
        do {
            let output = try await queue.run { try Self.runSS() }
            ledger.record(SocketStatsParser.parse(output))
            samples += 1
        } catch {
            failure = "\(error)"
        }
    }

    var totals: KernelSocketLedger.Totals { ledger.totals }

    /// `ss -H -t -i -n -p`: no header, TCP, tcp_info, numeric addresses and ports, processes.
    private static func runSS() throws -> String {
        let process = Process()
        let candidates = ["/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss"]
        guard let path = candidates.first(where: FileManager.default.isExecutableFile) else {
            throw HarnessError("ss (iproute2) not found")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-H", "-t", "-i", "-n", "-p"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("ss exited with status \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
}
