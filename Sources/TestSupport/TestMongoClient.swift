import BlockingExecutor
import LibMongoC

/// A libmongoc client for tests that look at the server directly (raw documents, indexes, the test
/// double's command log), used off Swift's cooperative pool: every call runs on the client's own
/// executor, as the stores' calls do.
public final class TestMongoClient: @unchecked Sendable {
    // @unchecked Sendable is safe: `client` is used only inside blocks running on the serial `executor`.
    private let client: MongoClient
    private let executor = BlockingExecutor(label: "plantsync.tests.mongo-client")

    @available(*, noasync)
    private init(uri: String, appName: String) throws {
        client = try MongoClient(uri: uri, appName: appName)
    }

    public static func connect(uri: String, appName: String = "plantsync-tests") async throws -> TestMongoClient {
        try await offPool { try TestMongoClient(uri: uri, appName: appName) }
    }

    /// Runs `body` with the client on its executor.
    public func run<T: Sendable>(_ body: @escaping @Sendable (MongoClient) throws -> T) async throws -> T {
        try await executor.run { try body(self.client) }
    }

    @discardableResult
    public func command(_ command: BSONDocument, database: String) async throws -> BSONDocument {
        try await run { try $0.command(command, database: database) }
    }

    public func ping() async throws { try await run { try $0.ping() } }

    public func dropDatabase(_ database: String) async throws { try await run { try $0.dropDatabase(database) } }

    /// A collection handle; nothing is sent until one of its calls.
    public func collection(_ name: String, database: String) -> TestMongoCollection {
        TestMongoCollection(client: self, name: name, database: database)
    }
}

/// A collection of a `TestMongoClient`: the calls tests make, each on the client's executor.
public struct TestMongoCollection: Sendable {
    let client: TestMongoClient
    public let name: String
    public let database: String
    public var namespace: String { "\(database).\(name)" }

    private func run<T: Sendable>(_ body: @escaping @Sendable (MongoCollection) throws -> T) async throws -> T {
        try await client.run { [name, database] in try body(try $0.collection(name, database: database)) }
    }

    @discardableResult
    public func bulkWrite(_ operations: [WriteModel], ordered: Bool = false) async throws -> BulkWriteResult {
        try await run { try $0.bulkWrite(operations, ordered: ordered) }
    }
    public func countDocuments(_ filter: BSONDocument) async throws -> Int { try await run { try $0.countDocuments(filter) } }
    public func listIndexes() async throws -> [BSONDocument] { try await run { try $0.listIndexes() } }
    /// Every document `filter` matches.
    public func find(_ filter: BSONDocument, options: BSONDocument = [:]) async throws -> [BSONDocument] {
        try await run { try $0.find(filter, options: options).all() }
    }
    public func aggregate(_ pipeline: [BSONDocument], options: BSONDocument = [:]) async throws -> [BSONDocument] {
        try await run { try $0.aggregate(pipeline, options: options).all() }
    }
    public func drop() async throws { try await run { try $0.drop() } }
}
