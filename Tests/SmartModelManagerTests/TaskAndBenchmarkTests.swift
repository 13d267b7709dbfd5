import Foundation
import Synchronization
import SMMKernels
import XCTest
@testable import SmartModelManager

final class TaskAPITests: XCTestCase {
    func testZeroShotSentimentWithAFakeEmbedderSaysItsMethod() async throws {
        let temp = try TempModels(["emb"])
        let manager = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine),
                                            catalog: try ModelCatalog(entries: [fakeEntry("emb", tasks: [.embedding, .sentiment], parametersM: 20)]))
        let results = try await manager.sentiment(["Shares rally on strong growth", "Stock plunges after big losses"])
        XCTAssertEqual(results.map(\.label), ["positive", "negative"])
        XCTAssertEqual(Set(results.map(\.method)), [.zeroShotEmbedding])
        XCTAssertTrue(results.allSatisfy { abs($0.scores.map(\.score).reduce(0, +) - 1) < 1e-4 })
        let mood = try await manager.marketMood(["good gains", "strong rally", "bad losses"])
        XCTAssertEqual(mood.mood, "bullish")
        XCTAssertEqual(mood.positiveShare, 2.0 / 3.0, accuracy: 1e-9)
        // No texts, no results; an empty or blank text is a text, as Hugging Face has it.
        let none = try await manager.sentiment([])
        XCTAssertEqual(none, [])
        let blank = try await manager.sentiment(["", "  "])
        XCTAssertEqual(blank.map(\.text), ["", "  "])
        XCTAssertEqual(blank.count, 2)
        let noClasses = try await manager.zeroShotClassify([], labels: .marketSentimentWithNeutral, task: .sentiment)
        XCTAssertEqual(noClasses.count, 0)
        do {
            _ = try await manager.embed([])
            XCTFail("an empty list has no model to name")
        } catch let error as ManagerError {
            XCTAssertEqual(error, .invalidInput("no texts given"))
        }
        do {
            _ = try await manager.classify(["x"], task: .sentiment)
            XCTFail("an embedder has no head")
        } catch let error as ManagerError {
            XCTAssertTrue(error.description.contains("classification head"), error.description)
        }
        let z = try await manager.zeroShotClassify(["good"], labels: .marketSentimentWithNeutral, task: .sentiment)
        XCTAssertEqual(z.first?.scores.count, 3)
    }

    func testRandomWeightModelsAreOnlyUsedWhenAllowedAndAreFlagged() async throws {
        let temp = try TempModels()
        try temp.add("rand-gen", random: true)
        let manager = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine),
                                            catalog: try ModelCatalog(entries: [fakeEntry("rand-gen", tasks: [.generation],
                                                                                          parametersM: 10, architecture: "gpt2")]))
        do {
            _ = try await manager.generate("hi")
            XCTFail("random weights are rejected by default")
        } catch let error as ManagerError {
            XCTAssertTrue(error.description.contains("random"), error.description)
        }
        await manager.setRequirements(SelectionRequirements(task: .generation, allowRandomWeights: true))
        let out = try await manager.generate("hi")
        XCTAssertTrue(out.weightsAreRandom)
        XCTAssertEqual(out.text, "rand-gen:hi")
    }

    func testMarketMoodArithmetic() {
        func r(_ label: String, _ score: Float) -> SentimentResult {
            SentimentResult(text: "", label: label, score: score, scores: [], model: "m", dtype: .f32, method: .classifier,
                            confident: true, weightsAreRandom: false)
        }
        let bear = MarketMood(results: [r("negative", 0.9), r("negative", 0.8), r("positive", 0.7), r("negative", 0.6)])
        XCTAssertEqual(bear.mood, "bearish")
        XCTAssertEqual(bear.netSentiment, -0.5, accuracy: 1e-9)
        XCTAssertEqual(bear.confidence, 0.75 * 0.75, accuracy: 1e-6)
        let mixed = MarketMood(results: [r("negative", 1), r("positive", 1)])
        XCTAssertEqual(mixed.mood, "mixed")
        XCTAssertEqual(mixed.confidence, 1, accuracy: 1e-9)
        XCTAssertEqual(MarketMood(results: []).confidence, 0)
        XCTAssertEqual(ModelManager.sentimentLabel("LABEL_1"), "positive")
        XCTAssertEqual(ModelManager.sentimentLabel("NEGATIVE"), "negative")
    }

    func testLabelledHeadlinesFixture() throws {
        let samples = try LabelledText.readJSONL(repositoryRoot.appendingPathComponent("Tests/Fixtures/sentiment/market_headlines.jsonl"))
        let scored = samples.filter { $0.label != "neutral" }
        XCTAssertGreaterThanOrEqual(scored.count, 100)
        XCTAssertEqual(Set(samples.map(\.label)), ["positive", "negative", "neutral"])
        XCTAssertEqual(Set(samples.map(\.text)).count, samples.count, "no duplicates")
        let demo = try String(contentsOf: repositoryRoot.appendingPathComponent("Weights/headlines.txt"), encoding: .utf8)
        XCTAssertGreaterThanOrEqual(demo.split(separator: "\n").count, 15)
    }
}

final class BenchmarkTests: XCTestCase {
    func testBenchmarksPersistAndReplaceEstimates() async throws {
        let temp = try TempModels(["cls"])
        let catalog = try ModelCatalog(entries: [fakeEntry("cls", tasks: [.sentiment], parametersM: 25,
                                                           labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.9)])
        var backend = FakeBackend()
        backend.delays = ["cls": .milliseconds(3)]
        let config = temp.configuration { $0.maxInferenceTimeMs = 1000 }
        let manager = try ModelManager(configuration: config, backend: backend,
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine), catalog: catalog)
        let before = try await manager.modelRecommendations(for: SelectionRequirements(task: .sentiment))
        XCTAssertEqual(before.chosen?.latencyMeasured, false)
        let progress = ProgressLog()
        let results = try await manager.runQuickBenchmark(runs: 3) { progress.add($0) }
        XCTAssertEqual(results.count, 1)
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.key, ModelKey("cls"))
        XCTAssertEqual(r.runs, 3)
        XCTAssertGreaterThanOrEqual(r.medianMs, 3)
        XCTAssertGreaterThanOrEqual(r.p90Ms, r.medianMs)
        XCTAssertEqual(r.accuracy, 1, "the fake classifier gets the built-in headlines right")
        XCTAssertEqual(r.accuracySamples, LabelledText.quickSentimentSet.count)
        XCTAssertEqual(r.recommendation, .optimal)
        XCTAssertEqual(progress.items.withLock { $0.map(\.completed) }, [0, 1])
        let file = temp.cache.appendingPathComponent("benchmarks.json")
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path))

        // A new manager on the same machine and files picks the benchmark up.
        let fresh = try ModelManager(configuration: config, backend: backend,
                                          systemProbe: FixedSystemProbe(SwitchingTests.fastMachine), catalog: catalog)
        let after = try await fresh.modelRecommendations(for: SelectionRequirements(task: .sentiment))
        XCTAssertEqual(after.chosen?.latencyMeasured, true)
        XCTAssertTrue(after.chosen?.accuracySource?.contains("measured") ?? false)
        let info = try await fresh.modelInfo("cls")
        XCTAssertEqual(info.benchmarks.count, 1)

        // Replacing the file changes its checksum: the old benchmark no longer applies.
        try Data(repeating: 9, count: 2048).write(to: temp.models.appendingPathComponent("cls/model.safetensors"))
        let changed = try ModelManager(configuration: config, backend: backend,
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine), catalog: catalog)
        let stale = try await changed.modelRecommendations(for: SelectionRequirements(task: .sentiment))
        XCTAssertEqual(stale.chosen?.latencyMeasured, false)
    }

    func testRecommendationsTooSlowAndTooBig() async throws {
        let temp = try TempModels(["cls"])
        let catalog = try ModelCatalog(entries: [fakeEntry("cls", tasks: [.sentiment], parametersM: 25,
                                                           labels: ["NEGATIVE", "POSITIVE"])])
        var backend = FakeBackend()
        backend.delays = ["cls": .milliseconds(5)]
        let slow = try ModelManager(configuration: temp.configuration { $0.maxInferenceTimeMs = 2 }, backend: backend,
                                         systemProbe: FixedSystemProbe(SwitchingTests.fastMachine), catalog: catalog)
        let r = try await slow.runQuickBenchmark(models: ["cls"], runs: 2)
        XCTAssertEqual(r.first?.recommendation, .tooSlow)
        let big = try ModelManager(configuration: temp.configuration { $0.maxMemoryUsageBytes = 50_000_000 },
                                        backend: FakeBackend(), systemProbe: FixedSystemProbe(SwitchingTests.fastMachine),
                                        catalog: catalog)
        do {
            _ = try await big.runQuickBenchmark(models: ["cls"], runs: 1)
            XCTFail("100 MB cannot load under maxMemoryUsageBytes 50 MB")
        } catch let error as ManagerError {
            XCTAssertTrue(error.description.contains("maxMemoryUsageBytes"), error.description)
        }
    }
}

final class ProgressLog: Sendable {
    let items = Locked<[BenchmarkProgress]>([])
    func add(_ p: BenchmarkProgress) { items.withLock { $0.append(p) } }
}
