import PostgresStore
import SyncModel

/// Compares the consumer database with the generator's model, key by key: every live key must hold
/// exactly the fields of its last produced event and the bytes of its last event that carried bytes;
/// every hard-deleted key must be absent (docs/design.md §1). Reads through `PostgresStore` (the live records of
/// each plant, keyset-paginated: tombstones are hidden by the store, as from every read).
struct Verification: Sendable {
    /// A kind of difference: how many keys, and the first few described.
    struct Finding: Sendable {
        var count = 0
        var examples: [String] = []

        mutating func add(_ text: @autoclosure () -> String) {
            count += 1
            if examples.count < 3 { examples.append(text()) }
        }
    }

    var liveKeys = 0
    var deletedKeys = 0
    var rowsRead = 0
    var exactFields = 0
    var exactBytes = 0
    var deletedAbsent = 0
    /// Live keys with a differing field.
    var wrongFields = Finding()
    /// Live keys whose bytes are not those of their last event with bytes…
    var wrongBytes = Finding()
    /// …of which: null, an earlier revision of the key's image, anything else.
    var wrongBytesNull = 0
    var wrongBytesEarlier = 0
    var wrongBytesOther = 0
    /// Live keys the consumer does not hold.
    var missing = Finding()
    /// Hard-deleted keys the consumer still holds.
    var resurrected = Finding()
    /// Rows for keys the generator never produced.
    var unknown = Finding()

    static func run(store: some DiffSource, stream: LimsStream) async throws -> Verification {
        var v = Verification()
        var seen = Set<RecordKey>()
        for truth in stream.truth.values {
            if truth.deleted { v.deletedKeys += 1 } else { v.liveKeys += 1 }
        }
        // The stream's plants and any other the store holds: a row of a plant never produced is unknown too.
        for plant in Set(stream.plants + (try await store.plants())).sorted() {
            for try await row in store.records(of: plant, in: .all, pageSize: 2000) {
                v.rowsRead += 1
                seen.insert(row.key)
                guard let truth = stream.truth[row.key] else {
                    v.unknown.add("\(row.key)")
                    continue
                }
                if truth.deleted {
                    v.resurrected.add("\(row.key): hard-deleted, still held")
                    continue
                }
                if let difference = Self.fieldDifference(stored: row, expected: truth.record) {
                    v.wrongFields.add("\(row.key): \(difference)")
                } else {
                    v.exactFields += 1
                }
                let expected = stream.bytes(row.key, revision: truth.bytesRevision)
                if row.data == expected {
                    v.exactBytes += 1
                } else {
                    let (kind, text) = Self.describeBytes(row.data, expected: expected, truth: truth, stream: stream)
                    switch kind {
                    case .null: v.wrongBytesNull += 1
                    case .earlier: v.wrongBytesEarlier += 1
                    case .other: v.wrongBytesOther += 1
                    }
                    v.wrongBytes.add("\(row.key): " + text)
                }
            }
        }
        for (key, truth) in stream.truth.sorted(by: { $0.key < $1.key }) {
            if truth.deleted {
                if !seen.contains(key) { v.deletedAbsent += 1 }
            } else if !seen.contains(key) {
                v.missing.add("\(key)")
            }
        }
        return v
    }

    /// The first field that differs, as `name stored … expected …`; nil when all are equal.
    static func fieldDifference(stored: ImageRecord, expected: ImageRecord) -> String? {
        func text(_ value: (some Any)?) -> String { value.map { "\($0)" } ?? "null" }
        let fields: [(String, String, String)] = [
            ("camera_id", text(stored.cameraId), text(expected.cameraId)),
            ("latitude", text(stored.latitude), text(expected.latitude)),
            ("longitude", text(stored.longitude), text(expected.longitude)),
            ("disease", text(stored.disease), text(expected.disease)),
            ("percentage", text(stored.percentage), text(expected.percentage)),
            ("created_at", text(stored.createdAt), text(expected.createdAt)),
            ("updated_at", text(stored.updatedAt), text(expected.updatedAt)),
            ("is_active", text(stored.isActive), text(expected.isActive)),
            ("is_deleted", text(stored.isDeleted), text(expected.isDeleted)),
        ]
        guard let (name, got, want) = fields.first(where: { $0.1 != $0.2 }) else { return nil }
        return "\(name) \(got), expected \(want)"
    }

    enum WrongBytes { case null, earlier, other }

    /// What the stored bytes are instead: null, an earlier revision of the key's image, or unrelated.
    static func describeBytes(_ stored: [UInt8]?, expected: [UInt8], truth: KeyTruth, stream: LimsStream) -> (WrongBytes, String) {
        let want = "revision \(truth.bytesRevision) (\(expected.count) B)"
        guard let stored else { return (.null, "null instead of \(want)") }
        if let older = (0..<truth.bytesRevision).reversed().first(where: { stream.bytes(truth.record.key, revision: $0) == stored }) {
            return (.earlier, "revision \(older) instead of \(want)")
        }
        return (.other, "\(stored.count) B matching no revision, instead of \(want)")
    }
}
