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
