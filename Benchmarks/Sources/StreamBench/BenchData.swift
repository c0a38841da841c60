import Dispatch
import Foundation
import SyncModel

enum BenchData {
    /// A LIMS-like record with `bytes` of image data.
    static func record(id: Int64, bytes: Int) -> ImageRecord {
        var data = [UInt8](repeating: 0, count: bytes)
        var x = UInt64(bitPattern: id) &* 0x9E37_79B9_7F4A_7C15
        for i in 0..<bytes {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            data[i] = UInt8(truncatingIfNeeded: x >> 56)
        }
        let created = Timestamp(microsecondsSinceEpoch: 1_696_779_589_000_000 + id * 1_000)
        return ImageRecord(
            plant: .potato, id: id, cameraId: id % 12, data: data, latitude: 52.2297, longitude: 21.0122,
            disease: id % 3 == 0 ? "Healthy" : nil, percentage: id % 3 == 0 ? 0.87 : nil, createdAt: created)
    }

    /// The process's peak resident set size in bytes (getrusage ru_maxrss, KiB on Linux).
    static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
