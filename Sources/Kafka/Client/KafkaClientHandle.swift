import CRdKafka
import Logging
import Synchronization

/// Builds an `rd_kafka_conf_t` from properties and creates the client. Internal: pointers never leave
/// this target.
enum KafkaClientHandle {
    static func make(
        type: rd_kafka_type_t, properties: [(String, String)], opaque: UnsafeMutableRawPointer,
        configure: (OpaquePointer) -> Void
    ) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(operation: "set '\(key)' = \"\(value)\"", message: decodeBuffer(errstr))
            }
        }
        rd_kafka_conf_set_opaque(conf, opaque)
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        configure(conf)
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(operation: "create client", message: decodeBuffer(errstr))
        }
        return handle
    }
}

/// Something that owns a logger and can be found through a client's opaque pointer.
class KafkaCallbackContext: @unchecked Sendable {
    // @unchecked Sendable is safe: `logger` is immutable; `lastLogged` and subclasses' mutable state
    // are behind Mutexes.
    let logger: Logger
    private let lastLogged = Mutex<[String: ContinuousClock.Instant]>([:])
    init(logger: Logger) { self.logger = logger }

    /// True at most once per `interval` for each `key`: librdkafka repeats the same complaint (a broker
    /// down, a refused connection) every second or so, and one line per minute is enough for a human.
    func shouldLog(_ key: String, every interval: Duration = .seconds(60)) -> Bool {
        let now = ContinuousClock.now
        return lastLogged.withLock { seen in
            if let last = seen[key], now - last < interval { return false }
            seen[key] = now
            return true
        }
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> KafkaCallbackContext? {
        opaque.map { Unmanaged<KafkaCallbackContext>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// librdkafka's log lines (syslog levels) as swift-log events. Runs on librdkafka's threads; Logger is
/// thread-safe.
private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, message in
    guard let rk, let context = KafkaCallbackContext.from(rd_kafka_opaque(rk)) else { return }
    // Errors also reach the error callback, which logs them; keep the rest, one line per facility a minute.
    guard level > 3, context.shouldLog("log." + cString(facility)) else { return }
    let swiftLevel: Logger.Level
    switch level {
    case ...3: swiftLevel = .error
    case 4: swiftLevel = .warning
    case 5, 6: swiftLevel = .info
    default: swiftLevel = .debug
    }
    context.logger.log(
        level: swiftLevel, "\(cString(message))", metadata: ["rdkafka.facility": "\(cString(facility))"])
}

/// Client-level errors (brokers down, transport): logged; librdkafka retries by itself.
private let errorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    _, err, reason, opaque in
    guard let context = KafkaCallbackContext.from(opaque) else { return }
    let name = cString(rd_kafka_err2name(rd_kafka_resp_err_t(err)))
    guard context.shouldLog("error." + name) else { return }
    context.logger.warning(
        "Kafka client error (librdkafka retries; repeats are logged once a minute)",
        metadata: ["error": "\(name)", "reason": "\(cString(reason))"])
}

extension Duration {
    /// Whole milliseconds (librdkafka's timeout unit), rounded down.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
