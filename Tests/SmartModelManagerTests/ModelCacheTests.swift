// The cache and the switching decision on their own, without a manager around them.
import Foundation
import Logging
import Synchronization
import SMMKernels
import XCTest
@testable import SmartModelManager

private struct Stub: LoadedInferenceModel {
    let name: String
    func generate(prompt: String, options: TextGenerationOptions) async throws -> GenerationOutput {
        throw ManagerError.unsupportedTask(model: name, task: "generation")
    }
}

private final class LoadCounter: Sendable {
    let loads = Locked<[ModelKey: Int]>([:])
    func count(_ key: ModelKey) -> Int { loads.withLock { $0[key] ?? 0 } }
    func loader(_ key: ModelKey, delay: Duration = .zero, fail: Bool = false)
        -> @Sendable () async throws -> any LoadedInferenceModel {
        { [self] in
            loads.withLock { $0[key, default: 0] += 1 }
            if delay > .zero { try await Task.sleep(for: delay) }
            if fail { throw ManagerError.loadFailed(model: key.id, reason: "boom") }
            return Stub(name: key.description)
        }
    }
}

final class ModelCacheTests: XCTestCase {
    private func makeCache(budget: Int, unloadWhenIdle: Bool = false) -> ModelCache {
        ModelCache(budget: budget, unloadWhenIdle: unloadWhenIdle, hub: EventHub(), logger: Logger(label: "test"))
    }

    func testEvictsLeastRecentlyUsedIdleModelToMakeRoom() async throws {
        let cache = makeCache(budget: 100)
        let counter = LoadCounter()
        let a = ModelKey("a"), b = ModelKey("b"), c = ModelKey("c")
        for key in [a, b] {
            cache.release(try await cache.acquire(key, bytes: 40, budgetName: "B", load: counter.loader(key)))
        }
        cache.release(try XCTUnwrap(cache.lease(a)))          // a is now the most recently used
        _ = try await cache.acquire(c, bytes: 40, budgetName: "B", load: counter.loader(c))
        XCTAssertTrue(cache.contains(a))
        XCTAssertFalse(cache.contains(b), "b was the least recently used")
        let stats = cache.statistics
        XCTAssertEqual(stats.bytesHeld, 80)
        XCTAssertEqual(stats.evictions, 1)
        XCTAssertEqual(stats.hits, 1)
        XCTAssertEqual(stats.misses, 3)
        XCTAssertEqual(stats.models.first?.key, c)
        XCTAssertEqual(stats.models.first?.leases, 1)
    }

    func testModelOverTheBudgetIsRefusedNamingTheVariable() async {
        let cache = makeCache(budget: 100)
        do {
            _ = try await cache.acquire(ModelKey("big"), bytes: 101, budgetName: "MAX_MODEL_CACHE_SIZE",
                                        load: LoadCounter().loader(ModelKey("big")))
            XCTFail("a model over the budget loaded")
        } catch let ManagerError.exceedsBudget(model, bytes, budget, variable) {
            XCTAssertEqual(model, "big (f32)")
            XCTAssertEqual(bytes, 101)
            XCTAssertEqual(budget, 100)
            XCTAssertEqual(variable, "MAX_MODEL_CACHE_SIZE")
        } catch { XCTFail("\(error)") }
    }

    func testWaitsForModelInUseThenLoads() async throws {
        let cache = makeCache(budget: 100)
        let counter = LoadCounter()
        let a = ModelKey("a"), b = ModelKey("b")
        let held = try await cache.acquire(a, bytes: 60, budgetName: "B", load: counter.loader(a))
        let waiting = Task { try await cache.acquire(b, bytes: 60, budgetName: "B", load: counter.loader(b)) }
        try await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(counter.count(b), 0, "b must wait: a is in use and the two do not fit")
        XCTAssertTrue(cache.contains(a))
        cache.release(held)
        _ = try await waiting.value
        XCTAssertEqual(counter.count(b), 1)
        XCTAssertFalse(cache.contains(a), "a was evicted once idle")
        XCTAssertLessThanOrEqual(cache.statistics.peakBytes, 100)
    }

    func testConcurrentRequestsShareOneLoad() async throws {
        let cache = makeCache(budget: 100)
        let counter = LoadCounter()
        let a = ModelKey("a")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    _ = try await cache.acquire(a, bytes: 10, budgetName: "B",
                                                load: counter.loader(a, delay: .milliseconds(30)))
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(counter.count(a), 1)
        XCTAssertEqual(cache.statistics.models.first?.leases, 8)
    }

    func testFailedLoadIsRecordedAndReleasesItsReservation() async {
        let cache = makeCache(budget: 100)
        let a = ModelKey("a")
        do {
            _ = try await cache.acquire(a, bytes: 50, budgetName: "B", load: LoadCounter().loader(a, fail: true))
            XCTFail("a failing load succeeded")
        } catch let ManagerError.loadFailed(model, reason) {
            XCTAssertEqual(model, "a")
            XCTAssertEqual(reason, "boom")
        } catch { XCTFail("\(error)") }
        XCTAssertEqual(cache.failedLoads[a], "boom")
        XCTAssertEqual(cache.statistics.bytesReserved, 0)
        XCTAssertEqual(cache.statistics.failedLoads, 1)
    }

    func testUnloadWhenIdleAndDerivedDataGoWithTheModel() async throws {
        let cache = makeCache(budget: 100, unloadWhenIdle: true)
        let a = ModelKey("a")
        let lease = try await cache.acquire(a, bytes: 10, budgetName: "B", load: LoadCounter().loader(a))
        cache.storeDerived(lease, "p", [[[1, 2]]])
        XCTAssertEqual(cache.derived(lease, "p"), [[[1, 2]]])
        cache.release(lease)
        XCTAssertFalse(cache.contains(a))
        XCTAssertNil(cache.derived(lease, "p"))
        cache.storeDerived(lease, "p", [[[3]]])
        XCTAssertNil(cache.derived(lease, "p"), "nothing is kept for a model that is not loaded")
    }

    func testClearMarksModelsInUse() async throws {
        let cache = makeCache(budget: 100)
        let a = ModelKey("a"), b = ModelKey("b")
        let leaseA = try await cache.acquire(a, bytes: 10, budgetName: "B", load: LoadCounter().loader(a))
        cache.release(try await cache.acquire(b, bytes: 10, budgetName: "B", load: LoadCounter().loader(b)))
        XCTAssertEqual(cache.clear(), 1)
        XCTAssertTrue(cache.contains(a))
        cache.release(leaseA)
        XCTAssertFalse(cache.contains(a), "a went when its request finished")
    }
}

extension ModelCacheTests {
    private func identity(inode: UInt64) -> FileIdentity {
        FileIdentity(stamps: [.init(name: "m.smm", device: 1, inode: inode, bytes: 10, modifiedNs: 5)])
    }

    /// A model whose file changed: the next request loads the new file while the request holding
    /// the old copy finishes on it; the old copy's bytes count until then, and go with its lease.
    func testReplacedFileIsLoadedAgainWhileTheOldCopyServesItsRequest() async throws {
        let cache = makeCache(budget: 100)
        let counter = LoadCounter()
        let a = ModelKey("a")
        let v1 = identity(inode: 1), v2 = identity(inode: 2)
        let old = try await cache.acquire(a, identity: v1, bytes: 40, budgetName: "B", load: counter.loader(a))
        cache.storeDerived(old, "p", [[[1]]])
        XCTAssertNotNil(cache.lease(a, identity: v1).map(cache.release), "same files: a hit")
        XCTAssertNil(cache.lease(a, identity: v2), "the files changed: not a hit")
        let new = try await cache.acquire(a, identity: v2, bytes: 40, budgetName: "B", load: counter.loader(a))
        XCTAssertEqual(counter.count(a), 2)
        XCTAssertNotEqual(new.slot, old.slot)
        XCTAssertNil(cache.derived(new, "p"), "data derived from the old copy is not used with the new one")
        var stats = cache.statistics
        XCTAssertEqual(stats.bytesHeld, 80, "the old copy still counts while its request runs")
        XCTAssertEqual(stats.models.map(\.replaced).sorted { !$0 && $1 }, [false, true])
        cache.release(old)
        stats = cache.statistics
        XCTAssertEqual(stats.bytesHeld, 40)
        XCTAssertEqual(stats.models.map(\.replaced), [false])
        XCTAssertEqual(stats.models.first?.leases, 1, "the new copy keeps its own lease")
        cache.release(new)
        XCTAssertNotNil(cache.lease(a, identity: nil), "unknown files (e.g. deleted): the loaded copy serves")
        XCTAssertLessThanOrEqual(cache.statistics.peakBytes, 100)
    }

    /// An idle copy of a changed file is dropped at once; a failure on the old files is forgotten
    /// when the files change, so a fixed file is tried again.
    func testIdleStaleCopyIsDroppedAndFailuresOnOldFilesAreForgotten() async throws {
        let cache = makeCache(budget: 100)
        let counter = LoadCounter()
        let a = ModelKey("a"), b = ModelKey("b")
        cache.release(try await cache.acquire(a, identity: identity(inode: 1), bytes: 40, budgetName: "B", load: counter.loader(a)))
        XCTAssertNil(cache.lease(a, identity: identity(inode: 2)))
        XCTAssertFalse(cache.contains(a))
        XCTAssertEqual(cache.statistics.evictions, 1)
        _ = try? await cache.acquire(b, identity: identity(inode: 7), bytes: 10, budgetName: "B", load: counter.loader(b, fail: true))
        XCTAssertEqual(cache.failedLoads[b], "boom")
        XCTAssertNil(cache.lease(b, identity: identity(inode: 7)))
        XCTAssertEqual(cache.failedLoads[b], "boom", "same files: the failure stands")
        XCTAssertNil(cache.lease(b, identity: identity(inode: 8)))
        XCTAssertNil(cache.failedLoads[b], "new files: tried again")
    }
}

final class SwitchDecisionTests: XCTestCase {
    private func candidate(_ id: String, score: Double, latency: Double) -> Candidate {
        Candidate(key: ModelKey(id), method: .classifier, score: score, latencyMs: latency, latencyMeasured: true,
                  memoryBytes: 1, accuracy: nil, accuracySource: nil, weightsAreRandom: false, reasons: [])
    }

    func testStepsDownToBestScoringFasterCandidate() {
        let policy = SwitchPolicy(window: 4, cooldownRequests: 0)
        let big = candidate("big", score: 0.9, latency: 20)
        let mid = candidate("mid", score: 0.7, latency: 10)
        let tiny = candidate("tiny", score: 0.5, latency: 5)
        let slightlyFaster = candidate("almost", score: 0.8, latency: 18)   // not 20% faster
        let decision = policy.decide(samples: [30, 30, 30, 30], thresholdMs: 25, requestsSinceSwitch: 10,
                                     active: big.key, candidates: [big, slightlyFaster, mid, tiny], best: big,
                                     failed: [], observedSlow: [:])
        guard case let .stepDown(target, reason, leftAt) = decision else { return XCTFail("\(decision)") }
        XCTAssertEqual(target.key, mid.key)
        XCTAssertEqual(leftAt, 30)
        XCTAssertTrue(reason.contains("100% of the last 4 requests took over 25.00 ms"), reason)
        XCTAssertTrue(reason.contains("2.0× faster"), reason)

        let withMidFailed = policy.decide(samples: [30, 30, 30, 30], thresholdMs: 25, requestsSinceSwitch: 10,
                                          active: big.key, candidates: [big, mid, tiny], best: big,
                                          failed: [mid.key], observedSlow: [:])
        guard case let .stepDown(fallback, _, _) = withMidFailed else { return XCTFail("\(withMidFailed)") }
        XCTAssertEqual(fallback.key, tiny.key)

        let alone = policy.decide(samples: [30, 30, 30, 30], thresholdMs: 25, requestsSinceSwitch: 10,
                                  active: big.key, candidates: [big], best: big, failed: [], observedSlow: [:])
        guard case .noFasterModel = alone else { return XCTFail("\(alone)") }
    }

    func testStepsUpOnlyWhenTheBetterModelIsPredictedUnderRecovery() {
        let policy = SwitchPolicy(window: 4, recoverFraction: 0.5, cooldownRequests: 0)
        let big = candidate("big", score: 0.9, latency: 20)
        let mid = candidate("mid", score: 0.7, latency: 10)
        // p90 2 ms on mid predicts 4 ms on big: under 0.5 × 25.
        let up = policy.decide(samples: [2, 2, 2, 2], thresholdMs: 25, requestsSinceSwitch: 10, active: mid.key,
                               candidates: [big, mid], best: big, failed: [], observedSlow: [:])
        guard case let .stepUp(target, _) = up else { return XCTFail("\(up)") }
        XCTAssertEqual(target.key, big.key)
        // But big was left at p50 30 ms: the memory of that keeps it away.
        let remembered = policy.decide(samples: [2, 2, 2, 2], thresholdMs: 25, requestsSinceSwitch: 10, active: mid.key,
                                       candidates: [big, mid], best: big, failed: [], observedSlow: [big.key: 30])
        XCTAssertEqual(remembered, .keep)
    }
}

final class BenchmarkHarnessTests: XCTestCase {
    func testWarmupRunsAreUntimedAndEveryTimedRunIsMeasured() {
        var seen: [Int] = []
        let times = BenchmarkHarness.time(warmup: 2, runs: 3) { run in
            seen.append(run)
            if run >= 2 { Thread.sleep(forTimeInterval: 0.005) }
        }
        XCTAssertEqual(seen, [0, 1, 2, 3, 4])
        XCTAssertEqual(times.count, 3)
        for t in times { XCTAssertGreaterThanOrEqual(t, 5) }
        XCTAssertEqual(BenchmarkHarness.milliseconds(.milliseconds(1500)), 1500, accuracy: 1e-9)
    }
}

final class ManagerErrorDescriptionTests: XCTestCase {
    func testLocalizedDescriptionNamesTheValue() {
        let error = ManagerError.unknownModel(id: "minilm-typo", known: ["all-minilm-l6-v2"])
        XCTAssertEqual(error.localizedDescription, error.description)
        XCTAssertTrue(error.localizedDescription.contains("minilm-typo"), error.localizedDescription)
        XCTAssertTrue(error.localizedDescription.contains("all-minilm-l6-v2"), error.localizedDescription)
    }
}
