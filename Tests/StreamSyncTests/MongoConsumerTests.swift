import Foundation
import Kafka
import LibMongoC
import StoreFactory
import StreamSyncCore
import SyncModel
import TestSupport
import Testing

/// StreamSync into a LIMS-style MongoDB consumer, opened from a `mongodb://` URI exactly as the
/// executable opens its `--store-uri` (the MongoDB test double, or a real server via PLANTSYNC_MONGO_URI).
@Suite struct MongoConsumerTests {
    @Test func limsEventsEndInTheExpectedStateInMongoDB() async throws {
        try await withMongoDouble { try await limsEventsEndInTheExpectedState() }
    }

    func limsEventsEndInTheExpectedState() async throws {
        guard let base = ProcessInfo.processInfo.environment["PLANTSYNC_MONGO_URI"], let slash = base.range(of: "/?") else {
            throw SetupError("PLANTSYNC_MONGO_URI is not set (or has no '/?'): run the tests through scripts/test")
        }
        let database = uniqueName("s_")
        let uri = base.replacingCharacters(in: slash, with: "/\(database)?")
        let store = try StoreFactory.openConsumer(uri: uri, role: "store")
        try await store.prepareSchema()
        try await withCleanup {
        try await withCluster { cluster in
            try PipelineTests.createTopics(cluster)
            let history = PipelineTests.history()
            try await produce(history + history.reversed(), cluster: cluster)
            let running = try startPipeline(cluster: cluster, store: store, source: .assign(PipelineTests.topics(), from: .committed))
            let done = await eventually { running.pipeline.progress.messages == history.count * 2 }
            try await running.stop()
            #expect(done)
            #expect(try await storeMatches(store, history.map { Change.upsert($0) }))
        }
        } cleanup: {
            _ = try? await offPool { try MongoClient(uri: base, appName: "plantsync-tests").dropDatabase(database) }
        }
    }
}
