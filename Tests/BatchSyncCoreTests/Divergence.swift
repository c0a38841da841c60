import PostgresStore
import SyncBenchCore
import SyncModel
import TestSupport

/// Builds a producer and a consumer that differ in every way docs/design.md §1 and the BatchSync issue list:
/// missing and extra rows, changed metadata at the same timestamp, changed image bytes, soft and hard
/// deletes, and older and newer versions on either side.
struct Divergence {
    var producer: [Change] = []
    var consumer: [Change] = []
    /// Keys hard-deleted from the producer (tombstoned there, or removed outright).
    var hardDeleted: [RecordKey] = []
    /// The plants it writes, in order.
    let plants: [Plant]

    /// `tick`: the timestamp unit in microseconds — 1000 for a producer that keeps milliseconds
    /// (MongoDB's BSON dates), so that every version the divergence makes survives the producer.
    /// `sameLengthBytes`: the changed image bytes keep their length. A cross-engine pair compares
    /// metadata and byte length only (docs/design.md §3), so it cannot see that one.
    init(seed: UInt64, perPlant: Int = 120, tick: Int64 = 1, sameLengthBytes: Bool = true, plants: [Plant] = Plant.lims) {
        self.plants = plants
        var rng = SplitMix64(seed: seed)
        for plant in plants {
            for id in 1...Int64(perPlant) {
                var base = randomRecord(plant: plant, id: id, rng: &rng, tsRange: 1_000_000...2_000_000, dataBytes: 24)
                base.createdAt = Timestamp(microsecondsSinceEpoch: base.createdAt.microsecondsSinceEpoch * tick)
                base.updatedAt = base.updatedAt.map { Timestamp(microsecondsSinceEpoch: $0.microsecondsSinceEpoch * tick) }
                var other = base
                switch Int.random(in: 0..<12, using: &rng) {
                case 0:  // missing in the consumer
                    producer.append(.upsert(base))
                case 1:  // extra in the consumer (the producer never had it)
                    consumer.append(.upsert(base))
                case 2:  // metadata differs at the same timestamp
                    other.cameraId += 10
                    producer.append(.upsert(base))
                    consumer.append(.upsert(other))
                case 3:  // image bytes differ, same version
                    if sameLengthBytes { other.data?[0] ^= 0x5A } else { other.data?.append(0x5A) }
                    producer.append(.upsert(base))
                    consumer.append(.upsert(other))
                case 4:  // soft delete in the producer
                    other.isDeleted = true
                    other.updatedAt = Timestamp(microsecondsSinceEpoch: base.versionTimestamp.microsecondsSinceEpoch + 50 * tick)
                    producer.append(.upsert(other))
                    consumer.append(.upsert(base))
                case 5:  // hard delete in the producer
                    producer.append(.upsert(base))
                    producer.append(.delete(base.key, at: Timestamp(microsecondsSinceEpoch: 3_000_000 * tick)))
                    consumer.append(.upsert(base))
                    hardDeleted.append(base.key)
                case 6:  // producer newer
                    other.updatedAt = Timestamp(microsecondsSinceEpoch: base.versionTimestamp.microsecondsSinceEpoch + 99 * tick)
                    other.disease = "Healthy"
                    producer.append(.upsert(other))
                    consumer.append(.upsert(base))
                case 7:  // consumer newer (it holds a version the producer does not have)
                    other.updatedAt = Timestamp(microsecondsSinceEpoch: base.versionTimestamp.microsecondsSinceEpoch + 99 * tick)
                    other.percentage = 0.5
                    producer.append(.upsert(base))
                    consumer.append(.upsert(other))
                case 8:  // consumer tombstone newer than the producer's live record
                    producer.append(.upsert(base))
                    consumer.append(.delete(base.key, at: Timestamp(microsecondsSinceEpoch: 5_000_000 * tick)))
                default:  // equal
                    producer.append(.upsert(base))
                    consumer.append(.upsert(base))
                }
            }
        }
    }

    /// The producer's final state: per key, its greatest-version change; a delete leaves nothing (a
    /// foreign producer keeps no tombstones).
    var producerRecords: [ImageRecord] {
        var winners: [RecordKey: Change] = [:]
        for change in producer where winners[change.key].map({ $0.version < change.version }) ?? true { winners[change.key] = change }
        let order = Dictionary(uniqueKeysWithValues: plants.enumerated().map { ($1, $0) })
        return winners.values.compactMap(\.record).sorted { (order[$0.plant]!, $0.id) < (order[$1.plant]!, $1.id) }
    }

    /// Loads a foreign producer (its final records, written as the application does) and a consumer.
    func load(into producerTables: LimsPostgresProducer, _ consumerStore: any ConsumerStore) async throws {
        try await producerTables.write(producerRecords)
        _ = try await consumerStore.apply(consumer)
    }

    func load(into producerStore: PostgresStore, _ consumerStore: PostgresStore) async throws {
        _ = try await producerStore.apply(producer)
        _ = try await consumerStore.apply(consumer)
        // Half of the hard deletes disappear outright, as a LIMS-style delete would leave them.
        _ = try await producerStore.purgeTombstones(olderThan: Timestamp(microsecondsSinceEpoch: 3_000_001))
    }
}
