import Foundation
import LibPQ
import SyncModel

/// The gap ledger in the consumer's schema (docs/design.md §8): `stream_gap` (what StreamSync will
/// never read, until healed) and `stream_position` (the offsets StreamSync recorded before committing).
extension PostgresStore: GapLedger {
    public func recordGaps(_ gaps: [StreamGap]) async throws {
        guard !gaps.isEmpty else { return }
        let text = sql.recordGap
        let rows: [[PGParameter]] = gaps.map { gap in
            [
                .text(gap.id), .text(gap.plant.rawValue), .text(gap.partition.topic), .int(Int64(gap.partition.partition)),
                .int(gap.firstOffset), gap.endOffset.map(PGParameter.int) ?? .null, gap.recordID.map(PGParameter.int) ?? .null,
                .text(gap.reason.rawValue), .int(gap.detectedAt.microsecondsSinceEpoch),
            ]
        }
        try await withConnection("record \(gaps.count) stream gaps") { connection throws(PGError) in
            try Self.transaction(connection) { () throws(PGError) in
                for parameters in rows { _ = try connection.execute(text, parameters) }
            }
        }
    }

    public func openGaps() async throws -> [StreamGap] {
        let text = sql.openGaps
        let store = "PostgreSQL \(sql.gapTable)"
        let rows = try await withConnection("read the open stream gaps") { connection throws(PGError) in
            let result = try connection.execute(text)
            return try (0..<result.rowCount).map { row throws(PGError) -> (texts: [String?], ints: [Int64?]) in
                (
                    try [0, 1, 2, 7].map { column throws(PGError) in try result.string(row, column) },
                    try [3, 4, 5, 6, 8].map { column throws(PGError) in try result.int64(row, column) }
                )
            }
        }
        return try rows.map { row in
            guard let id = row.texts[0], let plantName = row.texts[1], let topic = row.texts[2], let reasonName = row.texts[3],
                let reason = GapReason(rawValue: reasonName), let partition = row.ints[0], let first = row.ints[1],
                let detected = row.ints[4]
            else { throw GapLedgerError(store: store, detail: "a row that is no gap: \(row)") }
            return StreamGap(
                id: id, plant: try Plant(validating: plantName, field: "\(sql.gapTable).plant"),
                partition: StreamPartition(topic: topic, partition: Int32(clamping: partition)), firstOffset: first,
                endOffset: row.ints[2], recordID: row.ints[3], reason: reason, detectedAt: Timestamp(microsecondsSinceEpoch: detected))
        }
    }

    @discardableResult
    public func closeGaps(_ ids: [String], at: Timestamp, by closedBy: String) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let text = sql.closeGaps
        let parameters: [PGParameter] = [.text(PostgresTextArray.literal(ids)), .int(at.microsecondsSinceEpoch), .text(closedBy)]
        return try await withConnection("close \(ids.count) stream gaps") { connection throws(PGError) in
            try connection.execute(text, parameters).affectedRows
        }
    }

    public func streamPositions(group: String) async throws -> [StreamPartition: Int64] {
        let text = sql.readPositions
        return try await withConnection("read the stream positions of group \(group)") { connection throws(PGError) in
            let result = try connection.execute(text, [.text(group)])
            var positions: [StreamPartition: Int64] = [:]
            for row in 0..<result.rowCount {
                guard let topic = try result.string(row, 0), let partition = try result.int64(row, 1), let offset = try result.int64(row, 2)
                else { continue }
                positions[StreamPartition(topic: topic, partition: Int32(clamping: partition))] = offset
            }
            return positions
        }
    }

    public func recordStreamPositions(_ positions: [StreamPartition: Int64], group: String) async throws {
        guard !positions.isEmpty else { return }
        let sorted = positions.sorted { $0.key < $1.key }
        let text = sql.writePositions
        let parameters: [PGParameter] = [
            .text(group), .text(PostgresTextArray.literal(sorted.map(\.key.topic))),
            .int64Array(sorted.map { Int64($0.key.partition) }), .int64Array(sorted.map(\.value)),
        ]
        try await withConnection("record the stream positions of group \(group)") { connection throws(PGError) in
            _ = try connection.execute(text, parameters)
        }
    }
}

/// A `text[]` literal: every element double-quoted, `"` and `\` escaped (docs: "Array Value Input").
enum PostgresTextArray {
    static func literal(_ values: [String]) -> String {
        "{" + values.map { value in
            "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }.joined(separator: ",") + "}"
    }
}
