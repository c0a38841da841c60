import Foundation
import SyncBenchCore
import SyncModel
import Synchronization
import Testing

/// The workload's initial load (SyncBench): every record is created before the load's `now`, so a later
/// edit (whose `updated_at` is the wall clock) is always the newer version.
@Suite struct WorkloadTests {
    final class RecordingProducer: LimsProducer {
        let created = Mutex<[ImageRecord]>([])
        let description = ProducerDescription(layout: .lims, engine: "memory", location: "memory", timestampPrecision: .microseconds)
        func prepare() async throws {}
        func create(_ records: [ImageRecord]) async throws { created.withLock { $0 += records } }
        func update(_ record: ImageRecord) async throws {}
        func delete(_ key: RecordKey, at: Timestamp) async throws {}
    }

    struct NoPublisher: EventPublisher {
        func publish(topic: String, key: String, value: String) async throws {}
    }

    /// More records than seconds in a day (the gap experiment's 100,000): none created in the future.
    @Test func aLargePlantIsCreatedBeforeNow() async throws {
        let producer = RecordingProducer()
        let plant = Plant.lims[0]
        let workload = Workload(producer: producer, publisher: NoPublisher(), seed: 7, imageBytes: 0, perPlant: 90_000, plants: [plant])
        let now = Date()
        try await workload.loadInitialData(createdBefore: now)
        let created = producer.created.withLock { $0 }
        let nowMicros = Int64(now.timeIntervalSince1970 * 1_000_000)
        #expect(created.count == 90_000)
        #expect(created.allSatisfy { $0.versionTimestamp.microsecondsSinceEpoch < nowMicros })
        // So an edit of the last record is newer than what was loaded.
        var rng = SeededGenerator(seed: 1)
        let edit = try await workload.edit(RecordKey(plant: plant, id: 90_000), rng: &rng)
        #expect(edit.version > created.last!.version)
    }
}
