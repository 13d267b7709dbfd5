import Foundation
import Synchronization
import SMMKernels
import XCTest
@testable import SmartModelManager

final class SwitchingTests: XCTestCase {
    func testPolicyHysteresisBand() {
        let policy = SwitchPolicy(window: 10, slowFraction: 0.8, recoverFraction: 0.5, cooldownRequests: 10)
        let slow = [Double](repeating: 15, count: 10)
        let nearThreshold = (0..<10).map { $0 % 2 == 0 ? 9.0 : 11.0 }  // half over: not sustained
        let fast = [Double](repeating: 2, count: 10)
        XCTAssertEqual(policy.evaluate(slow, thresholdMs: 10, requestsSinceSwitch: 10), .tooSlow(slowShare: 1, p50Ms: 15))
        XCTAssertEqual(policy.evaluate(nearThreshold, thresholdMs: 10, requestsSinceSwitch: 100), .keep)
        XCTAssertEqual(policy.evaluate(fast, thresholdMs: 10, requestsSinceSwitch: 100), .headroom(p90Ms: 2))
        XCTAssertEqual(policy.evaluate(slow, thresholdMs: 10, requestsSinceSwitch: 9), .keep, "cooldown")
        XCTAssertEqual(policy.evaluate(Array(slow.prefix(9)), thresholdMs: 10, requestsSinceSwitch: 100), .keep, "window not full")
        XCTAssertEqual(policy.evaluate([Double](repeating: 7, count: 10), thresholdMs: 10, requestsSinceSwitch: 100), .keep,
                       "between 50% and 100% of the threshold nothing happens")
    }

    /// A machine fast enough that FLOP estimates accept every fake model.
    static let fastMachine = SystemInfo(cpuFlags: ["avx2", "fma"], logicalCores: 8, totalMemoryBytes: 32 << 30,
                                        throughput: ThroughputProbe(singleCoreGFLOPS: 1000, multiCoreGFLOPS: 10_000,
                                                                    memoryBandwidthGBps: 100))

    func makeManager(autoSelect: Bool = true, accurateDelay: Duration = .milliseconds(20), fastDelay: Duration = .zero,
                     failing: Set<String> = [], fallback: String? = nil, only: [String]? = nil)
        throws -> (ModelManager, FakeBackend, TempModels) {
        let all = [
            fakeEntry("accurate", tasks: [.sentiment], parametersM: 100, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.95),
            fakeEntry("fast", tasks: [.sentiment], parametersM: 10, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.90),
            fakeEntry("backup", tasks: [.sentiment], parametersM: 5, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.80),
        ]
        let entries = all.filter { only?.contains($0.id) ?? true }
        let temp = try TempModels(entries.map(\.id))
        var backend = FakeBackend()
        backend.delays = ["accurate": accurateDelay, "fast": fastDelay]
        backend.failing = failing
        let config = temp.configuration {
            $0.autoSelect = autoSelect
            $0.maxInferenceTimeMs = 10
            $0.fallbackModel = fallback
        }
        let manager = try ModelManager(configuration: config, backend: backend,
                                            systemProbe: FixedSystemProbe(Self.fastMachine),
                                            catalog: try ModelCatalog(entries: entries))
        return (manager, backend, temp)
    }

    func testSustainedSlownessSwitchesDownOnceWithoutFlapping() async throws {
        let (manager, _, _temp) = try makeManager()
        _ = _temp
        await manager.setSwitchPolicy(SwitchPolicy(window: 5, cooldownRequests: 5))
        try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: .accuracy))
        let recorder = EventRecorder(manager.events)
        for _ in 0..<5 { _ = try await manager.sentiment(["good gains"]) }
        var assignment = await manager.assignments().first
        XCTAssertEqual(assignment?.model.id, "fast")
        for _ in 0..<30 { _ = try await manager.sentiment(["good gains"]) }
        assignment = await manager.assignments().first
        XCTAssertEqual(assignment?.model.id, "fast", "no flapping back to the model that was slow")
        _ = await recorder.waitFor { $0.contains { $0.name == "modelSwitched" } }
        let switches = recorder.all.compactMap { e -> (ModelKey?, ModelKey, String)? in
            if case let .modelSwitched(_, from, to, reason) = e { return (from, to, reason) }
            return nil
        }
        XCTAssertEqual(switches.count, 1)
        XCTAssertEqual(switches.first?.0?.id, "accurate")
        XCTAssertEqual(switches.first?.1.id, "fast")
        XCTAssertTrue(switches.first?.2.hasPrefix("latency:") ?? false, switches.first?.2 ?? "")
        let stats = await manager.performanceStats()
        XCTAssertEqual(stats.totalRequests, 35)
        XCTAssertEqual(stats.switches, 1)
        XCTAssertEqual(stats.modelUsage["accurate (f32)"], 5)
        XCTAssertEqual(stats.modelUsage["fast (f32)"], 30)
        XCTAssertGreaterThan(stats.models.first { $0.model.id == "accurate" }?.latency.p50Ms ?? 0, 10)
        recorder.stop()
    }

    func testHeadroomStepsBackUpToTheBestModel() async throws {
        let (manager, _, _temp) = try makeManager(accurateDelay: .zero)
        _ = _temp
        await manager.setSwitchPolicy(SwitchPolicy(window: 5, cooldownRequests: 5))
        try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: .accuracy))
        try await manager.switchModel("fast", forTask: .sentiment, reason: "test")
        for _ in 0..<5 { _ = try await manager.sentiment(["good"]) }
        let assignment = await manager.assignments().first
        XCTAssertEqual(assignment?.model.id, "accurate")
    }

    func testWithoutAutoSelectItOnlySuggests() async throws {
        let (manager, _, _temp) = try makeManager(autoSelect: false)
        _ = _temp
        await manager.setSwitchPolicy(SwitchPolicy(window: 5, cooldownRequests: 0))
        try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: .accuracy))
        let recorder = EventRecorder(manager.events)
        for _ in 0..<5 { _ = try await manager.sentiment(["good"]) }
        let suggested = await recorder.waitFor { $0.contains { $0.name == "optimisationSuggested" } }
        XCTAssertTrue(suggested)
        let assignment = await manager.assignments().first
        XCTAssertEqual(assignment?.model.id, "accurate")
        recorder.stop()
    }

    func testThresholdAdjustsWithinBoundsWhenNoFasterModelExists() async throws {
        let (manager, _, _temp) = try makeManager(only: ["accurate"])
        _ = _temp
        await manager.setSwitchPolicy(SwitchPolicy(window: 3, cooldownRequests: 0))
        let recorder = EventRecorder(manager.events)
        for _ in 0..<60 { _ = try await manager.sentiment(["good"]) }
        let t = await manager.performanceThresholds()
        XCTAssertGreaterThan(t.maxInferenceTimeMs, 10)
        XCTAssertLessThanOrEqual(t.maxInferenceTimeMs, 40, "bounded by 4 × the configured 10 ms")
        _ = await recorder.waitFor { $0.contains { $0.name == "optimisationSuggested" } }
        XCTAssertTrue(recorder.all.contains {
            if case .optimisationSuggested(_, let s) = $0 { return s.contains("raised the latency threshold") }
            return false
        })
        recorder.stop()
    }

    func testFailedLoadFallsBackToTheConfiguredFallback() async throws {
        let (manager, backend, _temp) = try makeManager(accurateDelay: .zero, failing: ["accurate"], fallback: "backup")
        _ = _temp
        try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: .accuracy))
        let recorder = EventRecorder(manager.events)
        let results = try await manager.sentiment(["good strong gains", "bad losses"])
        XCTAssertEqual(results.map(\.model), ["backup", "backup"])
        XCTAssertEqual(results.map(\.label), ["positive", "negative"])
        XCTAssertEqual(backend.counters.loadCount("backup"), 1)
        _ = await recorder.waitFor { $0.contains { $0.name == "modelSwitched" } }
        XCTAssertEqual(recorder.names.filter { $0 != "performanceUpdate" }, ["modelLoadFailed", "modelSwitched", "modelLoaded"])
        if case let .modelSwitched(_, from, to, reason) = recorder.all[1] {
            XCTAssertEqual(from?.id, "accurate")
            XCTAssertEqual(to.id, "backup")
            XCTAssertTrue(reason.contains("fallback"), reason)
        }
        // The failed model is now rejected by selection with the reason.
        let again = try await manager.modelRecommendations(for: SelectionRequirements(task: .sentiment))
        XCTAssertEqual(again.rejections.first { $0.modelID == "accurate" }?.reason, .loadFailed)
        recorder.stop()
    }

    func testWithoutAFallbackTheNextCandidateServesAndWithNoneLeftTheErrorSaysSo() async throws {
        let (manager, _, _temp) = try makeManager(accurateDelay: .zero, failing: ["accurate"])
        _ = _temp
        try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: .accuracy))
        let results = try await manager.sentiment(["good"])
        XCTAssertEqual(results.first?.model, "fast")

        let (lonely, _, _temp2) = try makeManager(failing: ["accurate"], only: ["accurate"])
        _ = _temp2
        do {
            _ = try await lonely.sentiment(["good"])
            XCTFail("nothing can load")
        } catch let error as ManagerError {
            XCTAssertTrue(error.description.contains("fake load failure"), error.description)
        }
    }

    func testCPUPressureStepsDownToALighterModel() async throws {
        let temp = try TempModels(["accurate", "fast"])
        let entries = [
            fakeEntry("accurate", tasks: [.sentiment], parametersM: 100, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.92),
            fakeEntry("fast", tasks: [.sentiment], parametersM: 10, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.90),
        ]
        let probe = MutableProbe(Self.fastMachine)
        let manager = try ModelManager(configuration: temp.configuration { $0.maxInferenceTimeMs = 1000 },
                                            backend: FakeBackend(), systemProbe: probe,
                                            catalog: try ModelCatalog(entries: entries))
        try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: .accuracy))
        var first = await manager.assignments().first?.model.id
        XCTAssertEqual(first, "accurate")
        let idle = try await manager.optimizeModelSelection()
        XCTAssertTrue(idle.isEmpty, "no pressure, no change: \(idle)")
        probe.setLoad(40)
        let actions = try await manager.optimizeModelSelection()
        first = await manager.assignments().first?.model.id
        XCTAssertEqual(first, "fast")
        XCTAssertEqual(actions.first?.applied, true)
        XCTAssertTrue(actions.first?.reason.contains("CPU pressure") ?? false, actions.first?.reason ?? "")
    }
}

/// A probe whose load average a test can change.
final class MutableProbe: SystemProbe, Sendable {
    let info: Locked<SystemInfo>
    init(_ info: SystemInfo) { self.info = Locked(info) }
    func setLoad(_ load: Double) { info.withLock { $0.loadAverage = [load, load, load] } }
    func collect(modelsDirectory: URL) throws -> SystemInfo {
        info.withLock { var i = $0; i.modelsDirectory = modelsDirectory.path; i.throughput = nil; return i }
    }
    func measureThroughput(threads: Int) -> ThroughputProbe {
        info.withLock { $0.throughput ?? ThroughputProbe(singleCoreGFLOPS: 1, multiCoreGFLOPS: 1, memoryBandwidthGBps: 1) }
    }
}
