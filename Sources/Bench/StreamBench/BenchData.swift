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

    /// COPY text-format rows, `rowsPerChunk` per chunk.
    static func copyChunks(_ records: [ImageRecord], rowsPerChunk: Int) -> [[UInt8]] {
        stride(from: 0, to: records.count, by: rowsPerChunk).map { start in
            var chunk: [UInt8] = []
            for r in records[start..<min(start + rowsPerChunk, records.count)] { chunk += copyRow(r) }
            return chunk
        }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    static func copyRow(_ r: ImageRecord) -> [UInt8] {
        var row: [UInt8] = []
        func field(_ text: String?) {
            if !row.isEmpty { row.append(9) }
            row += Array((text ?? "\\N").utf8)
        }
        field(r.plant.rawValue)
        field(String(r.id))
        field(String(r.cameraId))
        if let data = r.data {
            row.append(9)
            row += Array("\\\\x".utf8)
            row.reserveCapacity(row.count + data.count * 2 + 200)
            for b in data {
                row.append(hexDigits[Int(b >> 4)])
                row.append(hexDigits[Int(b & 15)])
            }
        } else {
            field(nil)
        }
        field(String(r.latitude))
        field(String(r.longitude))
        field(r.disease)
        field(r.percentage.map { String($0) })
        field(r.createdAt.limsString)
        field(r.updatedAt?.limsString)
        field(String(r.isActive))
        field(String(r.isDeleted))
        field(String(r.version.ts))
        field(String(r.version.storedTiebreak))
        field(String(Int64(bitPattern: r.dataHash)))
        row.append(10)
        return row
    }

    /// The process's peak resident set size in bytes (getrusage ru_maxrss, KiB on Linux).
    static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}

