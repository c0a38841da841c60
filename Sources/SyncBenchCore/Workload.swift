import Foundation
import SyncModel

/// Where the workload's change events go (Kafka in the harness; a recorder in tests).
public protocol EventPublisher: Sendable {
    /// Publishes one LIMS-format event: topic = plant, key = id, value = record JSON with hex data.
    func publish(topic: String, key: String, value: String) async throws
}

/// How fast the workload changes the producer.
public enum WorkloadProfile: Sendable, Equatable, CustomStringConvertible {
    /// LIMS's jobs at their relative rates, `speed` times faster than real time: a create every
    /// 30–100 s, a disease update every 100 s, an activation toggle and a metadata edit every 300 s,
    /// a soft delete every 700 s.
    case lims(speed: Double)
    /// A fixed total of changes per second, mixed in LIMS's proportions.
    case steady(perSecond: Double)

    public var description: String {
        switch self {
        case .lims(let speed): return "lims ×\(speed)"
        case .steady(let rate): return "steady \(rate)/s"
        }
    }
}

/// The kinds of change LIMS's jobs make.
public enum ChangeKind: String, Sendable, CaseIterable, Codable {
    case create, disease, toggle, edit
    case softDelete = "soft_delete"

    /// Mean seconds of LIMS time between two changes of this kind.
    var limsPeriod: Double {
        switch self {
        case .create: return 65  // uniform 30–100 s
        case .disease: return 100
        case .toggle, .edit: return 300
        case .softDelete: return 700
        }
    }
}

/// One change the workload made: what, when it was committed in the producer, and its version.
public struct WorkloadChange: Sendable {
    public let kind: ChangeKind
    public let key: RecordKey
    public let version: Version
    /// Wall-clock time at which the producer committed it.
    public let committedAt: Date
    /// Bytes of the event published for it.
    public let eventBytes: Int
}

/// The LIMS workload generator, acting as LIMS's Image API: it writes every change to the producer
/// (`LimsProducer`: LIMS's own tables or collections, or PlantSync's store for comparison) and then
/// publishes it as a LIMS-format event. Image bytes are random but reproducible from the seed and the
/// key, so nothing has to hold them in memory. Timestamps are generated at the producer's step
/// (`ProducerDescription.timestampPrecision`: milliseconds for MongoDB, whose BSON dates keep no more), so
/// that an event and the stored record it describes carry the same version.
public final class Workload: Sendable {
    public let producer: any LimsProducer
    public let publisher: any EventPublisher
    public let seed: UInt64
    public let imageBytes: Int
    public let perPlant: Int
    /// The plants it writes (topics and tables or collections of their own), LIMS's three by default.
    public let plants: [Plant]

    /// The current metadata of every record (no image bytes), and the next id per plant.
    private let state: LockedState

    public init(
        producer: any LimsProducer, publisher: any EventPublisher, seed: UInt64, imageBytes: Int, perPlant: Int,
        plants: [Plant] = Plant.lims
    ) {
        precondition(!plants.isEmpty, "a workload needs a plant")
        self.producer = producer
        self.plants = plants
        self.publisher = publisher
        self.seed = seed
        self.imageBytes = imageBytes
        self.perPlant = perPlant
        self.state = LockedState()
    }

    /// Deterministic JPEG-sized bytes for a key.
    public func imageData(_ key: RecordKey) -> [UInt8] { Self.imageData(key, seed: seed, count: imageBytes) }

    /// `count` pseudo-random bytes, the same for the same key and seed in every process, starting with
    /// JPEG's start-of-image marker (so nothing has to keep generated images in memory).
    public static func imageData(_ key: RecordKey, seed: UInt64, count: Int) -> [UInt8] {
        var rng = SeededGenerator(seed: seed ^ UInt64(bitPattern: key.id) &* 0x9e37_79b9 ^ key.plant.stableHash)
        var data = [UInt8](repeating: 0, count: max(0, count))
        var i = 0
        while i < data.count {
            var word = rng.next()
            for _ in 0..<8 where i < data.count {
                data[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        if data.count >= 2 {
            data[0] = 0xFF
            data[1] = 0xD8
        }  // JPEG's start-of-image marker
        return data
    }

    /// `time` in microseconds, truncated to the producer's timestamp precision.
    func timestamp(_ time: Date) -> Timestamp {
        producer.description.timestampPrecision.truncate(Timestamp(microsecondsSinceEpoch: Int64((time.timeIntervalSince1970 * 1_000_000).rounded())))
    }

    /// Loads the initial data set into the producer (not published: every consumer starts from a copy)
    /// and, batch by batch, into `mirror` (the first consumer, which the others are copied from).
    /// Returns the greatest version `ts` per plant (a watermark consumer's mark after the copy).
    ///
    /// Record `id` is created `id` seconds after the start of a span that ends a second before `now`:
    /// a day, or longer for a plant of more than 86,399 records. (A fixed day put every record past
    /// id 86,400 in the future, so a later edit's `updated_at` was older than its `created_at`: the
    /// stream refused that edit as stale under the version rule, and only a diff repaired it.)
    @discardableResult
    public func loadInitialData(createdBefore now: Date, mirror: (any ChangeApplier)? = nil) async throws -> [Plant: Int64] {
        var rng = SeededGenerator(seed: seed)
        let span = Double(max(86_400, perPlant + 1))
        let start = timestamp(now.addingTimeInterval(-span)).microsecondsSinceEpoch
        var marks: [Plant: Int64] = [:]
        for plant in plants {
            var batch: [ImageRecord] = []
            for id in 1...Int64(perPlant) {
                let record = ImageRecord(
                    plant: plant, id: id, cameraId: Int64.random(in: 1...12, using: &rng), data: imageData(RecordKey(plant: plant, id: id)),
                    latitude: Double.random(in: 49...55, using: &rng), longitude: Double.random(in: 14...24, using: &rng),
                    disease: id % 4 == 0 ? nil : ["Healthy", "Early Blight", "Late Blight", "Bacterial Spot"].randomElement(using: &rng),
                    percentage: id % 4 == 0 ? nil : Double.random(in: 0.5...1, using: &rng),
                    createdAt: Timestamp(microsecondsSinceEpoch: start + id * 1_000_000))
                batch.append(record)
                state.put(record)
                marks[plant] = max(marks[plant] ?? .min, record.versionTimestamp.microsecondsSinceEpoch)
                if batch.count == 500 {
                    try await load(batch, mirror: mirror)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            if !batch.isEmpty { try await load(batch, mirror: mirror) }
            state.setNextID(plant, Int64(perPlant) + 1)
        }
        return marks
    }

    private func load(_ batch: [ImageRecord], mirror: (any ChangeApplier)?) async throws {
        try await producer.create(batch)
        if let mirror { _ = try await mirror.apply(batch.map { .upsert($0) }) }
    }

    /// Makes one change of `kind`: producer first, then the event. Returns what it did, or nil when
    /// there is nothing to change (e.g. no unclassified image left for the recognizer).
    public func make(_ kind: ChangeKind, rng: inout SeededGenerator) async throws -> WorkloadChange? {
        let plant = plants.randomElement(using: &rng)!
        let micros = timestamp(Date())
        var record: ImageRecord
        switch kind {
        case .create:
            let id = state.takeNextID(plant)
            record = ImageRecord(
                plant: plant, id: id, cameraId: Int64.random(in: 1...12, using: &rng), data: imageData(RecordKey(plant: plant, id: id)),
                latitude: Double.random(in: 49...55, using: &rng), longitude: Double.random(in: 14...24, using: &rng),
                createdAt: micros)
        case .disease:
            guard var r = state.random(plant, where: { $0.disease == nil && !$0.isDeleted }, rng: &rng) else { return nil }
            r.disease = ["Healthy", "Early Blight", "Late Blight", "Bacterial Spot"].randomElement(using: &rng)
            r.percentage = Double.random(in: 0.5...1, using: &rng)
            r.updatedAt = micros
            record = r
        case .toggle:
            guard var r = state.random(plant, where: { !$0.isDeleted }, rng: &rng) else { return nil }
            r.isActive.toggle()
            r.updatedAt = micros
            record = r
        case .edit:
            guard var r = state.random(plant, where: { !$0.isDeleted }, rng: &rng) else { return nil }
            r.cameraId = Int64.random(in: 1...12, using: &rng)
            r.latitude = Double.random(in: 49...55, using: &rng)
            r.longitude = Double.random(in: 14...24, using: &rng)
            r.updatedAt = micros
            record = r
        case .softDelete:
            guard var r = state.random(plant, where: { !$0.isDeleted }, rng: &rng) else { return nil }
            r.isDeleted = true
            r.updatedAt = micros
            record = r
        }
        record.data = imageData(record.key)
        return try await commit(record, kind: kind, publisher: publisher)
    }

    /// Edits one given record as LIMS's metadata edit does (camera, coordinates, `updated_at`), with a
    /// new image of `imageBytes` bytes when given (a large change), producer first, then the event —
    /// through `publisher` when given (e.g. one that publishes a corrupt event). Throws when the
    /// workload never created the key.
    public func edit(
        _ key: RecordKey, imageBytes: Int? = nil, publisher: (any EventPublisher)? = nil, rng: inout SeededGenerator
    ) async throws -> WorkloadChange {
        guard var record = state.record(key) else { throw WorkloadError("edit of \(key): the workload holds no such record") }
        record.cameraId = Int64.random(in: 1...12, using: &rng)
        record.latitude = Double.random(in: 49...55, using: &rng)
        record.longitude = Double.random(in: 14...24, using: &rng)
        record.updatedAt = timestamp(Date())
        record.data = imageBytes.map { Self.imageData(key, seed: seed ^ 0x5eed, count: $0) } ?? imageData(key)
        return try await commit(record, kind: .edit, publisher: publisher ?? self.publisher)
    }

    /// Writes `record` to the producer (a create or an update), then publishes its event.
    private func commit(_ record: ImageRecord, kind: ChangeKind, publisher: any EventPublisher) async throws -> WorkloadChange {
        var record = record
        if kind == .create { try await producer.create([record]) } else { try await producer.update(record) }
        let committedAt = Date()
        let json = RecordJSON.encode(record)
        try await publisher.publish(topic: record.plant.rawValue, key: String(record.id), value: json)
        record.data = nil
        state.put(record)
        return WorkloadChange(kind: kind, key: record.key, version: record.version, committedAt: committedAt, eventBytes: json.utf8.count)
    }

    /// Seconds of real time until the next change of `kind` under `profile`.
    public static func delay(of kind: ChangeKind, profile: WorkloadProfile, rng: inout SeededGenerator) -> Double {
        switch profile {
        case .lims(let speed):
            let period = kind == .create ? Double.random(in: 30...100, using: &rng) : kind.limsPeriod
            return period / max(speed, 0.000_001)
        case .steady(let rate):
            let weight = (1 / kind.limsPeriod) / ChangeKind.allCases.reduce(0) { $0 + 1 / $1.limsPeriod }
            return 1 / max(rate * weight, 0.000_001)
        }
    }
}

/// Metadata of the producer's records as the generator last wrote them.
final class LockedState: Sendable {
    private let lock = NSLock()
    nonisolated(unsafe) private var records: [Plant: [Int64: ImageRecord]] = [:]
    nonisolated(unsafe) private var nextIDs: [Plant: Int64] = [:]
    // nonisolated(unsafe) is safe: both dictionaries are only read or written while `lock` is held.

    func put(_ record: ImageRecord) {
        var stripped = record
        stripped.data = nil
        lock.withLock { records[record.plant, default: [:]][record.id] = stripped }
    }

    func record(_ key: RecordKey) -> ImageRecord? { lock.withLock { records[key.plant]?[key.id] } }

    func setNextID(_ plant: Plant, _ id: Int64) { lock.withLock { nextIDs[plant] = id } }

    func takeNextID(_ plant: Plant) -> Int64 {
        lock.withLock {
            let id = nextIDs[plant, default: 1]
            nextIDs[plant] = id + 1
            return id
        }
    }

    func random(_ plant: Plant, where predicate: (ImageRecord) -> Bool, rng: inout SeededGenerator) -> ImageRecord? {
        let candidates = lock.withLock { (records[plant] ?? [:]).values.filter(predicate) }
        return candidates.sorted { $0.id < $1.id }.randomElement(using: &rng)
    }
}

/// A workload step that cannot be made.
public struct WorkloadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// SplitMix64: the harness's reproducible random numbers.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension Plant {
    /// A hash that is the same in every process (Swift's `hashValue` is seeded per process): 1, 2, 3
    /// for LIMS's plants (what the published runs' images were drawn with), FNV-1a of the name for any other.
    var stableHash: UInt64 {
        if let index = Plant.lims.firstIndex(of: self) { return UInt64(index + 1) }
        return rawValue.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
