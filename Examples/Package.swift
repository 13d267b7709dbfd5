// swift-tools-version:6.0
// Two programs that use SmartModelManager as an app would: by path, through its public API only.
// CI builds and runs them on the real all-MiniLM-L6-v2 (Tools/examples.sh), so a change that
// breaks the public API fails CI.
import PackageDescription

let package = Package(
    name: "Examples",
    platforms: [.macOS(.v15)],
    dependencies: [
        // `name:` because the checkout may be in a folder of any name (CI clones into a temporary one).
        .package(name: "SmartModelManager", path: ".."),
    ],
    targets: [
        // Semantic search over a few hundred sentences (Data/sentences.txt).
        .executableTarget(name: "SemanticSearch",
                          dependencies: [.product(name: "SmartModelManager", package: "SmartModelManager")]),
        // Sentiment of a headlines file, one headline per line (Data/headlines.txt).
        .executableTarget(name: "HeadlineSentiment",
                          dependencies: [.product(name: "SmartModelManager", package: "SmartModelManager")]),
    ]
)
