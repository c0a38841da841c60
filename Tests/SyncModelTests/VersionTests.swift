import PropertyBased
import SyncBenchCore
import Testing

@testable import SyncModel

@Suite struct VersionTests {
    // Small domains so that equal timestamps and equal tiebreaks actually occur.
    @Test func antisymmetryAndTotality() async {
        await propertyCheck(count: 300, input: Gen.int64(in: 0...3), Gen.uint64(in: 0...3), Gen.int64(in: 0...3), Gen.uint64(in: 0...3)) {
            t1, b1, t2, b2 in
            let a = Version(ts: t1, tiebreak: b1)
            let b = Version(ts: t2, tiebreak: b2)
            // exactly one of <, ==, > holds
            let relations = [a < b, a == b, b < a].filter { $0 }.count
            #expect(relations == 1)
            if a <= b && b <= a { #expect(a == b) }
        }
    }

    @Test func transitivity() async {
        await propertyCheck(
            count: 300, input: Gen.int64(in: 0...2), Gen.uint64(in: 0...2), Gen.int64(in: 0...2), Gen.uint64(in: 0...2),
            Gen.int64(in: 0...2), Gen.uint64(in: 0...2)
        ) { t1, b1, t2, b2, t3, b3 in
            let a = Version(ts: t1, tiebreak: b1)
            let b = Version(ts: t2, tiebreak: b2)
            let c = Version(ts: t3, tiebreak: b3)
            if a < b && b < c { #expect(a < c) }
            if a <= b && b <= c { #expect(a <= c) }
        }
    }

    @Test func storedTiebreakPreservesOrder() async {
        await propertyCheck(count: 500, input: Gen.uint64(), Gen.uint64()) { x, y in
            let a = Version(ts: 0, tiebreak: x)
            let b = Version(ts: 0, tiebreak: y)
            #expect((a < b) == (a.storedTiebreak < b.storedTiebreak))
            #expect(Version(ts: 0, storedTiebreak: a.storedTiebreak) == a)
        }
    }

    @Test func tiebreakIsDeterministicAndContentSensitive() async {
        await propertyCheck(count: 200, input: Gen.int64(in: 1...1_000_000), Gen.int64(in: 0...100), Gen.bool) { id, camera, active in
            var record = sampleRecord(id: id)
            record.cameraId = camera
            record.isActive = active
            let copy = record
            #expect(record.version == copy.version)
            #expect(record.contentHash == copy.contentHash)
            var changed = record
            changed.isActive.toggle()
            #expect(changed.contentHash != record.contentHash)
            // equal ts, different content: ordered, not equal
            #expect(changed.version != record.version)
            #expect(changed.version.ts == record.version.ts)
        }
    }

    /// The hash must be the same in every process and on every machine: pin one value.
    @Test func tiebreakIsStableAcrossProcesses() {
        #expect(String(sampleRecord().contentHash, radix: 16) == Self.pinned)
    }
    static let pinned = "19080260ffab6620"

    @Test func dataIsOutsideTheTiebreakButInTheDigest() {
        var a = sampleRecord()
        var b = a
        b.data = [1, 2, 3]
        #expect(a.version == b.version)
        #expect(a.digest != b.digest)
        a.data = nil
        #expect(a.dataHash == 0)
        #expect(ImageRecord.dataHash([]) != 0)
    }

    @Test func deleteBeatsUpsertOfEqualTimestamp() async {
        await propertyCheck(count: 200, input: Gen.int64(in: -1_000_000...1_000_000), Gen.uint64()) { ts, hash in
            #expect(Version.upsert(ts: ts, contentHash: hash) < Version.delete(ts: ts))
            #expect(Version.delete(ts: ts) < Version.upsert(ts: ts + 1, contentHash: hash))
        }
    }

    @Test func fieldKeepingUpsertsRankBelowWholeRecordsOfTheirTimestamp() async {
        await propertyCheck(count: 200, input: Gen.int64(in: -1_000_000...1_000_000), Gen.uint64()) { ts, hash in
            let whole = Version.upsert(ts: ts, contentHash: hash)
            #expect(Version.keepingFields(ts: ts) < whole)
            #expect(Version.upsert(ts: ts - 1, contentHash: hash) < Version.keepingFields(ts: ts))
            #expect(Version.minimum < Version.keepingFields(ts: ts))
            #expect(Version.minimum < whole)
        }
        // the content hash 0 does not collide with the field-keeping tiebreak
        #expect(Version.upsert(ts: 5, contentHash: 0) > Version.keepingFields(ts: 5))
    }
}

@Suite struct KeyRangeTests {
    @Test(arguments: [(Int64(1), Int64(101), 16), (1, 5, 16), (1, Int64.max, 16), (10, 11, 4), (1, 1000, 1)])
    func splitCoversWithoutGapsOrOverlap(lower: Int64, upper: Int64, parts: Int) {
        let range = KeyRange(lower: lower, upper: upper)
        let pieces = range.split(into: parts)
        #expect(pieces.first?.lower == lower)
        #expect(pieces.last?.upper == upper)
        #expect(pieces.count <= parts)
        for (a, b) in zip(pieces, pieces.dropFirst()) { #expect(a.upper == b.lower) }
        #expect(pieces.allSatisfy { !$0.isEmpty })
    }
}
