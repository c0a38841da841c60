import CLibPQ

extension PGConnection {
    /// Runs `COPY … FROM STDIN` (`sql`) and streams `chunks` as its data, in the format the statement
    /// names. Returns the number of rows copied.
    @discardableResult
    @available(*, noasync, message: "blocks on the network: run it on a BlockingExecutor")
    public func copyIn(_ sql: String, chunks: some Sequence<[UInt8]>) throws(PGError) -> Int {
        guard let start = PQexec(handle, sql) else { throw PGError(sqlState: nil, message: lastError) }
        let status = PQresultStatus(start)
        PQclear(start)
        guard status == PGRES_COPY_IN else {
            throw PGError(sqlState: nil, message: "COPY did not start: \(lastError)", isTransient: false)
        }
        var failure: String?
        for chunk in chunks where !chunk.isEmpty {
            let sent = chunk.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    PQputCopyData(handle, $0, Int32(buffer.count))
                }
            }
            if sent != 1 {
                failure = lastError
                break
            }
        }
        if PQputCopyEnd(handle, failure) != 1 { failure = failure ?? lastError }
        var rows = 0
        var resultError: PGError?
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                rows = Int(String(cString: PQcmdTuples(result))) ?? 0
            } else if resultError == nil {
                let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
                resultError = PGError(sqlState: state, message: String(cString: PQresultErrorMessage(result)))
            }
            PQclear(result)
        }
        if let resultError { throw resultError }
        if let failure { throw PGError(sqlState: nil, message: "COPY failed: \(failure)") }
        return rows
    }

    private var lastError: String {
        var text = String(cString: PQerrorMessage(handle))
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
