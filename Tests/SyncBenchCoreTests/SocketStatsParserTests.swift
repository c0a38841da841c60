import Foundation
import SyncBenchCore
import Testing

/// `ss -Htinp` output as iproute2 6.1 printed it on this machine (a loopback connection that sent
/// 100,000 bytes and received 3,000, its accepted end, and an idle IPv6 pair), and the same with a
/// state filter (no State column).
@Suite struct SocketStatsParserTests {
    static let captured = """
        ESTAB 0      0      127.0.0.1:41770 127.0.0.1:51007 users:(("python3",pid=8780,fd=4))
        \t bbr wscale:10,10 rto:204 rtt:0.031/0.015 ato:40 mss:47616 pmtu:65535 rcvmss:3000 advmss:65483 cwnd:13 bytes_sent:100000 bytes_acked:100001 bytes_received:3000 segs_out:6 segs_in:4 data_segs_out:3 data_segs_in:1 bbr:(bw:36278854976bps,mrtt:0.014,pacing_gain:2.88672,cwnd_gain:2.88672) send 159744000000bps lastsnd:212 lastrcv:212 lastack:212 pacing_rate 213871799840bps delivery_rate 36278857136bps delivered:4 reordering:22 rcv_space:65495 rcv_ssthresh:99406 minrtt:0.014 snd_wnd:95232                          
        ESTAB 0      0      127.0.0.1:51007 127.0.0.1:41770 users:(("python3",pid=8780,fd=5))
        \t bbr wscale:10,10 rto:204 rtt:0.022/0.012 ato:40 mss:50176 pmtu:65535 rcvmss:34518 advmss:65483 cwnd:11 bytes_sent:3000 bytes_acked:3000 bytes_received:100000 segs_out:3 segs_in:6 data_segs_out:1 data_segs_in:3 bbr:(bw:80281595208bps,mrtt:0.005,pacing_gain:2.88672,cwnd_gain:2.88672) send 200704000000bps lastsnd:212 lastrcv:212 lastack:212 pacing_rate 299667438136bps delivery_rate 80281600000bps delivered:2 app_limited reordering:22 rcv_rtt:0.021 rcv_space:65483 rcv_ssthresh:94833 minrtt:0.005 snd_wnd:100352
        ESTAB 0      0          [::1]:47680     [::1]:52161 users:(("python3",pid=8780,fd=7))
        \t bbr wscale:10,10 rto:204 rtt:0.065/0.032 mss:32732 pmtu:65536 rcvmss:536 advmss:65464 cwnd:10 bytes_acked:1 segs_out:2 segs_in:1 bbr:(bw:0bps,mrtt:0.065,pacing_gain:1,cwnd_gain:1) send 40285538462bps lastsnd:212 lastrcv:212 lastack:212 pacing_rate 115130082176bps delivered:1 app_limited rcv_space:65476 rcv_ssthresh:65476 minrtt:0.065 snd_wnd:65464
        ESTAB 0      0          [::1]:52161     [::1]:47680 users:(("python3",pid=8780,fd=8))
        \t bbr wscale:10,10 rto:204 rtt:0.077/0.038 mss:32768 pmtu:65536 rcvmss:536 advmss:65464 cwnd:10 segs_in:2 bbr:(bw:0bps,mrtt:0.077) send 34044675325bps lastsnd:212 lastrcv:212 lastack:212 pacing_rate 97294618712bps delivered:1 app_limited rcv_space:65464 rcv_ssthresh:65464 minrtt:0.077 snd_wnd:65536

        """

    @Test func parsesEverySocketOfCapturedOutput() {
        let stats = SocketStatsParser.parse(Self.captured)
        #expect(stats.count == 4)
        let client = stats[0]
        #expect(client.state == "ESTAB")
        #expect(client.local == "127.0.0.1:41770")
        #expect(client.peer == "127.0.0.1:51007")
        #expect(client.peerPort == 51007)
        #expect(client.peerHost == "127.0.0.1")
        #expect(client.pids == [8780])
        #expect(client.bytesAcked == 100_001)
        #expect(client.bytesReceived == 3000)
        #expect(client.payloadSentByConnector == 100_000)  // the SYN's sequence number left out
        #expect(stats[1].bytesAcked == 3000)
        #expect(stats[1].bytesReceived == 100_000)
        // IPv6, and counters ss leaves out because they are zero.
        #expect(stats[2].peer == "[::1]:52161")
        #expect(stats[2].peerHost == "::1")
        #expect(stats[2].peerPort == 52161)
        #expect(stats[2].bytesReceived == 0)
        #expect(stats[3].bytesAcked == 0)
        #expect(stats[3].payloadSentByConnector == 0)
    }

    @Test func parsesOutputWithoutStateColumnAndOnOneLine() {
        let filtered = Self.captured.split(separator: "\n").map { $0.hasPrefix("ESTAB ") ? String($0.dropFirst(6)) : String($0) }
            .joined(separator: "\n")
        #expect(
            SocketStatsParser.parse(filtered)
                == SocketStatsParser.parse(Self.captured).map { stat in
                    var copy = stat
                    copy.state = ""
                    return copy
                })
        let oneLine = "ESTAB 0 0 10.0.0.5:50000 10.0.0.9:9092 users:((\"StreamSync\",pid=42,fd=9)) cubic bytes_acked:11 bytes_received:22"
        let stats = SocketStatsParser.parse(oneLine)
        #expect(stats.count == 1)
        #expect(stats.first?.bytesAcked == 11)
        #expect(stats.first?.bytesReceived == 22)
        #expect(stats.first?.pids == [42])
    }

    @Test func skipsWhatIsNotASocketAndReadsSharedSockets() {
        let text = """
            State Recv-Q Send-Q Local Address:Port Peer Address:Port Process
            garbage
            \t orphan continuation bytes_acked:5
            ESTAB 0 0 [::ffff:127.0.0.1]:40000 [::ffff:127.0.0.1]:9092 users:(("a b",pid=7,fd=3),("c",pid=8,fd=4))
            \t bytes_acked:101 bytes_received:notanumber
            ESTAB 0 0 127.0.0.1:1
            """
        let stats = SocketStatsParser.parse(text)
        #expect(stats.count == 1)
        #expect(stats[0].pids == [7, 8])
        #expect(stats[0].peerHost == "127.0.0.1")
        #expect(stats[0].bytesAcked == 101)
        #expect(stats[0].bytesReceived == 0)
    }

    @Test func ledgerKeepsTheLastValuePerSocketAndMatchesPidAndBrokerPort() {
        func sample(_ acked: Int, _ received: Int, local: String = "127.0.0.1:40000", pid: Int32 = 42, peerPort: Int = 9092) -> SocketStat {
            SocketStat(state: "ESTAB", local: local, peer: "127.0.0.1:\(peerPort)", pids: [pid], bytesAcked: acked, bytesReceived: received)
        }
        var ledger = KernelSocketLedger(pid: 42, peerPorts: [9092], peerHosts: ["127.0.0.1"])
        ledger.record([sample(11, 100), sample(1, 5, local: "127.0.0.1:40001"), sample(500, 500, pid: 7), sample(500, 500, peerPort: 5432)])
        ledger.record([sample(21, 300)])  // the second socket closed between the samples: its last value stays
        #expect(ledger.totals == .init(sent: 20 + 0, received: 300 + 5, sockets: 2))
        // The port pair reused by a new socket (smaller counters): both count.
        ledger.record([sample(3, 7)])
        #expect(ledger.totals == .init(sent: 20 + 0 + 2, received: 300 + 5 + 7, sockets: 3))
    }

    @Test func brokerEndpointsFromABootstrapList() {
        let mock = brokerEndpoints("127.0.0.1:39017")
        #expect(mock.ports == [39017])
        #expect(mock.numericHosts == ["127.0.0.1"])
        #expect(!mock.hasNames)
        let real = brokerEndpoints("kafka-0:9092, PLAINTEXT://10.1.2.3:9093,[::1]:9094")
        #expect(real.ports == [9092, 9093, 9094])
        #expect(real.numericHosts == ["10.1.2.3", "::1"])
        #expect(real.hasNames)
    }

    @Test func crossCheckDifferences() throws {
        let check = BenchReport.KafkaCrossCheck(
            librdkafkaSent: 1000, librdkafkaReceived: 9000, kernelSent: 1010, kernelReceived: 9040, kernelSockets: 2, kernelMatch: "pid 1")
        #expect(abs((check.relativeDifference ?? -1) - 0.005) < 1e-12)
        #expect(abs((check.sentRelativeDifference ?? -1) - 0.01) < 1e-12)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let json = String(decoding: try encoder.encode(check), as: UTF8.self)
        #expect(json.contains("\"relative_difference\":0.005"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try decoder.decode(BenchReport.KafkaCrossCheck.self, from: Data(json.utf8)) == check)
        #expect(check.table().contains("0.50 %"))
    }
}
