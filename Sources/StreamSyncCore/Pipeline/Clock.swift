import Foundation

/// Wall-clock seconds since the Unix epoch (Kafka timestamps are wall-clock milliseconds).
func clockNow() -> Double { Date().timeIntervalSince1970 }
