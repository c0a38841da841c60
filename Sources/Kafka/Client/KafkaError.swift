import CRdKafka

/// A failure reported by librdkafka or by the wrapper: what was attempted, librdkafka's error name
/// (e.g. `_TRANSPORT`, `REBALANCE_IN_PROGRESS`) when there is one, and its message.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    public let operation: String
    /// librdkafka's error name (`rd_kafka_err2name`), or nil for wrapper-level errors.
    public let code: String?
    public let message: String

    public init(operation: String, code: String? = nil, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    init(operation: String, _ err: rd_kafka_resp_err_t) {
        self.init(operation: operation, code: cString(rd_kafka_err2name(err)), message: cString(rd_kafka_err2str(err)))
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(operation: String, consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            operation: operation, code: cString(rd_kafka_error_name(error)), message: cString(rd_kafka_error_string(error)))
    }

    public var description: String {
        "Kafka: \(operation) failed" + (code.map { " [\($0)]" } ?? "") + ": \(message)"
    }
}

/// A C string as a Swift string ("" for NULL).
func cString(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

/// The bytes of a NUL-terminated `[CChar]` buffer, decoded as UTF-8.
func decodeBuffer(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
