import Foundation
import SyncModel
import TestSupport
import Testing

/// The gap ledger (docs/design.md §8) on both consumer stores.
@Suite struct GapLedgerContractTests {
    static func gap(_ plant: Plant, _ first: Int64, _ end: Int64?, key: Int64? = nil, reason: GapReason, at micros: Int64) -> StreamGap {
        StreamGap(
            plant: plant, partition: StreamPartition(topic: plant.rawValue, partition: 2), firstOffset: first, endOffset: end,
            recordID: key, reason: reason, detectedAt: Timestamp(microsecondsSinceEpoch: micros))
    }

    @Test(arguments: StoreEngine.allCases)
    func gapsAreRecordedOnceListedOldestFirstAndClosedOnce(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            #expect(try await store.openGaps().isEmpty)
            let cucumber = try Plant(validating: "cucumber", field: "test")
            let retention = Self.gap(.potato, 10, 250, reason: .retention, at: 3_000)
            let letter = Self.gap(cucumber, 7, 8, key: 42, reason: .deadLetter, at: 1_000)
            let truncated = Self.gap(.tomato, 900, nil, reason: .logTruncated, at: 2_000)
            try await store.recordGaps([retention, letter])
            try await store.recordGaps([truncated, retention])  // again: no second row
            #expect(try await store.openGaps() == [letter, truncated, retention])
            #expect(retention.lostOffsets == 240 && truncated.lostOffsets == 0)

            #expect(try await store.closeGaps([letter.id, "no-such-gap"], at: Timestamp(microsecondsSinceEpoch: 5_000), by: "test") == 1)
            #expect(try await store.closeGaps([letter.id], at: Timestamp(microsecondsSinceEpoch: 6_000), by: "test") == 0)
            #expect(try await store.openGaps() == [truncated, retention])
            // A closed gap stays closed when its batch is retried and records it again.
            try await store.recordGaps([letter])
            #expect(try await store.openGaps() == [truncated, retention])
            // Gaps are no plants and no records.
            #expect(try await store.plants().isEmpty)
        }
    }

    @Test(arguments: StoreEngine.allCases)
    func positionsArePerGroupAndNeverMoveBack(engine: StoreEngine) async throws {
        try await engine.withStore { store async throws in
            let a = StreamPartition(topic: "potato", partition: 0)
            let b = StreamPartition(topic: "NULL", partition: 1)  // a topic name that means something to array syntax
            let c = StreamPartition(topic: "odd.topic-name_1", partition: 11)
            #expect(try await store.streamPositions(group: "g1").isEmpty)
            try await store.recordStreamPositions([a: 5, b: 7], group: "g1")
            try await store.recordStreamPositions([a: 9, c: 1], group: "g1")
            try await store.recordStreamPositions([a: 100], group: "g2")
            try await store.recordStreamPositions([a: 3, b: 7], group: "g1")  // a late writer: a stays at 9
            #expect(try await store.streamPositions(group: "g1") == [a: 9, b: 7, c: 1])
            #expect(try await store.streamPositions(group: "g2") == [a: 100])
        }
    }
}
