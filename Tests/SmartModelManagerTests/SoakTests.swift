// A soak of the manager on the real engine: 16 concurrent tasks send mixed requests over 3 models
// whose budget holds only 2 (so models are evicted and reloaded throughout), with a forced switch
// in the middle, while a sampler watches the cache's bytes. Every request must be answered, with
// the same numbers as the model gives alone, and the cache must never go over its budget.
//
// SMM_SOAK_REQUESTS sets the count (default 2,000, the CI run); `bash Tools/tsan_soak.sh` runs it
// under ThreadSanitizer with a longer count.
import Foundation
import SMMModels
import Synchronization
import SMMKernels
import XCTest
@testable import SmartModelManager

/// The soak's shared counters (one object, so that every task refers to the same ones).
private final class SoakCounters: Sendable {
    let next = Atomic<Int>(0)
    let answered = Atomic<Int>(0)
    let mismatches = Locked<[String]>([])
    let sampling = Atomic<Bool>(true)
    let switched = Atomic<Bool>(false)
}

final class SoakTests: XCTestCase {
    private func fixture(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/\(name)")
    }

    func testSixteenTasksOverThreeModelsWithEvictionsAndASwitch() async throws {
        let requests = Int(ProcessInfo.processInfo.environment["SMM_SOAK_REQUESTS"] ?? "") ?? 2000
        let workers = 16
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smm-soak-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // Three models: two classifiers and an embedder, each its own file.
        var entries: [CatalogEntry] = []
        for (id, source, tasks) in [("bert", "tiny-bert", [ModelTask.classification]),
                                    ("distilbert", "tiny-distilbert", [ModelTask.classification]),
                                    ("embedder", "tiny-bert", [ModelTask.embedding])] {
            let file = dir.appendingPathComponent("\(id).smm")
            try ModelConverter.convert(directory: fixture(source), to: file)
            let bytes = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber).intValue
            entries.append(CatalogEntry(id: id, source: "test", architecture: source == "tiny-bert" ? "bert" : "distilbert",
                                        tasks: tasks, parameters: bytes / 4, sizeBytes: DTypeSizes(f32: bytes),
                                        activationBytes: 1 << 20, path: file.path,
                                        labels: ["negative", "neutral", "positive"], maxTokens: 64))
        }
        let charged = entries.map { ModelSelector.memoryBytes($0, .f32) }
        let budget = charged.sorted().suffix(2).reduce(0, +) + charged.min()! / 2   // two fit, never three
        var configuration = ManagerConfiguration()
        configuration.modelsDirectory = dir
        configuration.maxCacheSizeBytes = budget
        let manager = try ModelManager(configuration: configuration, catalog: try ModelCatalog(entries: entries))
        try await manager.mapTask("sentiment-a", to: .classification, model: "bert")
        try await manager.mapTask("sentiment-b", to: .classification, model: "distilbert")
        try await manager.mapTask("vectors", to: .embedding, model: "embedder")
        let tasks: [ModelTask] = ["sentiment-a", "sentiment-b", "vectors"]
        let texts = ["Shares rally on strong growth", "Stock plunges after big losses", "", "Flat day for bonds"]

        // What each model answers alone, before any concurrency.
        var alone: [String: [[Float]]] = [:]
        for task in tasks {
            for text in texts {
                alone[task.rawValue, default: []].append(task == "vectors" ? try await manager.embed([text], task: task).vectors[0]
                    : try await manager.classify([text], task: task)[0].scores.map(\.score))
            }
        }
        let reference = alone
        let distilbertAlone = reference["sentiment-b"]!

        let counters = SoakCounters()
        let sampler = Task.detached { () -> (max: Int, samples: Int) in
            var most = 0, samples = 0
            while counters.sampling.load(ordering: .relaxed) {
                let stats = await manager.cacheStatistics()
                most = max(most, stats.bytesHeld + stats.bytesReserved)
                samples += 1
                try? await Task.sleep(for: .milliseconds(1))
            }
            return (most, samples)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<workers {
                group.addTask {
                    while true {
                        let i = counters.next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if i >= requests { return }
                        if i == requests / 2, !counters.switched.exchange(true, ordering: .relaxed) {
                            // The forced switch: sentiment-a moves to the other classifier.
                            try await manager.switchModel("distilbert", forTask: "sentiment-a", reason: "soak: forced switch")
                        }
                        let task = tasks[i % tasks.count]
                        let text = texts[(i / tasks.count) % texts.count]
                        let j = texts.firstIndex(of: text)!
                        let got: [Float]
                        let model: String
                        if task == "vectors" {
                            let r = try await manager.embed([text], task: task)
                            got = r.vectors[0]
                            model = r.model
                        } else {
                            let r = try await manager.classify([text], task: task)
                            got = r[0].scores.map(\.score)
                            model = r[0].model
                        }
                        let expected = model == "distilbert" ? distilbertAlone[j] : reference[task.rawValue]![j]
                        if got != expected { counters.mismatches.withLock { $0.append("request \(i) on \(model): \(got) vs \(expected)") } }
                        counters.answered.wrappingAdd(1, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        counters.sampling.store(false, ordering: .relaxed)
        let watched = await sampler.value
        let stats = await manager.cacheStatistics()
        XCTAssertEqual(counters.answered.load(ordering: .relaxed), requests, "every request answered")
        XCTAssertEqual(counters.mismatches.withLock { $0 }, [], "answers under load equal the model's alone")
        XCTAssertLessThanOrEqual(watched.max, budget, "sampled cache bytes within the budget")
        XCTAssertLessThanOrEqual(stats.peakBytes, budget)
        XCTAssertGreaterThan(watched.samples, 0)
        XCTAssertGreaterThan(stats.evictions, 10, "the budget forced evictions")
        let assignment = await manager.assignments().first { $0.task == "sentiment-a" }
        XCTAssertEqual(assignment?.model.id, "distilbert", "the forced switch held")
        print("soak: \(requests) requests from \(workers) tasks, \(stats.evictions) evictions, \(stats.misses) loads, "
              + "peak \(stats.peakBytes) of \(budget) bytes, \(watched.samples) samples (max \(watched.max))")
    }
}
