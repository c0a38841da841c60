import Foundation
import SyncModel

/// The producer database as LIMS's Image API writes it (docs/design.md §5): SyncBench is its only
/// writer, and the workload reaches it only through this protocol. The implementations write LIMS's
/// own shape — `imagecolplant<plant>` tables (PostgreSQL) or collections (MongoDB) with LIMS's field
/// names and no PlantSync bookkeeping — or, for comparison with earlier runs, PlantSync's own store.
public protocol LimsProducer: Sendable {
    /// What the report says about the producer: shape, engine, where the records are.
    var description: ProducerDescription { get }


    /// Creates the tables or collections, empty, dropping what a previous run left.
    func prepare() async throws

    /// Inserts new records (LIMS's create: a new row or document).
    func create(_ records: [ImageRecord]) async throws

    /// Writes the record's fields over the stored ones — `updated_at` set, `is_deleted` for a soft
    /// delete — and its image bytes when `record.data` is not nil (nil keeps the stored image).
    func update(_ record: ImageRecord) async throws

    /// A hard delete: the row or document is gone. `at` is the time of the delete (used only by a
    /// PlantSync-shaped producer, which keeps tombstones).
    func delete(_ key: RecordKey, at: Timestamp) async throws
}

/// Which producer a report's figures come from.
public struct ProducerDescription: Sendable, Codable, Equatable, CustomStringConvertible {
    /// LIMS's own shape or PlantSync's store with its version bookkeeping.
    public var layout: ProducerLayout
    /// `postgresql` or `mongodb`.
    public var engine: String
    /// Where the records are: `public.imagecolplant{plant}`, `imagedbplantproducer.imagecolplant{plant}`,
    /// `syncbench_producer.image_record`.
    public var location: String
    /// The precision of the workload's timestamps: the precision the producer keeps.
    public var timestampPrecision: TimestampPrecision

    public init(layout: ProducerLayout, engine: String, location: String, timestampPrecision: TimestampPrecision) {
        self.layout = layout
        self.engine = engine
        self.location = location
        self.timestampPrecision = timestampPrecision
    }

    public var description: String {
        let shape = layout == .lims ? "LIMS-shaped" : "PlantSync-shaped"
        return "\(shape) \(engine) producer (\(location), timestamps in \(timestampPrecision.rawValue))"
    }
}

/// The producer as PlantSync's own store (`image_record` with version bookkeeping): the shape earlier
/// SyncBench runs wrote, kept so that they can be compared (`--producer-layout plantsync`).
public struct PlantSyncStoreProducer: LimsProducer {
    public let store: any ConsumerStore
    public let description: ProducerDescription

    public init(store: any ConsumerStore, location: String) {
        self.store = store
        description = ProducerDescription(layout: .plantsync, engine: "postgresql", location: location, timestampPrecision: .microseconds)
    }

    public func prepare() async throws { try await store.prepareSchema() }

    public func create(_ records: [ImageRecord]) async throws { _ = try await store.apply(records.map { .upsert($0) }) }

    public func update(_ record: ImageRecord) async throws {
        _ = try await store.apply([.upsert(record, keepsStoredData: record.data == nil)])
    }

    public func delete(_ key: RecordKey, at: Timestamp) async throws { _ = try await store.apply([.delete(key, at: at)]) }
}
