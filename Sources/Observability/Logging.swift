import Logging

/// Logging set-up shared by the executables: swift-log's stream handler on stderr, one line per event,
/// metadata as `key=value` pairs.
public enum LogSetup {
    /// Bootstraps swift-log once per process. Call before creating any `Logger`.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level {
    /// Parses `trace`, `debug`, `info`, `notice`, `warning`, `error`, `critical`.
    public init?(name: String) { self.init(rawValue: name.lowercased()) }
}
