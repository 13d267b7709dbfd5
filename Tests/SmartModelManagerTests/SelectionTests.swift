import Foundation
import XCTest
@testable import SmartModelManager

final class SelectionTests: XCTestCase {
    var temp: TempModels!
    var catalog: ModelCatalog!

    override func setUpWithError() throws {
        temp = try TempModels(["small-emb", "classifier", "big", "gen", "needs-cores", "needs-memory", "low-acc", "quant"])
        try temp.add("random", random: true)
        catalog = try ModelCatalog(entries: [
            fakeEntry("small-emb", tasks: [.embedding, .sentiment], parametersM: 20),
            fakeEntry("classifier", tasks: [.sentiment, .classification], parametersM: 60, labels: ["NEGATIVE", "POSITIVE"],
                      accuracy: 0.91),
            fakeEntry("big", tasks: [.sentiment], parametersM: 300, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.95),
            fakeEntry("gen", tasks: [.generation], parametersM: 80, architecture: "gpt2"),
            fakeEntry("missing", tasks: [.sentiment], parametersM: 10),
            fakeEntry("random", tasks: [.sentiment], parametersM: 10, labels: ["NEGATIVE", "POSITIVE"]),
            fakeEntry("needs-cores", tasks: [.sentiment], parametersM: 10, minCores: 64),
            fakeEntry("needs-memory", tasks: [.sentiment], parametersM: 10, minMemoryMB: 1 << 20),
            fakeEntry("low-acc", tasks: [.sentiment], parametersM: 10, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.5),
            fakeEntry("quant", tasks: [.sentiment], parametersM: 30, int8: true),
        ])
    }

    func context(_ info: SystemInfo = Machines.midRange, thresholds: PerformanceThresholds = PerformanceThresholds(minAccuracy: 0.8),
                 supported: Set<ModelDType> = [.f32], failed: [ModelKey: String] = [:],
                 benchmarks: [ModelKey: BenchmarkResult] = [:], preference: TaskPreference? = nil) -> SelectionContext {
        let models = catalog.entries.map { ($0, ModelAvailability.check($0, modelsDirectory: temp.models)) }
        return SelectionContext(models: models, analysis: SystemAnalysis(info: info), thresholds: thresholds,
                                preference: preference, memoryLimits: [MemoryLimit(bytes: 4 << 30, source: "MAX_MODEL_CACHE_SIZE")],
                                supportedDTypes: supported, benchmarks: benchmarks, failedLoads: failed)
    }

    func reasons(_ result: SelectionResult) -> [String: RejectionReason] {
        Dictionary(result.rejections.map { ($0.modelID + ($0.dtype.map { "/" + $0.rawValue } ?? ""), $0.reason) },
                   uniquingKeysWith: { a, _ in a })
    }

    func testEveryRejectionReason() {
        let result = ModelSelector.select(SelectionRequirements(task: .sentiment, maxLatencyMs: 50, memoryLimitBytes: 1 << 30),
                                          context: context(failed: [ModelKey("classifier"): "boom"]))
        let r = reasons(result)
        XCTAssertEqual(r["gen"], .incompatibleTask)
        XCTAssertEqual(r["missing"], .fileMissing)
        XCTAssertEqual(r["random"], .randomWeights)
        XCTAssertEqual(r["needs-cores"], .notEnoughCores)
        XCTAssertEqual(r["needs-memory"], .notEnoughMemory)
        XCTAssertEqual(r["low-acc/f32"], .belowMinAccuracy)
        XCTAssertEqual(r["big/f32"], .tooBig, "\(result.explanation)")  // 1.2 GB > 1 GB requirement
        XCTAssertEqual(r["quant/int8"], .unsupportedDType)
        XCTAssertEqual(r["classifier/f32"], .loadFailed)
        XCTAssertTrue(result.rejections.first { $0.modelID == "big" }?.message.contains("the requirements' memoryLimitBytes") ?? false)
        XCTAssertEqual(Set(result.candidates.map(\.key.id)), ["small-emb", "quant"])

        let slow = ModelSelector.select(SelectionRequirements(task: .sentiment, maxLatencyMs: 0.001), context: context())
        XCTAssertTrue(slow.candidates.isEmpty)
        XCTAssertEqual(reasons(slow)["small-emb/f32"], .tooSlow)
        XCTAssertTrue(slow.explanation.contains("too slow"), slow.explanation)
        print(result.explanation)
    }

    func testPriorityChangesTheRanking() {
        let speed = ModelSelector.select(SelectionRequirements(task: .sentiment, priority: .speed), context: context())
        let accuracy = ModelSelector.select(SelectionRequirements(task: .sentiment, priority: .accuracy), context: context())
        XCTAssertEqual(speed.chosen?.key.id, "small-emb")
        XCTAssertEqual(accuracy.chosen?.key.id, "big")
        XCTAssertEqual(speed.chosen?.method, .zeroShotEmbedding)
        XCTAssertEqual(accuracy.chosen?.method, .classifier)
        XCTAssertTrue(accuracy.chosen?.reasons.contains { $0.contains("accuracy 95.0%") } ?? false)
        // Candidates are sorted by score, and every candidate has reasons.
        XCTAssertEqual(speed.candidates.map(\.score), speed.candidates.map(\.score).sorted(by: >))
        XCTAssertTrue(speed.candidates.allSatisfy { !$0.reasons.isEmpty })
    }

    func testLatencyEstimateFromFlopsAndBenchmarkReplacement() {
        let ctx = context(Machines.highEnd)
        let result = ModelSelector.select(SelectionRequirements(task: .sentiment, priority: .speed, inputTokens: 100), context: ctx)
        guard let small = result.candidates.first(where: { $0.key.id == "small-emb" }) else {
            return XCTFail(result.explanation)
        }
        // 2 × 20M × 100 tokens at 900 × 0.5 GFLOP/s.
        XCTAssertEqual(small.latencyMs, 2 * 20e6 * 100 / (900 * 0.5 * 1e9) * 1000, accuracy: 1e-6)
        XCTAssertFalse(small.latencyMeasured)
        let bench = BenchmarkResult(key: ModelKey("small-emb"), machineID: "m", checksum: "c", date: 0, loadMs: 1,
                                    warmupMs: 1, runs: 5, tokens: 50, medianMs: 40, p90Ms: 45, meanMs: 41,
                                    memoryDeltaBytes: 0, memoryBytes: 0, averageConfidence: 0.8, accuracy: 0.85,
                                    accuracySamples: 16, recommendation: .acceptable, notes: [])
        let measured = ModelSelector.select(SelectionRequirements(task: .sentiment, inputTokens: 100),
                                            context: context(Machines.highEnd, benchmarks: [ModelKey("small-emb"): bench]))
        guard let c = measured.candidates.first(where: { $0.key.id == "small-emb" }) else {
            return XCTFail(measured.explanation)
        }
        XCTAssertTrue(c.latencyMeasured)
        XCTAssertEqual(c.latencyMs, 80, accuracy: 1e-9)  // 40 ms for 50 tokens, scaled to 100
        XCTAssertEqual(c.accuracy, 0.85)
        XCTAssertTrue(c.accuracySource?.contains("measured") ?? false)
        // CPU pressure lowers the effective GFLOP/s.
        var busy = Machines.highEnd
        busy.loadAverage = [64, 64, 64]
        XCTAssertEqual(SystemAnalysis(info: busy).effectiveGFLOPS, 900.0 / 2, accuracy: 1e-9)  // load 64 on 32 usable cores
    }

    func testGenerationEstimateIncludesDecodeAndTiersLeanDifferently() {
        let gen = ModelSelector.select(SelectionRequirements(task: .generation, inputTokens: 10, newTokens: 20),
                                       context: context(Machines.lowEnd, thresholds: PerformanceThresholds(maxInferenceTimeMs: 1e9)))
        guard let c = gen.chosen else { return XCTFail(gen.explanation) }
        XCTAssertEqual(c.method, .generation)
        let prefill = 2 * 80e6 * 10 / (3 * 0.5 * 1e9)
        let perToken = max(2 * 80e6 / (3 * 0.5 * 1e9), 320e6 / 2e9)
        XCTAssertEqual(c.latencyMs, (prefill + 20 * perToken) * 1000, accuracy: 1e-6)
        XCTAssertEqual(gen.tier, .lowEnd)
        XCTAssertTrue(c.reasons.contains { $0.contains("low-end machine") })
    }

    func testBF16IsPreferredOverF32WhereAMXRunsItAndTiesElsewhere() throws {
        // A model offered in f32 and bf16 (bf16's quality is f32's: worst MiniLM cosine 0.99998).
        catalog = try ModelCatalog(entries: catalog.entries.map { entry in
            var e = entry
            if e.id == "quant" { e.sizeBytes.bf16 = (e.sizeBytes.f32 ?? 0) / 2 }
            return e
        })
        var amx = Machines.highEnd
        amx.cpuFlags += ["avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]
        let withAMX = ModelSelector.select(SelectionRequirements(task: .sentiment), context: context(amx, supported: [.f32, .bf16]))
        let bf16 = try XCTUnwrap(withAMX.candidates.first { $0.key == ModelKey("quant", .bf16) }, withAMX.explanation)
        let f32 = try XCTUnwrap(withAMX.candidates.first { $0.key == ModelKey("quant", .f32) }, withAMX.explanation)
        XCTAssertEqual(bf16.latencyMs / f32.latencyMs, 0.45, accuracy: 1e-9, "AMX-BF16's measured time factor")
        XCTAssertGreaterThan(bf16.score, f32.score)
        // Without AMX-BF16 (AVX512_BF16 only) bf16 is not assumed faster.
        var zen4 = Machines.highEnd
        zen4.cpuFlags.append("avx512_bf16")
        let without = ModelSelector.select(SelectionRequirements(task: .sentiment), context: context(zen4, supported: [.f32, .bf16]))
        let b = try XCTUnwrap(without.candidates.first { $0.key == ModelKey("quant", .bf16) })
        let f = try XCTUnwrap(without.candidates.first { $0.key == ModelKey("quant", .f32) })
        XCTAssertEqual(b.latencyMs, f.latencyMs, accuracy: 1e-9)
    }

    func testQ4IsChosenOnlyWhenMemoryNeedsItOrThePriorityIsSpeed() throws {
        // The generation model offered in f32 (320 MB), int8 (80 MB) and q4 (45 MB).
        catalog = try ModelCatalog(entries: catalog.entries.map { entry in
            var e = entry
            if e.id == "gen" { e.sizeBytes.int8 = e.parameters; e.sizeBytes.q4 = e.parameters / 32 * 18 }
            return e
        })
        let all: Set<ModelDType> = [.f32, .int8, .q4]
        let balanced = ModelSelector.select(SelectionRequirements(task: .generation, allowRandomWeights: true),
                                            context: context(Machines.highEnd, supported: all))
        XCTAssertNotEqual(balanced.chosen?.key.dtype, .q4, balanced.explanation)
        XCTAssertNotNil(balanced.chosen, balanced.explanation)
        XCTAssertEqual(reasons(balanced)["gen/q4"], .q4NotNeeded)
        let message = try XCTUnwrap(balanced.rejections.first { $0.reason == .q4NotNeeded }?.message)
        XCTAssertTrue(message.contains("f32, int8"), message)
        // A memory limit that only q4 fits.
        let tight = ModelSelector.select(SelectionRequirements(task: .generation, memoryLimitBytes: 60_000_000,
                                                               allowRandomWeights: true),
                                         context: context(Machines.highEnd, supported: all))
        XCTAssertEqual(tight.chosen?.key, ModelKey("gen", .q4), tight.explanation)
        // Priority speed: decode reads fewer bytes in q4, so it is estimated fastest and chosen.
        let speed = ModelSelector.select(SelectionRequirements(task: .generation, priority: .speed, allowRandomWeights: true),
                                         context: context(Machines.highEnd, supported: all))
        XCTAssertEqual(speed.chosen?.key, ModelKey("gen", .q4), speed.explanation)
        let q4 = try XCTUnwrap(speed.candidates.first { $0.key.dtype == .q4 })
        let int8 = try XCTUnwrap(speed.candidates.first { $0.key.dtype == .int8 })
        XCTAssertLessThan(q4.latencyMs, int8.latencyMs)
        // Where the backend has no fast q4 kernel it is not offered.
        let without = ModelSelector.select(SelectionRequirements(task: .generation, priority: .speed, allowRandomWeights: true),
                                           context: context(Machines.highEnd, supported: [.f32, .int8]))
        XCTAssertEqual(reasons(without)["gen/q4"], .unsupportedDType)
    }

    func testPreferencesAndDTypes() {
        let preferred = ModelSelector.select(SelectionRequirements(task: .sentiment, priority: .speed),
                                             context: context(preference: TaskPreference(preferred: ["classifier"])))
        XCTAssertEqual(preferred.chosen?.key.id, "classifier")
        let both = ModelSelector.select(SelectionRequirements(task: .sentiment, priority: .speed),
                                        context: context(Machines.highEnd, supported: [.f32, .int8]))
        let quant = both.candidates.filter { $0.key.id == "quant" }.map(\.key.dtype)
        XCTAssertEqual(Set(quant), [.f32, .int8])
        guard let int8 = both.candidates.first(where: { $0.key == ModelKey("quant", .int8) }),
              let f32 = both.candidates.first(where: { $0.key == ModelKey("quant", .f32) }) else {
            return XCTFail(both.explanation)
        }
        XCTAssertLessThan(int8.latencyMs, f32.latencyMs, "VNNI makes int8 faster")
        XCTAssertLessThan(int8.memoryBytes, f32.memoryBytes)
    }

    func testSelectionThroughTheManagerAndItsOverhead() async throws {
        let manager = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(Machines.midRange), catalog: catalog)
        _ = try await manager.analyzeSystem()
        let req = SelectionRequirements(task: .sentiment)
        let iterations = 2000
        let start = ContinuousClock.now
        for _ in 0..<iterations { _ = try await manager.recommend(req) }
        let elapsed = ContinuousClock.now - start
        let perCall = Double(elapsed.components.attoseconds) / 1e12 / Double(iterations)
            + Double(elapsed.components.seconds) * 1e6 / Double(iterations)
        print("selection with analysis cached: \(String(format: "%.1f", perCall)) µs per call (\(catalog.entries.count) models)")
        let result = try await manager.selectOptimalModel(for: req)
        XCTAssertNotNil(result.chosen)
        let assignments = await manager.assignments()
        XCTAssertEqual(assignments.first?.model, result.chosen?.key)
        do {
            _ = try await manager.selectOptimalModel(for: SelectionRequirements(task: "translation"))
            XCTFail("no model translates")
        } catch let error as ManagerError {
            guard case .noCandidate(let task, let reasons) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(task, "translation")
            XCTAssertFalse(reasons.isEmpty)
        }
        let compatibility = try await manager.checkCompatibility("needs-cores")
        XCTAssertFalse(compatibility.compatible)
        XCTAssertEqual(compatibility.issues.first?.reason, .notEnoughCores)
        let ok = try await manager.checkCompatibility("classifier")
        XCTAssertTrue(ok.compatible)
        XCTAssertEqual(Set(ok.usable.keys), [.sentiment, .classification])
    }

    func testCustomTaskNamesMapToTasksAndModels() async throws {
        let manager = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(Machines.midRange), catalog: catalog)
        try await manager.mapTask("news-tone", to: .sentiment, model: "classifier")
        let results = try await manager.sentiment(["good strong gains"], task: "news-tone")
        XCTAssertEqual(results.first?.model, "classifier")
        XCTAssertEqual(results.first?.label, "positive")
        XCTAssertEqual(results.first?.method, .classifier)
        do {
            try await manager.mapTask("x", to: .generation, model: "classifier")
            XCTFail("classifier cannot generate")
        } catch {
            XCTAssertEqual(error as? ManagerError, .unsupportedTask(model: "classifier", task: "generation"))
        }
        try await manager.mapTask("headline-vectors", to: .embedding)
        let e = try await manager.embed(["hello"], task: "headline-vectors")
        XCTAssertEqual(e.model, "small-emb")
    }
}
