import Foundation
import Kafka
import KafkaMock
import SyncModel
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

// What the end-to-end tests share: HTTP reads of a running StreamSync, polling, LIMS events.

func get(_ url: String) async -> (status: Int, body: String)? {
    guard let (data, response) = try? await URLSession.shared.data(from: URL(string: url)!) else { return nil }
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

/// The read API's total of a plant.
func total(_ base: String, _ plant: String) async -> Int? {
    guard let reply = await get("\(base)/image-plant/\(plant)/total/"), reply.status == 200 else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Int])?["total_images"]
}

/// Polls until `condition` holds or a generous safety deadline passes (no timing assertion).
func eventually(_ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(120)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return await condition()
}

/// Publishes LIMS events of `records` to their plant topics, as LIMS's Image API does.
func publish(_ records: [ImageRecord], cluster: KafkaMockCluster, partition: (ImageRecord) -> Int32 = { _ in 0 }) async throws {
    try await publish(
        records.map {
            KafkaProducerRecord(
                topic: $0.plant.rawValue, partition: partition($0), key: Array(String($0.id).utf8), value: Array(RecordJSON.encode($0).utf8))
        }, cluster: cluster)
}

func publish(_ records: [KafkaProducerRecord], cluster: KafkaMockCluster) async throws {
    let producer = try KafkaProducer(configuration: mockKafkaConfiguration(cluster, clientId: "lims-image-api"))
    try await producer.send(records)
    try await producer.flush()
    await producer.close()
}

/// A StreamSync child process with its log in a temporary file; terminated at the end of `body`.
func withStreamSync<T>(_ arguments: [String], _ body: (_ base: String, _ log: () -> String, _ process: Process) async throws -> T)
    async throws -> T
{
    let port = Int.random(in: 20_000...40_000)
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("plantsync-e2e-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let streamSync = Process()
    streamSync.executableURL = Executable.productsDirectory.appendingPathComponent("StreamSync")
    streamSync.arguments = arguments + ["--http-host", "127.0.0.1", "--http-port", String(port), "--stats-interval-ms", "0"]
    streamSync.environment = ProcessInfo.processInfo.environment.merging(["ENV": ""]) { $1 }
    let logHandle = try FileHandle(forWritingTo: log)
    streamSync.standardOutput = logHandle
    streamSync.standardError = logHandle
    try streamSync.run()
    defer {
        if streamSync.isRunning { streamSync.terminate() }
        try? FileManager.default.removeItem(at: log)
    }
    return try await body("http://127.0.0.1:\(port)", { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }, streamSync)
}
