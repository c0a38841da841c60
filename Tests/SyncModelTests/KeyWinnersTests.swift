import SyncBenchCore
import Testing

@testable import SyncModel

/// `Change.reduce`: per key, the greatest record version and — a register of its own — the greatest
/// version that carried bytes (docs/design.md §1).
@Suite struct KeyWinnersTests {
    /// Random changes of every kind over few keys and timestamps, so that equal versions, equal
    /// timestamps and byte-less changes newer than their create all occur.
    static func randomChanges(seed: UInt64, count: Int = 400) -> [Change] {
        var rng = SplitMix64(seed: seed)
        var changes: [Change] = []
        for _ in 0..<count {
            var r = sampleRecord(plant: Plant.lims.randomElement(using: &rng)!, id: Int64.random(in: 1...10, using: &rng))
            r.updatedAt = Timestamp(microsecondsSinceEpoch: Int64.random(in: 0...20, using: &rng))
            r.cameraId = Int64.random(in: 0...3, using: &rng)
            r.data = [UInt8(truncatingIfNeeded: r.id), UInt8(truncatingIfNeeded: r.cameraId), UInt8(r.updatedAt!.microsecondsSinceEpoch)]
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: changes.append(.delete(r.key, at: Timestamp(microsecondsSinceEpoch: Int64.random(in: 0...20, using: &rng))))
            case 1, 2: changes.append(.upsert(r, keepsStoredData: true))
            case 3: changes.append(.upsert(r, keeping: .disease))
            default: changes.append(.upsert(r))
            }
        }
        return changes
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func reduceKeepsTheGreatestRecordAndTheGreatestBytesPerKeyInAnyOrder(seed: UInt64) {
        let changes = Self.randomChanges(seed: seed)
        let reduced = Change.reduce(changes)
        #expect(reduced.values.map(\.count).reduce(0, +) == changes.count)
        for (key, winners) in reduced {
            let mine = changes.filter { $0.key == key }
            let wholes = mine.filter { !$0.keepsRecordFields }
            #expect(winners.record?.version == wholes.map(\.version).max())
            #expect(winners.keepingFields?.version == mine.filter(\.keepsRecordFields).map(\.version).max())
            #expect(winners.bytes?.version == mine.filter(\.carriesBytes).map(\.version).max())
            #expect(winners.bytes?.carriesBytes ?? true)
            if let record = winners.record?.record {
                // the record's fields, the bytes of the greatest byte-carrying version
                var expected = record
                expected.data = mine.filter(\.carriesBytes).max { $0.version < $1.version }?.record?.data ?? nil
                #expect(winners.resultingRecord == expected)
            } else {
                #expect(winners.resultingRecord == nil)
            }
        }
        // any order, any duplication: the same versions
        var rng = SplitMix64(seed: seed &* 31)
        let again = Change.reduce((changes + changes.prefix(100)).shuffled(using: &rng))
        #expect(again.mapValues { $0.record?.version } == reduced.mapValues { $0.record?.version })
        #expect(again.mapValues { $0.bytes?.version } == reduced.mapValues { $0.bytes?.version })
        #expect(again.mapValues(\.resultingRecord) == reduced.mapValues(\.resultingRecord))
    }

    /// The case that used to lose the bytes: a create and a newer update without `data` in one batch.
    @Test func aCreateAndANewerByteLessUpdateKeepTheCreatesBytesInEitherOrder() {
        let create = sampleRecord()
        var update = create
        update.updatedAt = Timestamp(microsecondsSinceEpoch: create.createdAt.microsecondsSinceEpoch + 5)
        update.disease = "Healthy"
        for batch in [
            [Change.upsert(create), .upsert(update, keepsStoredData: true)], [.upsert(update, keepsStoredData: true), .upsert(create)],
        ] {
            let winners = Change.reduce(batch)[create.key]!
            #expect(winners.record?.version == update.version)
            #expect(winners.bytes?.version == create.version)
            #expect(winners.bytesVersion == create.version)
            var expected = update
            expected.data = create.data
            #expect(winners.resultingRecord == expected)
        }
        // only byte-less changes: the bytes are not known
        let unknown = Change.reduce([.upsert(update, keepsStoredData: true)])[create.key]!
        #expect(unknown.bytes == nil)
        #expect(unknown.bytesVersion == .minimum)
        #expect(unknown.resultingRecord?.data == nil)
        // a delete leaves the bytes where they are
        let deleted = Change.reduce([.upsert(create), .delete(create.key, at: Timestamp(microsecondsSinceEpoch: Int64.max))])[create.key]!
        #expect(deleted.record?.operation == .delete)
        #expect(deleted.bytes?.version == create.version)
        #expect(deleted.resultingRecord == nil)
    }

    @Test func fieldKeepingUpsertsMatterOnlyWhenNewerThanTheWholeRecord() {
        let create = sampleRecord()
        var later = create
        later.updatedAt = Timestamp(microsecondsSinceEpoch: create.createdAt.microsecondsSinceEpoch + 10)
        let keeping = Change.upsert(later, keeping: [.disease, .data])
        #expect(keeping.version == .keepingFields(ts: later.versionTimestamp.microsecondsSinceEpoch))
        #expect(keeping.record?.disease == nil)
        #expect(!keeping.carriesBytes)
        #expect(keeping.keepsRecordFields)
        let newer = Change.reduce([.upsert(create), keeping])[create.key]!
        #expect(newer.record?.version == create.version)
        #expect(newer.keepingFieldsAfterRecord == keeping)
        // the whole record of the same ts beats it
        let beaten = Change.reduce([keeping, .upsert(later)])[create.key]!
        #expect(beaten.keepingFieldsAfterRecord == nil)
        #expect(beaten.record?.version == later.version)
        // a field-keeping change that carries bytes competes for the register like any other
        let withBytes = Change.upsert(later, keeping: .gpsCoordinates)
        #expect(withBytes.carriesBytes)
        #expect(withBytes.record?.latitude == 0)
        #expect(Change.reduce([.upsert(create), withBytes])[create.key]!.bytes == withBytes)
    }
}
