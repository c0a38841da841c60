import Foundation
import LibPQ
import Testing

/// The server `scripts/test` starts; these tests fail (not skip) without it.
func testConninfo() throws -> String {
    guard let uri = ProcessInfo.processInfo.environment["PLANTSYNC_PG_URI"], !uri.isEmpty else {
        throw PGError(sqlState: nil, message: "PLANTSYNC_PG_URI is not set: run the tests through scripts/test", isTransient: false)
    }
    return uri
}

@Suite struct PGConnectionTests {
    @Test func bindsParametersAndDecodesBinaryResults() throws {
        let connection = try PGConnection(conninfo: try testConninfo())
        let hostile = "Robert'); DROP TABLE students;-- \"quoted\" \\ ü"
        let result = try connection.execute(
            "SELECT $1::bigint, $2::int, $3::float8, $4::bool, $5::bytea, $6::text, $7::timestamp, NULL::bigint, $8::bigint[]",
            [
                .int(-9_000_000_000 as Int64), .int(42), .double(-0.125), .bool(true), .bytes([0, 1, 255]), .text(hostile),
                .text("2023-10-08 15:39:49.123123"), .int64Array([1, 2, 3]),
            ])
        #expect(result.rowCount == 1)
        #expect(try result.int64(0, 0) == -9_000_000_000)
        #expect(try result.int64(0, 1) == 42)
        #expect(try result.double(0, 2) == -0.125)
        #expect(try result.bool(0, 3) == true)
        #expect(result.bytes(0, 4) == [0, 1, 255])
        #expect(try result.string(0, 5) == hostile)
        #expect(try result.timestampMicros(0, 6) == 1_696_779_589_123_123)
        #expect(result.isNull(0, 7))
        #expect(try result.int64(0, 7) == nil)
    }

    /// Every parameter travels in binary format with its type's OID (`PGParameter.appendBinary`, the
    /// encoder `COPY` rows use too) and comes back as sent: NULL, extremes and negatives, doubles,
    /// empty and large `bytea` (pointed to in place, and beyond `maxBytesInPlace` encoded), texts,
    /// timestamps before and after 2000, arrays empty and not.
    @Test func binaryParametersRoundTripEveryType() throws {
        let connection = try PGConnection(conninfo: try testConninfo())
        let large = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let parameters: [PGParameter] = [
            .null, .int64(.min), .int64(.max), .int(-1), .float8(-0.0), .float8(1e300), .float8(-2.5e-308), .bool(false),
            .bytes([]), .bytes(large), .text(""), .text("ü \\ \"'"), .timestamp(microsecondsSinceEpoch: -1_234_567),
            .timestamp(microsecondsSinceEpoch: 1_696_779_589_123_123), .int64Array([]), .int64Array([-5, 0, .max]),
            .float8Array([0.1, -7]),
        ]
        let select = "SELECT " + parameters.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
        let result = try connection.execute(select.replacingOccurrences(of: "$1,", with: "$1::bigint,"), parameters)
        #expect(result.isNull(0, 0))
        #expect(try result.int64(0, 1) == .min)
        #expect(try result.int64(0, 2) == .max)
        #expect(try result.int64(0, 3) == -1)
        #expect(try result.double(0, 4)?.sign == .minus)
        #expect(try result.double(0, 5) == 1e300)
        #expect(try result.double(0, 6) == -2.5e-308)
        #expect(try result.bool(0, 7) == false)
        #expect(result.bytes(0, 8) == [])
        #expect(result.bytes(0, 9) == large)
        #expect(try result.string(0, 10) == "")
        #expect(try result.string(0, 11) == "ü \\ \"'")
        #expect(try result.timestampMicros(0, 12) == -1_234_567)
        #expect(try result.timestampMicros(0, 13) == 1_696_779_589_123_123)
        let arrays = try connection.execute(
            "SELECT cardinality($1), $2::bigint[] = ARRAY[-5, 0, 9223372036854775807]::bigint[], $3 = ARRAY[0.1, -7]::float8[]",
            [.int64Array([]), .int64Array([-5, 0, .max]), .float8Array([0.1, -7])])
        #expect(try arrays.int64(0, 0) == 0)
        #expect(try arrays.bool(0, 1) == true)
        #expect(try arrays.bool(0, 2) == true)
        // More bytea parameters than are pointed to in place: the rest are encoded; all arrive intact.
        let many = (0..<300).map { PGParameter.bytes([UInt8(truncatingIfNeeded: $0), 7]) }
        let sums = try connection.execute(
            "SELECT " + many.indices.map { "get_byte($\($0 + 1), 0)" }.joined(separator: " + "), many)
        #expect(try sums.int64(0, 0) == Int64((0..<300).map { $0 % 256 }.reduce(0, +)))
    }

    /// Rows one at a time (single-row mode): the same rows as `execute`, in order; an error from the
    /// server mid-result, or from the caller's body, is thrown after the result is drained, and the
    /// connection runs the next statement.
    @Test func rowsStreamOneAtATimeAndErrorsLeaveTheConnectionUsable() throws {
        let connection = try PGConnection(conninfo: try testConninfo())
        var streamed: [Int64] = []
        try connection.forEachRow("SELECT i::bigint FROM generate_series(1, $1::int) AS i", [.int(2500)]) { row throws(PGError) in
            #expect(row.rowCount == 1)
            streamed.append(try row.int64(0, 0) ?? 0)
        }
        #expect(streamed == Array(1...2500))

        var before = 0
        let serverError = #expect(throws: PGError.self) {
            try connection.forEachRow("SELECT 10 / (1000 - i) FROM generate_series(1, 2000) AS i") { _ throws(PGError) in before += 1 }
        }
        #expect(serverError?.sqlState == "22012")
        #expect(before < 1000)
        #expect(try connection.execute("SELECT 7::bigint").int64(0, 0) == 7)

        var seen = 0
        let bodyError = #expect(throws: PGError.self) {
            try connection.forEachRow("SELECT i FROM generate_series(1, 500) AS i") { _ throws(PGError) in
                seen += 1
                if seen == 3 { throw PGError(sqlState: nil, message: "stop at 3", isTransient: false) }
            }
        }
        #expect(bodyError?.message == "stop at 3")
        #expect(seen == 3)
        #expect(try connection.execute("SELECT 8::bigint").int64(0, 0) == 8)
    }

    @Test func typeMismatchIsAnErrorNamingTheColumn() throws {
        let connection = try PGConnection(conninfo: try testConninfo())
        let result = try connection.execute("SELECT true AS flag")
        let error = #expect(throws: PGError.self) { try result.double(0, 0) }
        #expect(error?.message.contains("flag") == true)
    }

    @Test func serverErrorsCarrySQLStateAndAreClassified() throws {
        let connection = try PGConnection(conninfo: try testConninfo())
        let syntax = #expect(throws: PGError.self) { try connection.execute("SELEC 1") }
        #expect(syntax?.sqlState == "42601")
        #expect(syntax?.isTransient == false)
        let division = #expect(throws: PGError.self) { try connection.execute("SELECT 1 / $1::int", [.int(0)]) }
        #expect(division?.sqlState == "22012")
        // The connection is still usable after an error.
        #expect(try connection.execute("SELECT 1").int64(0, 0) == 1)
        // A server-side serialization failure is transient.
        let serialization = #expect(throws: PGError.self) {
            try connection.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$")
        }
        #expect(serialization?.sqlState == "40001")
        #expect(serialization?.isTransient == true)
    }

    @Test func lostConnectionIsTransientAndResetRecovers() throws {
        let connection = try PGConnection(conninfo: try testConninfo())
        let killer = try PGConnection(conninfo: try testConninfo())
        let pid = try connection.execute("SELECT pg_backend_pid()").int64(0, 0)!
        try killer.execute("SELECT pg_terminate_backend($1::int)", [.int(pid)])
        let error = #expect(throws: PGError.self) { try connection.execute("SELECT 1") }
        #expect(error?.isTransient == true)
        #expect(!connection.isHealthy)
        try connection.reset()
        #expect(try connection.execute("SELECT 1").int64(0, 0) == 1)
    }

    @Test func unreachableServerIsTransientAndMalformedConninfoIsNot() {
        let unreachable = #expect(throws: PGError.self) {
            try PGConnection(conninfo: "postgresql:///postgres?host=/nonexistent-plantsync&connect_timeout=2")
        }
        #expect(unreachable?.isTransient == true)
        #expect(unreachable?.message.contains("cannot connect") == true)
        let malformed = #expect(throws: PGError.self) { try PGConnection(conninfo: "host=localhost nonsense") }
        #expect(malformed?.isTransient == false)
    }

    @Test func quotesIdentifiers() {
        #expect(PGConnection.quoteIdentifier("plant\"sync") == "\"plant\"\"sync\"")
    }
}
