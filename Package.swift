// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "PlantSync",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SyncModel", targets: ["SyncModel"]),
        .library(name: "PostgresStore", targets: ["PostgresStore"]),
        .executable(name: "StreamSync", targets: ["StreamSync"]),
        .executable(name: "BatchSync", targets: ["BatchSync"]),
        .executable(name: "StoreBench", targets: ["StoreBench"]),
        .executable(name: "BatchBench", targets: ["BatchBench"]),
        .executable(name: "SyncBench", targets: ["SyncBench"]),
        .executable(name: "StreamBench", targets: ["StreamBench"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "KafkaMock", targets: ["KafkaMock"]),
        .library(name: "StreamSyncCore", targets: ["StreamSyncCore"]),
    ],
    dependencies: [
        // Command-line parsing for every executable.
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // Structured logging (the ecosystem's logging API).
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Prometheus registry and text exposition for /metrics and the Pushgateway.
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Graceful SIGTERM/SIGINT handling of the long-running jobs (StreamSync, BatchSync's loop).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Event-driven networking: the harness's counting TCP proxy (and Hummingbird's foundation).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Property-based tests (Version order laws) on top of Swift Testing.
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        // HTTP server for StreamSync's endpoints (/ping, /healthz, /readyz, /metrics, /image-plant).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // MARK: C libraries (one system-library target each, found through pkg-config)
        .systemLibrary(
            name: "CLibPQ", path: "Sources/C/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CRdKafka", path: "Sources/C/CRdKafka", pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]),
        // The mock-cluster API (experimental upstream): only KafkaMock imports it.
        .systemLibrary(
            name: "CRdKafkaMock", path: "Sources/C/CRdKafkaMock", pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(
            name: "CLibMongoC", path: "Sources/C/CLibMongoC", pkgConfig: "libmongoc-1.0",
            providers: [.apt(["libmongoc-dev"])]),

        // MARK: Thin Swift wrappers over the C libraries (the only code that touches pointers)
        .target(name: "LibPQ", dependencies: ["CLibPQ"], path: "Sources/Wrappers/LibPQ"),
        .target(name: "LibMongoC", dependencies: ["CLibMongoC"], path: "Sources/Wrappers/LibMongoC"),
        .target(
            name: "Kafka", dependencies: ["CRdKafka", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Wrappers/Kafka"),
        .target(name: "KafkaMock", dependencies: ["CRdKafkaMock"], path: "Sources/Wrappers/KafkaMock"),

        // MARK: Domain
        .target(name: "SyncModel", path: "Sources/SyncModel"),

        // MARK: Runtime shared by the jobs
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/Runtime/Observability"),
        .target(
            name: "HTTPProbes",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Sources/Runtime/HTTPProbes"),

        // MARK: Stores
        .target(
            name: "PostgresStore", dependencies: ["SyncModel", "LibPQ"],
            path: "Sources/Stores/PostgresStore"),
        .target(
            name: "MongoStore", dependencies: ["SyncModel", "LibMongoC"],
            path: "Sources/Stores/MongoStore"),

        .target(
            name: "StoreMetering", dependencies: ["SyncModel"], path: "Sources/Stores/StoreMetering"),
        .target(
            name: "StoreFactory", dependencies: ["SyncModel", "PostgresStore", "MongoStore"], path: "Sources/Stores/StoreFactory"),

        // MARK: Job logic (libraries, tested directly)
        .target(
            name: "BatchSyncCore",
            dependencies: [
                "SyncModel", "StoreMetering", "Observability",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Jobs/BatchSyncCore"),

        // MARK: Harness (the batch-vs-stream experiment)
        .target(
            name: "CountingProxy",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            path: "Sources/Harness/CountingProxy"),

        .target(
            name: "SyncBenchCore", dependencies: ["SyncModel", "StoreMetering", "CountingProxy"],
            path: "Sources/Harness/SyncBenchCore"),

        // MARK: Jobs
        .target(
            name: "StreamSyncCore",
            dependencies: [
                "SyncModel", "Kafka", "PostgresStore", "StoreFactory", "Observability", "HTTPProbes",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Jobs/StreamSyncCore"),

        // MARK: Executables
        .executableTarget(
            name: "StreamSync",
            dependencies: [
                "StreamSyncCore", "SyncModel", "Observability",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Jobs/StreamSync"),
        .executableTarget(
            name: "StreamBench",
            dependencies: [
                "StreamSyncCore", "Kafka", "KafkaMock", "SyncModel", "PostgresStore", "LibPQ", "Observability",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Bench/StreamBench"),
        .executableTarget(
            name: "BatchSync",
            dependencies: [
                "SyncModel", "BatchSyncCore", "StoreFactory", "Observability", "HTTPProbes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Jobs/BatchSync"),
        .executableTarget(
            name: "StoreBench",
            dependencies: [
                "SyncModel", "PostgresStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Bench/StoreBench"),
        .executableTarget(
            name: "SyncBench",
            dependencies: [
                "SyncBenchCore", "CountingProxy", "BatchSyncCore", "PostgresStore", "LibPQ", "SyncModel", "Kafka", "KafkaMock",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Harness/SyncBench"),
        .executableTarget(
            name: "BatchBench",
            dependencies: [
                "SyncModel", "PostgresStore", "LibPQ", "BatchSyncCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Bench/BatchBench"),

        // MARK: Tests (one target per library target)
        .target(
            name: "TestSupport", dependencies: ["SyncModel", "PostgresStore", "LibPQ", "SyncBenchCore"], path: "Tests/TestSupport"),
        .testTarget(
            name: "SyncModelTests",
            dependencies: ["SyncModel", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            path: "Tests/SyncModelTests"),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability"], path: "Tests/ObservabilityTests"),
        .testTarget(name: "LibPQTests", dependencies: ["LibPQ"], path: "Tests/LibPQTests"),
        .testTarget(
            name: "PostgresStoreTests", dependencies: ["PostgresStore", "SyncModel", "LibPQ", "TestSupport"],
            path: "Tests/PostgresStoreTests"),
        .testTarget(
            name: "BatchSyncCoreTests",
            dependencies: ["BatchSyncCore", "PostgresStore", "StoreMetering", "SyncModel", "LibPQ", "TestSupport"],
            path: "Tests/BatchSyncCoreTests"),
        .testTarget(
            name: "CountingProxyTests",
            dependencies: ["CountingProxy", "TestSupport", "PostgresStore", "SyncModel"],
            path: "Tests/CountingProxyTests"),
        // The executables' command lines, run as processes.
        .testTarget(
            name: "CLITests", dependencies: ["TestSupport", "StoreFactory", "SyncModel", "BatchSyncCore", "Observability"],
            path: "Tests/CLITests"),
        // The store contract (design §1, §3), shared by every store implementation.
        .testTarget(
            name: "StoreContractTests", dependencies: ["PostgresStore", "MongoStore", "SyncModel", "LibMongoC", "TestSupport"],
            path: "Tests/StoreContractTests"),
        .testTarget(
            name: "MongoStoreTests", dependencies: ["MongoStore", "SyncModel", "LibMongoC"],
            path: "Tests/MongoStoreTests"),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "KafkaMock"], path: "Tests/KafkaTests"),
        .testTarget(
            name: "StreamSyncTests",
            dependencies: [
                "StreamSyncCore", "StoreFactory", "LibMongoC", "Kafka", "KafkaMock", "SyncModel", "PostgresStore", "LibPQ", "Observability",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/StreamSyncTests"),
    ],
    swiftLanguageModes: [.v6]
)
