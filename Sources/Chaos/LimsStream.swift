import Foundation
import SyncBenchCore
import SyncModel

/// The kinds of LIMS event the chaos stream produces.
enum EventKind: String, CaseIterable, Sendable {
    case create = "creates"
    case fullUpdate = "full updates"
    case partialUpdate = "partial updates"
    case softDelete = "soft deletes"
    case hardDelete = "hard deletes"
}

/// One event to produce (LIMS format or a MongoDB change stream document, docs/design.md §2), topic =
/// plant, key = the id (a connector would key by document; the id keeps a poisoned event a key gap),
/// on the key's partition.
struct StreamEvent: Sendable {
    let kind: EventKind
    let key: RecordKey
    let partition: Int32
    /// The event JSON; nil for a LIMS hard delete (a Kafka tombstone).
    let value: [UInt8]?
    /// Set for tombstones: their delete time is the Kafka record timestamp (docs/design.md §1).
    let timestampMillis: Int64?

    /// About what the mock broker stores for it (value, key and record overhead), for the backlog cap.
    var storedBytes: Int { (value?.count ?? 0) + 20 + 70 }
}

/// What the generator last produced for a key: the truth the consumer is compared with.
struct KeyTruth: Sendable {
    /// The fields of the last event (`data` is always nil here; see `bytesRevision`).
    var record: ImageRecord
    /// Which bytes the key must hold: those of the last event that carried bytes (docs/design.md §1: "the
    /// image bytes are a register of their own").
    var bytesRevision: Int
    /// The last event was a hard delete: the key must be absent.
    var deleted: Bool
}

/// A seeded LIMS event stream and its model of the last state per key.
///
/// - create: a new id (sequential per plant, as LIMS), the full record with bytes (revision 0);
/// - full update: changed fields and new image bytes (the next revision), the `data` key present;
/// - partial update: changed fields, no `data` key — "keep the stored bytes";
/// - soft delete: `is_deleted: true`, the full record with its current bytes (LIMS's users job);
/// - hard delete: a Kafka tombstone (null value) keyed by the id, timestamped after the key's last
///   update — the form of delete `EventDecoder` accepts on a LIMS topic (a Debezium `op: d` needs a
///   Debezium topic). Deleted ids are never reused, as in LIMS.
///
/// Updates go to recently created keys half of the time, so that creates and their updates often share
/// a batch or overlapping batches. Every event of a key goes to one partition (`id mod partitions`), so
/// the produced order per key is the order StreamSync reads. Versions (docs/design.md §1) grow per key: each
/// event's `updated_at` is a strictly increasing wall-clock time in microseconds.
struct LimsStream {
    let seed: UInt64
    let recordBytes: Int
    let partialPercent: Int
    let partitions: Int
    /// The plants events are made for (a topic each).
    let plants: [Plant]
    /// How events are encoded.
    let format: ChaosEventFormat
    private var rng: SeededGenerator
    private(set) var truth: [RecordKey: KeyTruth] = [:]
    private(set) var counts: [EventKind: Int] = [:]
    private var live: [RecordKey] = []
    private var liveIndex: [RecordKey: Int] = [:]
    private var recent: [RecordKey] = []
    private var recentNext = 0
    private var nextID: [Plant: Int64] = [:]
    private var clock: Int64 = 0
    /// Image sizes other than `recordBytes`, per key and revision (the gap faults' large changes).
    private var imageSizes: [RecordKey: [Int: Int]] = [:]
    /// Full updates made by the gap faults (`faultUpdate`), not part of `counts`.
    private(set) var faultUpdates = 0
    /// Live keys the stream no longer changes (`freeze`): their last change is one Kafka lost.
    private(set) var frozen: Set<RecordKey> = []

    static let diseases = ["Healthy", "Early Blight", "Late Blight", "Bacterial Spot", "Leaf Mold"]
    static let recentWindow = 256

    init(
        seed: UInt64, recordBytes: Int, partialPercent: Int, partitions: Int, plants: [Plant] = Plant.lims, format: ChaosEventFormat = .lims
    ) {
        precondition(!plants.isEmpty, "a stream needs a plant")
        self.plants = plants
        self.format = format
        self.seed = seed
        self.recordBytes = recordBytes
        self.partialPercent = partialPercent
        self.partitions = partitions
        rng = SeededGenerator(seed: seed)
    }

    /// The image bytes of a key's revision, regenerated on demand (nothing keeps them in memory).
    func bytes(_ key: RecordKey, revision: Int) -> [UInt8] {
        var mix = SeededGenerator(seed: seed ^ (UInt64(revision) &+ 1) &* 0xD1B5_4A32_D192_ED03)
        return Workload.imageData(key, seed: mix.next(), count: imageSizes[key]?[revision] ?? recordBytes)
    }

    func partition(of key: RecordKey) -> Int32 { Int32(truncatingIfNeeded: (key.id - 1) % Int64(partitions)) }

    /// Keys whose last event was not a hard delete.
    var liveCount: Int { live.count }

    mutating func next() -> StreamEvent {
        let roll = Int.random(in: 0..<100, using: &rng)
        let kind: EventKind
        if live.count == frozen.count || roll < 30 {
            kind = .create
        } else if roll < 82 {
            kind = Int.random(in: 0..<100, using: &rng) < partialPercent ? .partialUpdate : .fullUpdate
        } else if roll < 90 {
            kind = .softDelete
        } else {
            kind = .hardDelete
        }
        counts[kind, default: 0] += 1
        let now = tick()
        switch kind {
        case .create:
            let plant = plants.randomElement(using: &rng)!
            let id = nextID[plant, default: 1]
            nextID[plant] = id + 1
            let record = ImageRecord(
                plant: plant, id: id, cameraId: Int64.random(in: 1...12, using: &rng), data: nil,
                latitude: Double.random(in: 49...55, using: &rng), longitude: Double.random(in: 14...24, using: &rng),
                createdAt: Timestamp(microsecondsSinceEpoch: now))
            truth[record.key] = KeyTruth(record: record, bytesRevision: 0, deleted: false)
            liveIndex[record.key] = live.count
            live.append(record.key)
            if recent.count < Self.recentWindow {
                recent.append(record.key)
            } else {
                recent[recentNext] = record.key
                recentNext = (recentNext + 1) % Self.recentWindow
            }
            return upsertEvent(kind, record.key, withBytes: true)
        case .fullUpdate, .partialUpdate, .softDelete:
            let key = pickLiveKey()
            var generator = rng
            defer { rng = generator }
            return update(kind, key, at: now, using: &generator)
        case .hardDelete:
            let key = pickLiveKey()
            truth[key]!.deleted = true
            let index = liveIndex.removeValue(forKey: key)!
            let last = live.removeLast()
            if last != key {
                live[index] = last
                liveIndex[last] = index
            }
            // The delete's version ts is the end of this millisecond (EventDecoder.endOfMillisecond):
            // at or after `now`, so after every earlier event of the key. A change stream's delete names
            // the document by `_id` only, at its `wallTime` (the same millisecond).
            switch format {
            case .lims:
                return StreamEvent(kind: kind, key: key, partition: partition(of: key), value: nil, timestampMillis: now / 1000)
            case .mongodbChangeStream:
                let event = MongoChangeStreamEvents.delete(key.plant, id: key.id, wallMillis: now / 1000)
                return StreamEvent(kind: kind, key: key, partition: partition(of: key), value: Array(event.utf8), timestampMillis: now / 1000)
            }
        }
    }

    /// An update of `key` at `now`: changed fields (not for a soft delete), the next revision of the bytes
    /// for a full update (`imageBytes` long, else `recordBytes`).
    private mutating func update(
        _ kind: EventKind, _ key: RecordKey, at now: Int64, imageBytes: Int? = nil, using rng: inout some RandomNumberGenerator
    ) -> StreamEvent {
        var entry = truth[key]!
        if kind == .softDelete {
            entry.record.isDeleted = true
        } else {
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                entry.record.disease = Self.diseases.randomElement(using: &rng)
                entry.record.percentage = Double.random(in: 0.5...1, using: &rng)
            case 1:
                entry.record.isActive.toggle()
            default:
                entry.record.cameraId = Int64.random(in: 1...12, using: &rng)
                entry.record.latitude = Double.random(in: 49...55, using: &rng)
                entry.record.longitude = Double.random(in: 14...24, using: &rng)
            }
        }
        if kind == .fullUpdate {
            entry.bytesRevision += 1
            if let imageBytes, imageBytes != recordBytes { imageSizes[key, default: [:]][entry.bytesRevision] = imageBytes }
        }
        entry.record.updatedAt = Timestamp(microsecondsSinceEpoch: now)
        truth[key] = entry
        return upsertEvent(kind, key, withBytes: kind != .partialUpdate)
    }

    /// A live key drawn with `rng` (not the stream's generator: the stream stays the same), not frozen, on
    /// a partition holding at least `atLeast` such keys; nil if none.
    func randomLiveKey(onAPartitionWith atLeast: Int, using rng: inout some RandomNumberGenerator) -> RecordKey? {
        let open = live.filter { !frozen.contains($0) }
        var perPartition: [String: Int] = [:]
        for key in open { perPartition["\(key.plant)/\(partition(of: key))", default: 0] += 1 }
        return open.filter { perPartition["\($0.plant)/\(partition(of: $0))"]! >= atLeast }.randomElement(using: &rng)
    }

    /// A gap fault's change (`GapFaults`): a full update of a live key of `plant`'s `partition`, drawn
    /// with `rng`, its image `imageBytes` long; nil when that partition holds no live key. Not counted
    /// in `counts`, and the stream's own generator is untouched.
    mutating func faultUpdate(
        plant: Plant, partition: Int32, imageBytes: Int, using rng: inout some RandomNumberGenerator
    ) -> StreamEvent? {
        let candidates = live.filter { $0.plant == plant && self.partition(of: $0) == partition && !frozen.contains($0) }
        guard let key = candidates.randomElement(using: &rng) else { return nil }
        faultUpdates += 1
        return update(.fullUpdate, key, at: tick(), imageBytes: imageBytes, using: &rng)
    }

    private func upsertEvent(_ kind: EventKind, _ key: RecordKey, withBytes: Bool) -> StreamEvent {
        let entry = truth[key]!
        var record = entry.record
        if withBytes { record.data = bytes(key, revision: entry.bytesRevision) }
        let json: String
        switch (format, kind) {
        case (.lims, _): json = RecordJSON.encode(record, includeData: withBytes)
        case (.mongodbChangeStream, .create): json = MongoChangeStreamEvents.insert(record)
        case (.mongodbChangeStream, _) where withBytes: json = MongoChangeStreamEvents.update(record)
        case (.mongodbChangeStream, _): json = MongoChangeStreamEvents.patch(settingAllButData: record)
        }
        return StreamEvent(kind: kind, key: key, partition: partition(of: key), value: Array(json.utf8), timestampMillis: nil)
    }

    /// Half of the time one of the recently created keys (when still live), else any live key.
    /// Never a frozen key (drawn again: the stream differs from one without frozen keys only there).
    private mutating func pickLiveKey() -> RecordKey {
        while true {
            if !recent.isEmpty, Bool.random(using: &rng) {
                let key = recent[Int.random(in: 0..<recent.count, using: &rng)]
                if liveIndex[key] != nil, !frozen.contains(key) { return key }
            }
            let key = live[Int.random(in: 0..<live.count, using: &rng)]
            if !frozen.contains(key) { return key }
        }
    }

    /// The stream (and `faultUpdate`) changes `key` no more: its last change stays the one a gap fault
    /// made Kafka lose, so only healing from LIMS's database can make the consumer exact for it.
    mutating func freeze(_ key: RecordKey) {
        if liveIndex[key] != nil { frozen.insert(key) }
    }

    /// Wall-clock microseconds, strictly increasing; whole milliseconds for MongoDB events (a BSON
    /// date keeps milliseconds, so the truth is what the producer's documents can hold).
    private mutating func tick() -> Int64 {
        let now = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded(.down))
        switch format {
        case .lims: clock = max(now, clock + 1)
        case .mongodbChangeStream: clock = max(now / 1000 * 1000, clock + 1000)
        }
        return clock
    }
}
