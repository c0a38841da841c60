import SyncBenchCore
import SyncModel
import TestSupport

/// Random multisets of whole changes, changes without bytes (LIMS events without `data`, Debezium
/// events with the unavailable-value placeholder in `data`) and deletes, over few keys and timestamps,
/// and what any store must end with after applying them (docs/design.md §1) — computed here directly
/// from the changes, independently of `Change.reduce`, which the stores use.
struct RegisterWorkload {
    let changes: [Change]

    /// The bytes a record version carries: a function of its content, so that one version always
    /// carries the same bytes (LIMS never changes an image's bytes) while different versions' differ.
    /// Every ninth version has no image (`data: null`, carried as null).
    static func bytes(for record: ImageRecord) -> [UInt8]? {
        let hash = record.contentHash
        guard hash % 9 != 0 else { return nil }
        return (0..<Int(4 + hash % 13)).map { UInt8(truncatingIfNeeded: hash >> UInt64($0 % 8 * 8) &+ UInt64($0)) }
    }

    /// A Debezium update of `record` whose `data` holds the default placeholder, base64-encoded as the
    /// PostgreSQL connector sends a `bytea` column, decoded by the real decoder.
    static func debeziumPlaceholder(_ record: ImageRecord) throws -> Change {
        let placeholder = BinaryText.base64(Array(UnavailableValuePlaceholder.debeziumDefault.utf8))
        var after = RecordJSON.encode(record, includeData: false)
        after.insert(contentsOf: "\"data\":\"\(placeholder)\",", at: after.index(after: after.startIndex))
        let value = #"{"op":"u","after":\#(after),"source":{"table":"\#(record.plant.rawValue)","ts_ms":1}}"#
        let decoded = try EventDecoder(format: .debezium).decodeEvent(
            IncomingMessage(topic: record.plant.rawValue, value: Array(value.utf8)))
        guard let change = decoded.change, decoded.placeholders == .data, change.kept == .data, change.version == record.version else {
            throw SetupError("placeholder event decoded as \(decoded.effect) with placeholders \(decoded.placeholders)")
        }
        return change
    }

    init(seed: UInt64, count: Int = 300, ids: ClosedRange<Int64> = 1...25) throws {
        var rng = SplitMix64(seed: seed)
        var changes: [Change] = []
        for _ in 0..<count {
            let plant = Plant.lims.randomElement(using: &rng)!
            let id = Int64.random(in: ids, using: &rng)
            var record = randomRecord(plant: plant, id: id, rng: &rng, tsRange: 0...10, dataBytes: 0)
            record.data = Self.bytes(for: record)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                changes.append(.delete(record.key, at: Timestamp(microsecondsSinceEpoch: Int64.random(in: 0...12, using: &rng))))
            case 2, 3, 4: changes.append(.upsert(record, keepsStoredData: true))
            case 5: changes.append(try Self.debeziumPlaceholder(record))
            default: changes.append(.upsert(record))
            }
        }
        self.changes = changes
    }

    /// Per key: the greatest version's record (or tombstone) and the greatest byte-carrying version.
    func expected(_ plant: Plant) -> (records: [ImageRecord], versions: [KeyVersion]) {
        var records: [ImageRecord] = []
        var versions: [KeyVersion] = []
        let byKey = Dictionary(grouping: changes.filter { $0.key.plant == plant }, by: \.key.id)
        for id in byKey.keys.sorted() {
            let mine = byKey[id]!
            let newest = mine.max { $0.version < $1.version }!
            let bytes = mine.filter(\.carriesBytes).max { $0.version < $1.version }
            let dataHash = bytes.map { ImageRecord.dataHash($0.record!.data) } ?? ImageRecord.unknownDataHash
            if var record = newest.record {
                record.data = bytes?.record?.data ?? nil
                records.append(record)
                versions.append(
                    KeyVersion(
                        id: id, version: newest.version, digest: RowDigest.of(version: newest.version, dataHash: dataHash),
                        dataVersion: bytes?.version))
            } else {
                versions.append(KeyVersion(id: id, version: newest.version, digest: 0, dataVersion: bytes?.version))
            }
        }
        return (records, versions)
    }
}
