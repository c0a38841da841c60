// swift-tools-version: 6.1
// The benchmarks behind scripts/bench-store, scripts/bench-stream and scripts/bench-batch, kept out of
// the main package (as hummingbird and swift-nio do) and built in release mode against it.
import PackageDescription

let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let plantsync = { (name: String) in Target.Dependency.product(name: name, package: "PlantSync") }
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "PlantSyncBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "PlantSync", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // PostgresStore apply throughput per batch size and record size.
        .executableTarget(
            name: "StoreBench",
            dependencies: [
                plantsync("SyncModel"), plantsync("PostgresStore"), plantsync("LibPQ"), plantsync("BlockingExecutor"), argumentParser,
            ],
            swiftSettings: swiftSettings),
        // StreamSync end to end on the mock Kafka cluster into a durable PostgreSQL.
        .executableTarget(
            name: "StreamBench",
            dependencies: [
                plantsync("StreamSyncCore"), plantsync("Kafka"), plantsync("KafkaMock"), plantsync("SyncModel"),
                plantsync("PostgresStore"), plantsync("LibPQ"), plantsync("BlockingExecutor"), plantsync("Observability"), argumentParser,
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // BatchSync strategies on two PostgreSQL databases.
        .executableTarget(
            name: "BatchBench",
            dependencies: [
                plantsync("SyncModel"), plantsync("PostgresStore"), plantsync("LibPQ"), plantsync("BatchSyncCore"),
                plantsync("BlockingExecutor"), argumentParser,
            ],
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
