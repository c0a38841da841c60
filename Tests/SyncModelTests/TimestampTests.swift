import SyncBenchCore
import Testing

@testable import SyncModel

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2023-10-08T15:39:49.123123", Int64(1_696_779_589_123_123)),
        ("1970-01-01T00:00:00.000000", 0),
        ("1969-12-31T23:59:59.999999", -1),
        ("2000-02-29T12:00:00.5", 951_825_600_500_000),
        ("2023-10-08 15:39:49", 1_696_779_589_000_000),
        ("2023-10-08T15:39:49.123123Z", 1_696_779_589_123_123),
        ("2023-10-08T17:39:49.123123+02:00", 1_696_779_589_123_123),
        ("2023-10-08T15:39:49.123123789", 1_696_779_589_123_123),
    ])
    func parses(text: String, micros: Int64) {
        #expect(Timestamp(parsing: text)?.microsecondsSinceEpoch == micros)
    }

    @Test(arguments: [
        "", "2023-10-08", "2023-13-08T00:00:00", "2023-02-29T00:00:00", "2023-10-08T24:00:00",
        "2023-10-08T15:39:49.", "2023-10-08T15:39:49.1234567890", "2023-10-08T15:39:49+2", "yesterday",
        "2023-10-08T15:39:49.123 ",
    ])
    func rejects(text: String) {
        #expect(Timestamp(parsing: text) == nil)
    }

    @Test func formatsAsLIMSDoes() {
        #expect(Timestamp(microsecondsSinceEpoch: 1_696_779_589_123_123).limsString == "2023-10-08T15:39:49.123123")
        #expect(Timestamp(microsecondsSinceEpoch: -1).limsString == "1969-12-31T23:59:59.999999")
        #expect(Timestamp(microsecondsSinceEpoch: 0).sqlString == "1970-01-01 00:00:00.000000")
    }

    @Test func roundTripsOverFourCenturies() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<5000 {
            let micros = Int64.random(in: -5_000_000_000_000_000...8_000_000_000_000_000, using: &rng)
            let ts = Timestamp(microsecondsSinceEpoch: micros)
            #expect(Timestamp(parsing: ts.limsString) == ts, "\(micros)")
        }
    }
}

@Suite struct BinaryTextTests {
    @Test func hexRoundTrip() {
        var rng = SplitMix64(seed: 1)
        for length in [0, 1, 2, 255, 4096] {
            let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(BinaryText.bytes(fromHex: BinaryText.hex(data)) == data)
            #expect(BinaryText.bytes(fromBase64: BinaryText.base64(data)) == data)
        }
        #expect(BinaryText.bytes(fromHex: "FFd8") == [0xff, 0xd8])
        #expect(BinaryText.bytes(fromHex: "\\xffd8") == [0xff, 0xd8])
    }

    @Test(arguments: ["f", "zz", "0g", "ff d8", "é1", "\\xg0", "\\x0", "0\u{0}"])
    func hexRejects(text: String) { #expect(BinaryText.bytes(fromHex: text) == nil) }

    @Test func base64KnownValues() {
        #expect(BinaryText.base64(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(BinaryText.base64(Array("fo".utf8)) == "Zm8=")
        #expect(BinaryText.bytes(fromBase64: "Zm8=") == Array("fo".utf8))
        #expect(BinaryText.bytes(fromBase64: "Zm8") == Array("fo".utf8))
        #expect(BinaryText.bytes(fromBase64: "Zm=8") == nil)
        #expect(BinaryText.bytes(fromBase64: "Zm*8") == nil)
    }
}
