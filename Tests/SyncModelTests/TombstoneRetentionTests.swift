import Foundation
import SyncModel
import Testing

@Suite struct TombstoneRetentionTests {
    @Test(arguments: [("7d", 604_800), ("36h", 129_600), ("90m", 5_400), ("3600s", 3_600), ("3600", 3_600), (" 2D ", 172_800)])
    func parsesDurations(text: String, seconds: Int64) throws {
        #expect(try TombstoneRetention(parsing: text, field: "--tombstone-retention").seconds == seconds)
    }

    @Test(arguments: ["", "0", "-1d", "7w", "d", "1.5h", "99999999999999999d"])
    func rejectsWhatIsNotAPositiveDurationNamingTheFlag(text: String) {
        #expect(throws: TombstoneRetentionError(field: "--tombstone-retention", value: text)) {
            try TombstoneRetention(parsing: text, field: "--tombstone-retention")
        }
    }

    @Test func theDefaultIsSevenDaysAndPrintsAsItParses() throws {
        #expect(TombstoneRetention.default.seconds == 7 * 86_400)
        #expect(TombstoneRetention.default.description == "7d")
        for text in ["7d", "36h", "90m", "61s"] {
            #expect(try TombstoneRetention(parsing: text, field: "f").description == text)
        }
    }

    @Test func theCutoffIsTheRetentionBeforeNow() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(TombstoneRetention(seconds: 60).cutoff(now: now).microsecondsSinceEpoch == 1_699_999_940_000_000)
    }
}
