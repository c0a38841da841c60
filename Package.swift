// swift-tools-version: 6.1
// PlantSync: StreamSync and BatchSync, the shared SyncModel, the stores behind it and the
// batch-vs-stream harness. Every target lives in `Sources/<Target>` or `Tests/<Target>`; the
// benchmarks are their own package in Benchmarks/ (they build in release mode against this one).
import PackageDescription

/// Swift 6 language mode plus the upcoming features the code base is written for.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let hummingbirdTesting = Target.Dependency.product(name: "HummingbirdTesting", package: "hummingbird")

let package = Package(
    name: "PlantSync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "StreamSync", targets: ["StreamSync"]),
        .executable(name: "BatchSync", targets: ["BatchSync"]),
        .executable(name: "SyncBench", targets: ["SyncBench"]),
        .executable(name: "Chaos", targets: ["Chaos"]),
        // Libraries the benchmarks package (Benchmarks/) builds on.
        .library(name: "SyncModel", targets: ["SyncModel"]),
        .library(name: "BlockingExecutor", targets: ["BlockingExecutor"]),
        .library(name: "LibPQ", targets: ["LibPQ"]),
        .library(name: "PostgresStore", targets: ["PostgresStore"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "KafkaMock", targets: ["KafkaMock"]),
        .library(name: "Observability", targets: ["Observability"]),
        .library(name: "BatchSyncCore", targets: ["BatchSyncCore"]),
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
        // Base64 of image bytes in Debezium events (binary.handling.mode=base64, the connector's default).
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
        // HTTP server for StreamSync's endpoints (/ping, /healthz, /readyz, /metrics, /image-plant).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // MARK: C libraries (one system-library target each, found through pkg-config)
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        // The mock-cluster API (experimental upstream): only KafkaMock imports it.
        .systemLibrary(name: "CRdKafkaMock", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibMongoC", pkgConfig: "libmongoc-1.0", providers: [.apt(["libmongoc-dev"])]),

        // MARK: Where blocking C calls run (never on Swift's cooperative pool; docs/design.md, "Threads")
        .target(name: "BlockingExecutor", swiftSettings: swiftSettings),

        // MARK: Thin Swift wrappers over the C libraries (the only code that touches pointers)
        .target(name: "LibPQ", dependencies: ["CLibPQ"], swiftSettings: swiftSettings),
        .target(name: "LibMongoC", dependencies: ["CLibMongoC"], swiftSettings: swiftSettings),
        .target(name: "Kafka", dependencies: ["CRdKafka", "BlockingExecutor", logging], swiftSettings: swiftSettings),
        .target(name: "KafkaMock", dependencies: ["CRdKafkaMock"], swiftSettings: swiftSettings),

        // MARK: Domain
        .target(
            name: "SyncModel", dependencies: [.product(name: "ExtrasBase64", package: "swift-extras-base64")],
            swiftSettings: swiftSettings),

        // MARK: Runtime shared by the jobs
        .target(name: "Observability", dependencies: [logging, prometheus], swiftSettings: swiftSettings),
        .target(name: "HTTPProbes", dependencies: [hummingbird], swiftSettings: swiftSettings),

        // MARK: Stores
        .target(name: "PostgresStore", dependencies: ["SyncModel", "LibPQ", "BlockingExecutor"], swiftSettings: swiftSettings),
        .target(name: "MongoStore", dependencies: ["SyncModel", "LibMongoC", "BlockingExecutor"], swiftSettings: swiftSettings),
        .target(name: "StoreMetering", dependencies: ["SyncModel"], swiftSettings: swiftSettings),
        .target(
            name: "StoreFactory", dependencies: ["SyncModel", "PostgresStore", "MongoStore", argumentParser],
            swiftSettings: swiftSettings),

        // MARK: Job logic (libraries, tested directly) and the executables that wire them
        .target(
            name: "BatchSyncCore",
            dependencies: ["SyncModel", "StoreMetering", "Observability", logging, prometheus, serviceLifecycle],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "BatchSync",
            dependencies: [
                "SyncModel", "BatchSyncCore", "StoreFactory", "Observability", "HTTPProbes",
                argumentParser, logging, hummingbird, serviceLifecycle, unixSignals,
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "StreamSyncCore",
            dependencies: [
                "SyncModel", "Kafka", "Observability", "HTTPProbes", logging, prometheus, hummingbird, serviceLifecycle,
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "StreamSync",
            dependencies: [
                "StreamSyncCore", "BatchSyncCore", "SyncModel", "Kafka", "StoreFactory", "Observability", argumentParser, logging,
                hummingbird, serviceLifecycle, unixSignals,
            ],
            swiftSettings: swiftSettings),

        // MARK: Harness (the batch-vs-stream experiment behind scripts/demo)
        .target(
            name: "CountingProxy",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: swiftSettings),
        .target(
            name: "SyncBenchCore", dependencies: ["SyncModel", "StoreMetering", "CountingProxy"],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "SyncBench",
            dependencies: [
                "SyncBenchCore", "CountingProxy", "BatchSyncCore", "PostgresStore", "LibPQ", "LibMongoC", "SyncModel", "Kafka", "BlockingExecutor",
                "KafkaMock", argumentParser, logging,
            ],
            swiftSettings: swiftSettings),

        // MARK: Reliability: StreamSync under SIGKILLs and outages (scripts/chaos)
        .executableTarget(
            name: "Chaos",
            dependencies: [
                "SyncBenchCore", "SyncModel", "PostgresStore", "LibPQ", "Kafka", "KafkaMock", "CountingProxy", "BlockingExecutor",
                argumentParser, logging,
            ],
            swiftSettings: swiftSettings),

        // MARK: Tests (one target per library target; TestSupport is shared by all of them)
        .target(
            name: "TestSupport",
            dependencies: [
                "SyncModel", "PostgresStore", "LibPQ", "SyncBenchCore", "Kafka", "KafkaMock", "CountingProxy", "MongoStore", "LibMongoC",
                "BlockingExecutor",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "SyncModelTests",
            dependencies: ["SyncModel", "SyncBenchCore", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: swiftSettings),
        .testTarget(name: "BlockingExecutorTests", dependencies: ["BlockingExecutor"], swiftSettings: swiftSettings),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", prometheus], swiftSettings: swiftSettings),
        .testTarget(name: "LibPQTests", dependencies: ["LibPQ"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PostgresStoreTests",
            dependencies: ["PostgresStore", "SyncModel", "SyncBenchCore", "LibPQ", "TestSupport", "CountingProxy"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "BatchSyncCoreTests",
            dependencies: [
                "BatchSyncCore", "PostgresStore", "StoreMetering", "SyncModel", "SyncBenchCore", "LibPQ", "TestSupport", "CountingProxy",
                "MongoStore",
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CountingProxyTests", dependencies: ["CountingProxy", "SyncBenchCore", "TestSupport", "PostgresStore", "SyncModel"],
            swiftSettings: swiftSettings),
        // The executables' command lines, run as processes.
        .testTarget(
            name: "CLITests",
            dependencies: [
                "TestSupport", "StoreFactory", "SyncModel", "SyncBenchCore", "PostgresStore", "BatchSyncCore", "Observability",
                "Kafka", "KafkaMock", "MongoStore",
            ],
            swiftSettings: swiftSettings),
        // The store contract (docs/design.md §1, §3), shared by every store implementation.
        .testTarget(
            name: "StoreContractTests",
            dependencies: ["PostgresStore", "MongoStore", "SyncModel", "SyncBenchCore", "LibMongoC", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "MongoStoreTests", dependencies: ["MongoStore", "SyncModel", "SyncBenchCore", "LibMongoC", "TestSupport", "CountingProxy"], swiftSettings: swiftSettings),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "KafkaMock", "TestSupport"], swiftSettings: swiftSettings),
        // The harness's pieces: the ss parser (SyncBenchCore) and the LIMS-shaped producer writers (SyncBench).
        .testTarget(
            name: "SyncBenchCoreTests", dependencies: ["SyncBenchCore", "SyncBench", "SyncModel", "LibPQ", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "StreamSyncTests",
            dependencies: [
                "StreamSyncCore", "StoreFactory", "LibMongoC", "Kafka", "KafkaMock", "SyncModel", "PostgresStore",
                "LibPQ", "Observability", "SyncBenchCore", "TestSupport", hummingbird, hummingbirdTesting, logging,
            ],
            swiftSettings: swiftSettings),
    ],
    swiftLanguageModes: [.v6]
)
