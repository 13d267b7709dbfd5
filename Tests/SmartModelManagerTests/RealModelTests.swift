// Tests with the real all-MiniLM-L6-v2 (fetched by Tools/fetch_minilm.sh). They skip when the
// model is absent, and fail instead when SMM_REQUIRE_REAL_MODELS=1.
import Foundation
import XCTest
@testable import SmartModelManager

final class RealModelTests: XCTestCase {
    static let modelsDirectory = repositoryRoot.appendingPathComponent("Weights/models")
    static let headlines = repositoryRoot.appendingPathComponent("Tests/Fixtures/sentiment/market_headlines.jsonl")

    func requireRealModel() throws { try Self.requireRealModel() }

    static func requireRealModel() throws {
        let path = Self.modelsDirectory.appendingPathComponent("all-MiniLM-L6-v2/model.safetensors").path
        if FileManager.default.fileExists(atPath: path) { return }
        if ProcessInfo.processInfo.environment["SMM_REQUIRE_REAL_MODELS"] == "1" {
            XCTFail("SMM_REQUIRE_REAL_MODELS=1 but \(path) is missing; run bash Tools/fetch_minilm.sh")
            throw XCTSkip("failed above")
        }
        throw XCTSkip("the real all-MiniLM-L6-v2 is not at \(path) (bash Tools/fetch_minilm.sh)")
    }

    func makeManager() throws -> ModelManager { try Self.makeManager() }

    static func makeManager() throws -> ModelManager {
        var c = ManagerConfiguration()
        c.modelsDirectory = modelsDirectory
        c.cacheDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("smm-real-\(UUID().uuidString)")
        c.logLevel = .error
        c.maxInferenceTimeMs = 60_000
        let info = SystemInfo(logicalCores: 2, totalMemoryBytes: 8 << 30,
                              throughput: ThroughputProbe(singleCoreGFLOPS: 50, multiCoreGFLOPS: 100, memoryBandwidthGBps: 10))
        return try ModelManager(configuration: c, systemProbe: FixedSystemProbe(info), catalog: .builtIn)
    }

    /// Zero-shot sentiment with the real MiniLM on the labelled market headlines must reach 85%.
    func testZeroShotSentimentAccuracyOnMarketHeadlines() async throws {
        try requireRealModel()
        let samples = try LabelledText.readJSONL(Self.headlines).filter { $0.label != "neutral" }
        XCTAssertGreaterThanOrEqual(samples.count, 100)
        let manager = try makeManager()
        let results = try await manager.sentiment(samples.map(\.text))
        XCTAssertEqual(Set(results.map(\.method)), [.zeroShotEmbedding])
        XCTAssertEqual(Set(results.map(\.model)), ["all-MiniLM-L6-v2"])
        var correct = 0
        for (r, s) in zip(results, samples) {
            if r.label == s.label { correct += 1 } else {
                print("miss: [\(s.label)] \(s.text) → \(r.label) \(r.score)")
            }
        }
        let accuracy = Double(correct) / Double(samples.count)
        print("zero-shot sentiment accuracy (all-MiniLM-L6-v2): \(correct)/\(samples.count) = \(String(format: "%.1f%%", accuracy * 100))")
        XCTAssertGreaterThanOrEqual(accuracy, 0.85)
    }

    /// On this machine, with the repository's catalog and the live probe, sentiment goes to MiniLM by
    /// zero-shot, and the random-weight or missing models are rejected with their reasons.
    func testSelectionOnThisMachineWithTheRepositoryCatalog() async throws {
        try requireRealModel()
        var c = ManagerConfiguration()
        c.modelsDirectory = Self.modelsDirectory
        c.cacheDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("smm-real-\(UUID().uuidString)")
        c.catalogPath = repositoryRoot.appendingPathComponent("Weights/catalog.json")
        c.logLevel = .error
        let manager = try ModelManager(configuration: c)
        let result = try await manager.modelRecommendations(for: SelectionRequirements(task: .sentiment))
        print(result.explanation)
        XCTAssertEqual(result.chosen?.key.id, "all-MiniLM-L6-v2")
        XCTAssertEqual(result.chosen?.method, .zeroShotEmbedding)
        let sst2 = result.rejections.first { $0.modelID == "distilbert-base-uncased-finetuned-sst-2-english" }
        XCTAssertTrue([.fileMissing, .randomWeights].contains(sst2?.reason), "\(String(describing: sst2))")
        XCTAssertEqual(result.rejections.first { $0.modelID == "distilgpt2" }?.reason, .incompatibleTask)
    }

    /// The quick benchmark on the real model measures latency and accuracy and persists them; the
    /// market mood of the README's sample headlines comes out of the same model.
    func testQuickBenchmarkAndMarketMoodWithTheRealModel() async throws {
        try requireRealModel()
        let manager = try makeManager()
        let results = try await manager.runQuickBenchmark(models: ["all-MiniLM-L6-v2"], runs: 3)
        let r = try XCTUnwrap(results.first)
        print("benchmark: load \(r.loadMs) ms, median \(r.medianMs) ms, accuracy \(r.accuracy ?? -1), \(r.recommendation)")
        XCTAssertGreaterThanOrEqual(r.accuracy ?? 0, 0.8)
        XCTAssertGreaterThan(r.medianMs, 0)
        let after = try await manager.modelRecommendations(for: SelectionRequirements(task: .sentiment))
        XCTAssertEqual(after.chosen?.latencyMeasured, true)
        let headlines = try String(contentsOf: repositoryRoot.appendingPathComponent("Weights/headlines.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        let mood = try await manager.marketMood(headlines)
        print("market mood of Weights/headlines.txt: \(mood.mood), \(mood.positiveShare) positive, \(mood.negativeShare) negative, "
              + "confidence \(mood.confidence)")
        XCTAssertEqual(mood.count, headlines.count)
        XCTAssertEqual(mood.method, .zeroShotEmbedding)
    }

    /// A text past the model's 256 tokens is reported as truncated by sentiment and embed, the
    /// others are not (the manager used to cut them without saying so).
    func testTruncationIsReportedThroughTheManager() async throws {
        try requireRealModel()
        let manager = try makeManager()
        let long = Array(repeating: "shares rallied", count: 300).joined(separator: " ")
        let sentiment = try await manager.sentiment(["Stocks rose.", long])
        XCTAssertEqual(sentiment.map(\.truncated), [false, true])
        let embedded = try await manager.embed(["Stocks rose.", long])
        XCTAssertEqual(embedded.truncated, [false, true])
        XCTAssertEqual(embedded.vectors.count, 2)
    }

}
