import CLibPQ

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection. Not thread-safe: the owner confines it to one thread or serial queue.
///
/// Every call blocks on the network, so each is `@available(*, noasync)`: async code reaches it only
/// through a `BlockingExecutor` (docs/design.md, "Threads"). A call on a connection that went silent is
/// ended from another thread with `PGConnection.interrupt(socket:)`.
public final class PGConnection {
    let handle: OpaquePointer  // internal: PGConnection+Copy.swift streams COPY data through it
    public let conninfo: String

    /// Client settings every connection starts with, in libpq's keywords; the caller's conninfo (URI
    /// query parameters or key/value pairs) overrides each of them (docs/design.md §4, "Timeouts").
    /// - `connect_timeout` 10 s: a server that does not complete the handshake is a transient error.
    /// - TCP keepalives after 30 s idle, every 10 s, 3 probes: a peer that vanished while the
    ///   connection was idle is noticed within about a minute.
    /// - `tcp_user_timeout` 60 s: data the peer has not acknowledged for a minute closes the connection
    ///   (a partition while a query is being sent).
    public static let defaultClientParameters: [(keyword: String, value: String)] = [
        ("connect_timeout", "10"), ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"),
        ("keepalives_count", "3"), ("tcp_user_timeout", "60000"),
    ]

    /// Connects with a libpq connection URI (`postgresql://…`) or key/value conninfo string, starting
    /// from `defaultClientParameters`.
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public init(conninfo: String) throws(PGError) {
        self.conninfo = conninfo
        // libpq processes the arrays in order and the last value of a keyword wins: the defaults come
        // before `dbname`, whose value is expanded as the caller's conninfo and so overrides them.
        let keywords = Self.defaultClientParameters.map(\.keyword) + ["dbname"]
        let values = Self.defaultClientParameters.map(\.value) + [conninfo]
        let connected = Self.withCStrings(keywords) { k in Self.withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let handle = connected else {
            throw PGError(sqlState: nil, message: "libpq could not allocate a connection", isTransient: false)
        }
        if PQstatus(handle) != CONNECTION_OK {
            let message = Self.trimmed(PQerrorMessage(handle))
            PQfinish(handle)  // before `self.handle` is set, so `deinit` (which runs once it is) cannot free it twice
            // A malformed conninfo or refused credentials are permanent; a server that does not answer may come back.
            let permanent =
                message.contains("invalid") || message.contains("missing \"=\"")
                || message.contains("password authentication failed")
            throw PGError(sqlState: nil, message: "cannot connect: \(message)", isTransient: !permanent)
        }
        self.handle = handle
        // Errors and notices must not go to stderr behind the caller's back.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    /// Whether the connection is still usable (false after the server went away).
    public var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The connection's socket (-1 when there is none); see `interrupt(socket:)`.
    public var socket: Int32 { PQsocket(handle) }

    /// Makes a call blocked on `socket` return at once with a connection error, from any thread: the
    /// socket is shut down (not closed, so its number cannot be reused meanwhile). The connection is
    /// broken afterwards; `reset()` or a new connection replaces it.
    public static func interrupt(socket: Int32) {
        guard socket >= 0 else { return }
        _ = shutdown(socket, Int32(SHUT_RDWR))
    }

    /// Re-establishes a broken connection in place.
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func reset() throws(PGError) {
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PGError(sqlState: nil, message: "reconnect failed: \(Self.trimmed(PQerrorMessage(handle)))")
        }
    }

    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// Runs one statement with bound parameters and returns its rows in binary format.
    @discardableResult
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func execute(_ sql: String, _ parameters: [PGParameter] = []) throws(PGError) -> PGResult {
        let raw = Self.withBound(parameters) { count, types, values, lengths, formats in
            PQexecParams(handle, sql, count, types, values, lengths, formats, 1)
        }
        guard let result = raw else {
            throw PGError(sqlState: nil, message: Self.trimmed(PQerrorMessage(handle)))
        }
        try check(result, allowing: [PGRES_COMMAND_OK, PGRES_TUPLES_OK])
        return PGResult(result)
    }

    /// Runs one query and hands its rows to `body` one at a time, as the server sends them (libpq's
    /// single-row mode): memory holds one row, not the whole result — for results of a million rows.
    /// Each `PGResult` holds one row (row 0). An error from the server or from `body` ends the call
    /// after the rest of the result is drained, so the connection stays usable.
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func forEachRow(_ sql: String, _ parameters: [PGParameter] = [], _ body: (PGResult) throws(PGError) -> Void) throws(PGError) {
        let sent = Self.withBound(parameters) { count, types, values, lengths, formats in
            PQsendQueryParams(handle, sql, count, types, values, lengths, formats, 1)
        }
        guard sent == 1 else { throw PGError(sqlState: nil, message: Self.trimmed(PQerrorMessage(handle))) }
        PQsetSingleRowMode(handle)
        var failure: PGError?
        while let raw = PQgetResult(handle) {
            guard failure == nil else {
                PQclear(raw)
                continue
            }
            do throws(PGError) {
                try check(raw, allowing: [PGRES_SINGLE_TUPLE, PGRES_TUPLES_OK, PGRES_COMMAND_OK])
                let result = PGResult(raw)
                if PQresultStatus(raw) == PGRES_SINGLE_TUPLE { try body(result) }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Throws the error of a result whose status is not one of `allowing` (and frees it).
    private func check(_ result: OpaquePointer, allowing: [ExecStatusType]) throws(PGError) {
        let status = PQresultStatus(result)
        guard !allowing.contains(status) else { return }
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        var message = Self.trimmed(PQresultErrorMessage(result))
        if message.isEmpty { message = Self.trimmed(PQerrorMessage(handle)) }
        PQclear(result)
        // A dropped connection has no SQLSTATE but is reported as such by PQstatus.
        let transient = state == nil ? true : PGError.isTransient(sqlState: state)
        throw PGError(sqlState: state, message: message, isTransient: transient)
    }

    /// At most this many `bytea` parameters of one statement are pointed to where they are (one nested
    /// `withUnsafeBufferPointer` each, so a bounded stack depth); any further ones are encoded into the
    /// scratch buffer like every other value. `PostgresStore` binds fewer (more go through `COPY`).
    static let maxBytesInPlace = 256

    /// Calls `body` with libpq's parameter arrays (count, type OIDs, values, lengths, formats), every
    /// value in binary format (`PGParameter.appendBinary`). Scalars, texts and arrays are encoded into
    /// one scratch buffer, sized first and written once; `bytea` values are not copied: libpq reads
    /// them from the arrays' own storage.
    private static func withBound<T>(
        _ parameters: [PGParameter],
        _ body: (
            Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?
        ) -> T
    ) -> T {
        let count = parameters.count
        var types = [Oid](repeating: 0, count: count)
        var lengths = [Int32](repeating: 0, count: count)
        let formats = [Int32](repeating: 1, count: count)
        var offsets = [Int](repeating: -1, count: count)  // into `scratch`; -1: NULL or bytes in place
        var inPlace: [Int] = []
        var isInPlace = [Bool](repeating: false, count: count)
        var scratchBytes = 1  // a valid base address even with no bytes (also an empty bytea's)
        for (i, parameter) in parameters.enumerated() {
            types[i] = Oid(parameter.oid)
            if case .null = parameter { continue }
            lengths[i] = Int32(parameter.binaryLength)
            if case .bytes(let value) = parameter, !value.isEmpty, inPlace.count < maxBytesInPlace {
                inPlace.append(i)
                isInPlace[i] = true
            } else {
                scratchBytes += parameter.binaryLength
            }
        }
        var scratch: [UInt8] = [0]
        scratch.reserveCapacity(scratchBytes)
        for (i, parameter) in parameters.enumerated() where !isInPlace[i] {
            if case .null = parameter { continue }
            offsets[i] = scratch.count
            parameter.appendBinary(to: &scratch)
        }
        var values = [UnsafePointer<CChar>?](repeating: nil, count: count)
        return scratch.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            for i in 0..<count where offsets[i] >= 0 { values[i] = base + offsets[i] }
            return values.withUnsafeMutableBufferPointer { values in
                bindInPlace(parameters, inPlace[...], values) {
                    types.withUnsafeBufferPointer { types in
                        lengths.withUnsafeBufferPointer { lengths in
                            formats.withUnsafeBufferPointer { formats in
                                body(
                                    Int32(count), types.baseAddress, UnsafePointer(values.baseAddress), lengths.baseAddress,
                                    formats.baseAddress)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Points `values` at the storage of the `bytea` parameters `indices` (one nested scope each), then
    /// calls `body` while every pointer is valid.
    private static func bindInPlace<T>(
        _ parameters: [PGParameter], _ indices: ArraySlice<Int>, _ values: UnsafeMutableBufferPointer<UnsafePointer<CChar>?>,
        _ body: () -> T
    ) -> T {
        guard let i = indices.first else { return body() }
        guard case .bytes(let bytes) = parameters[i] else { preconditionFailure("parameter \(i) is not bytea") }
        return bytes.withUnsafeBufferPointer { buffer in
            values[i] = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            return bindInPlace(parameters, indices.dropFirst(), values, body)
        }
    }

    /// Quotes an identifier (schema or table name) the way PostgreSQL requires.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + String(name.flatMap { $0 == "\"" ? ["\"", "\""] : [$0] }) + "\""
    }

    /// Calls `body` with `strings` as a NULL-terminated array of C strings.
    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    private static func trimmed(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        var text = String(cString: pointer)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
