import Glibc

/// A regex topic subscription as librdkafka takes it: a topic name starting with `^` in
/// `rd_kafka_subscribe` is a POSIX extended regular expression, matched against every topic of the
/// cluster's metadata; topics created later are picked up at the next metadata refresh
/// (`topic.metadata.refresh.interval.ms`). librdkafka compiles it with the C library's `regcomp`
/// (`REG_EXTENDED | REG_NOSUB`) and treats a pattern that does not compile as matching nothing, so it
/// is compiled here the same way first: a bad pattern is an error at start, not a silent subscription
/// to nothing.
public struct KafkaTopicPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern, `^` first (what `subscribe(topics:)` is given).
    public let text: String

    /// Why a pattern is unusable.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// - Throws: `Invalid` saying why the pattern is unusable (no leading `^`, or `regcomp`'s message).
    public init(_ text: String) throws(Invalid) {
        guard text.hasPrefix("^") else { throw Invalid(reason: "must start with '^' (librdkafka's mark of a regex subscription)") }
        var regex = regex_t()
        let status = regcomp(&regex, text, REG_EXTENDED | REG_NOSUB)
        guard status == 0 else {
            var buffer = [CChar](repeating: 0, count: 256)
            regerror(status, &regex, &buffer, buffer.count)
            throw Invalid(reason: "not a POSIX extended regular expression: \(decodeBuffer(buffer))")
        }
        regfree(&regex)
        self.text = text
    }

    /// Whether librdkafka would subscribe to `topic` (an unanchored search, as `regexec` does: anchor
    /// the end with `$`).
    public func matches(_ topic: String) -> Bool {
        var regex = regex_t()
        guard regcomp(&regex, text, REG_EXTENDED | REG_NOSUB) == 0 else { return false }
        defer { regfree(&regex) }
        return regexec(&regex, topic, 0, nil, 0) == 0
    }

    public var description: String { text }
}
