// swift-tools-version:6.0
// SmartModelManager: a pure-Swift CPU inference engine for BERT, DistilBERT and GPT-2,
// and a manager that picks, loads, caches, benchmarks and switches models by itself.
import PackageDescription

let package = Package(
    name: "SmartModelManager",
    platforms: [.macOS(.v15)],
    products: [
        // For apps: `import SmartModelManager` gives the front door (`TextModel`, `ModelManager`),
        // the engine beneath it and the tokenizers.
        .library(name: "SmartModelManager",
                 targets: ["SmartModelManager", "SMMModels", "SMMTokenizers", "SMMFormat", "SMMJSON", "SMMKernels"]),
        // The tokenizers alone (BERT WordPiece, GPT-2 byte-level BPE), with no engine and no BLAS.
        .library(name: "SMMTokenizers", targets: ["SMMTokenizers", "SMMJSON"]),
        .executable(name: "smm", targets: ["smm"]),
        .executable(name: "smm-convert", targets: ["smm-convert"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // `swift package generate-documentation` (the DocC catalog in Sources/SmartModelManager).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // smm serve only (the SMMServer target): HTTP, signals and shutdown, metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        // Header-only view of Debian's OpenBLAS (`cblas.h`); the library itself is opened at run
        // time (see SMMKernels/BLAS.swift) so that its CPU core can be chosen first.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        // SIMD micro-kernels only (int8 VNNI blocks on packed data), with per-function target
        // attributes and a run-time CPU check; everything around them is Swift in SMMKernels.
        .target(name: "CMicroKernels"),
        .target(name: "SMMKernels",
                dependencies: ["CMicroKernels", "SMMFormat",
                               .target(name: "COpenBLAS", condition: .when(platforms: [.linux]))]),
        // The one JSON reader and writer (strict: depth, size and duplicate-key limits, exact numbers).
        .target(name: "SMMJSON"),
        .target(name: "SMMTokenizers", dependencies: ["SMMJSON"]),
        .target(name: "SMMFormat", dependencies: ["SMMJSON"]),
        .target(name: "SMMModels", dependencies: ["SMMKernels", "SMMFormat", "SMMJSON", "SMMTokenizers"]),
        .target(name: "SmartModelManager",
                dependencies: ["SMMModels", "SMMFormat", "SMMKernels", .product(name: "Logging", package: "swift-log")]),
        // `smm serve`: the HTTP service (OpenAI and TEI routes, batching, metrics, drain). Only the
        // `smm` executable depends on it; the SmartModelManager product does not include it.
        .target(name: "SMMServer",
                dependencies: ["SmartModelManager", "SMMModels", "SMMTokenizers", "SMMJSON",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "smm",
                          dependencies: ["SmartModelManager", "SMMServer", "SMMModels", "SMMTokenizers", "SMMFormat",
                                         "SMMJSON", "SMMKernels",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "smm-convert",
                          dependencies: ["SmartModelManager",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "SMMKernelsTests", dependencies: ["SMMKernels"]),
        .testTarget(name: "SMMTokenizersTests", dependencies: ["SMMTokenizers"]),
        .testTarget(name: "SMMJSONTests", dependencies: ["SMMJSON"]),
        .testTarget(name: "SMMFormatTests", dependencies: ["SMMFormat"]),
        .testTarget(name: "SMMModelsTests", dependencies: ["SMMModels", "SMMFormat", "SMMKernels", "SMMTokenizers"]),
        .testTarget(name: "SmartModelManagerTests", dependencies: ["SmartModelManager", "SMMModels", "SMMKernels"]),
        // The `smm` CLI's own logic (input splitting, option checks, generate's stop reporting),
        // through `@testable import smm`.
        .testTarget(name: "SMMCommandTests", dependencies: ["smm", "SMMModels", "SmartModelManager"]),
        // The server's routes, errors, batcher, auth and drain, in-process (router and live modes).
        .testTarget(name: "SMMServerTests",
                    dependencies: ["SMMServer", "SmartModelManager", "SMMModels", "SMMJSON",
                                   .product(name: "HummingbirdTesting", package: "hummingbird"),
                                   .product(name: "Logging", package: "swift-log")]),
    ],
    swiftLanguageModes: [.v6]
)
