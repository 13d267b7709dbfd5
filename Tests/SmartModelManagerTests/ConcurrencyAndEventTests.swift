import Foundation
import Synchronization
import XCTest
@testable import SmartModelManager

final class ConcurrencyTests: XCTestCase {
    /// 200 mixed requests from 16 tasks while the budget forces evictions and a switch happens.
    func testTwoHundredMixedRequestsFromSixteenTasks() async throws {
        let entries = [
            fakeEntry("cls", tasks: [.sentiment, .classification], parametersM: 25, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.9),
            fakeEntry("cls2", tasks: [.sentiment, .classification], parametersM: 25, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.85),
            fakeEntry("emb", tasks: [.embedding, .sentiment], parametersM: 25),
            fakeEntry("emb2", tasks: [.embedding], parametersM: 25),
            fakeEntry("gen", tasks: [.generation], parametersM: 25, architecture: "gpt2"),
        ]
        let temp = try TempModels(entries.map(\.id))
        var backend = FakeBackend()
        backend.delays = ["cls": .milliseconds(2), "cls2": .milliseconds(1), "emb": .milliseconds(1),
                          "emb2": .milliseconds(2), "gen": .milliseconds(3)]
        backend.loadDelay = .milliseconds(2)
        // 100 MB per model, 300 MB budget: five models in use → evictions.
        let config = temp.configuration {
            $0.maxCacheSizeBytes = 300_000_000
            $0.maxInferenceTimeMs = 10_000
            if ProcessInfo.processInfo.environment["SMM_TEST_DEBUG"] == "1" { $0.logLevel = .debug }
        }
        let manager = try ModelManager(configuration: config, backend: backend,
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine),
                                            catalog: try ModelCatalog(entries: entries))
        try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: .accuracy))
        try await manager.mapTask("vectors-2", to: .embedding, model: "emb2")
        let recorder = EventRecorder(manager.events)
        final class Progress: Sendable {
            let completed = Atomic<Int>(0)
            let switched = Atomic<Bool>(false)
        }
        let progress = Progress()

        try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    var done = 0
                    for i in 0..<(200 / 16 + (worker < 200 % 16 ? 1 : 0)) {
                        let n = worker * 100 + i
                        let positive = n % 2 == 0
                        let text = positive ? "good strong gains \(n)" : "bad weak losses \(n)"
                        switch n % 5 {
                        case 0:
                            let r = try await manager.sentiment([text])
                            XCTAssertEqual(r.first?.label, positive ? "positive" : "negative")
                            XCTAssertTrue(["cls", "cls2"].contains(r.first?.model ?? ""))
                        case 1:
                            let r = try await manager.embed([text])
                            XCTAssertEqual(r.vectors, [fakeEmbedding(text, salt: 0)])
                            XCTAssertEqual(r.model, "emb")
                        case 2:
                            let r = try await manager.embed([text], task: "vectors-2")
                            XCTAssertEqual(r.vectors, [fakeEmbedding(text, salt: 0)])
                            XCTAssertEqual(r.model, "emb2")
                        case 3:
                            let r = try await manager.generate("prompt \(n)", options: TextGenerationOptions(maxNewTokens: 4))
                            XCTAssertEqual(r.text, "gen:prompt \(n)")
                        default:
                            let r = try await manager.classify([text])
                            XCTAssertEqual(r.first?.label, positive ? "POSITIVE" : "NEGATIVE")
                        }
                        done += 1
                        if progress.completed.add(1, ordering: .relaxed).newValue == 100,
                           !progress.switched.exchange(true, ordering: .relaxed) {
                            try await manager.switchModel("cls2", forTask: .sentiment, reason: "test switch")
                        }
                    }
                    return done
                }
            }
            var total = 0
            for try await n in group { total += n }
            XCTAssertEqual(total, 200)
        }
        let stats = await manager.cacheStatistics()
        let perf = await manager.performanceStats()
        print("cache: \(stats.hits) hits, \(stats.misses) misses, \(stats.evictions) evictions, peak "
              + "\(ByteFormat.string(stats.peakBytes)) of \(ByteFormat.string(stats.budgetBytes)); switches \(perf.switches)")
        XCTAssertEqual(perf.totalRequests, 200)
        XCTAssertTrue(perf.models.allSatisfy { $0.failures == 0 })
        XCTAssertGreaterThan(stats.evictions, 0)
        XCTAssertLessThanOrEqual(stats.peakBytes, stats.budgetBytes)
        XCTAssertGreaterThanOrEqual(perf.switches, 1)
        let assignment = await manager.assignments().first { $0.task == .sentiment }
        XCTAssertEqual(assignment?.model.id, "cls2")
        XCTAssertTrue(stats.models.allSatisfy { $0.leases == 0 })
        recorder.stop()
    }

    /// The manager's cost per request against calling the model directly (a benchmark: printed, not asserted).
    /// Runs with SMM_BENCH=1 (build with -c release for meaningful numbers).
    func testManagerOverheadPerRequest() async throws {
        guard ProcessInfo.processInfo.environment["SMM_BENCH"] == "1" else {
            throw XCTSkip("set SMM_BENCH=1 to time the manager's per-request overhead")
        }
        struct Busy: LoadedInferenceModel {
            func embed(_ texts: [String]) async throws -> [[Float]] {
                let end = ContinuousClock.now + .milliseconds(2)
                while ContinuousClock.now < end {}
                return [[1]]
            }
        }
        struct BusyBackend: InferenceBackend {
            var name: String { "busy" }
            var supportedDTypes: Set<ModelDType> { [.f32] }
            func load(_ entry: CatalogEntry, dtype: ModelDType, location: URL) async throws -> any LoadedInferenceModel { Busy() }
        }
        let temp = try TempModels(["busy"])
        let manager = try ModelManager(configuration: temp.configuration(), backend: BusyBackend(),
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine),
                                            catalog: try ModelCatalog(entries: [fakeEntry("busy", tasks: [.embedding], parametersM: 1)]))
        _ = try await manager.embed(["warm"])
        let n = 200
        let model = Busy()
        let directStart = ContinuousClock.now
        for _ in 0..<n { _ = try await model.embed(["x"]) }
        let direct = ContinuousClock.now - directStart
        let managedStart = ContinuousClock.now
        for _ in 0..<n { _ = try await manager.embed(["x"]) }
        let managed = ContinuousClock.now - managedStart
        let overhead = (managed / direct - 1) * 100
        let perRequest = (managed - direct) / n
        let micros = Double(perRequest.components.attoseconds) / 1e12 + Double(perRequest.components.seconds) * 1e6
        print("manager overhead: \(String(format: "%.1f", micros)) µs per request on a 2 ms request = "
              + "\(String(format: "%.2f", overhead))% (\(managed / n) managed vs \(direct / n) direct)")
        // What was timed went through the manager: the warm-up plus n requests, none failed.
        let perf = await manager.performanceStats()
        XCTAssertEqual(perf.totalRequests, n + 1)
        XCTAssertTrue(perf.models.allSatisfy { $0.failures == 0 })
    }
}

final class EventTests: XCTestCase {
    func testEventsArriveInOrder() async throws {
        let entries = [
            fakeEntry("A", tasks: [.sentiment], parametersM: 25, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.9),
            fakeEntry("B", tasks: [.sentiment], parametersM: 25, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.8),
        ]
        let temp = try TempModels(["A", "B"])
        let config = temp.configuration {
            $0.maxCacheSizeBytes = 150_000_000
            $0.maxInferenceTimeMs = 10_000
        }
        let manager = try ModelManager(configuration: config, backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine),
                                            catalog: try ModelCatalog(entries: entries))
        await manager.setSwitchPolicy(SwitchPolicy(window: 3))
        let recorder = EventRecorder(manager.events)
        let report = try await manager.initialize(requirements: [SelectionRequirements(task: .sentiment, priority: .accuracy)])
        XCTAssertEqual(report.prefetched, [ModelKey("A")])
        XCTAssertGreaterThan(report.profile.totalMs, 0)
        try await manager.switchModel("B", forTask: .sentiment, reason: "user asked")
        for _ in 0..<3 { _ = try await manager.sentiment(["good"]) }
        _ = try await manager.runQuickBenchmark(models: ["B"], runs: 2)
        let expected = ["systemAnalysed", "modelSelected", "modelLoaded", "modelEvicted", "modelLoaded", "modelSwitched",
                        "performanceUpdate", "benchmarkComplete"]
        let arrived = await recorder.waitFor { $0.count >= expected.count }
        XCTAssertTrue(arrived)
        XCTAssertEqual(recorder.names, expected)
        if case let .modelSwitched(task, from, to, reason) = recorder.all[5] {
            XCTAssertEqual(task, .sentiment)
            XCTAssertEqual(from, ModelKey("A"))
            XCTAssertEqual(to, ModelKey("B"))
            XCTAssertEqual(reason, "user asked")
        } else {
            XCTFail("\(recorder.all)")
        }
        recorder.stop()
    }
}
