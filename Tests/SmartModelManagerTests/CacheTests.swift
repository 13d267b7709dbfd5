import Foundation
import XCTest
@testable import SmartModelManager

final class CacheTests: XCTestCase {
    /// Three 100 MB embedders, each pinned to its own task.
    func makeManager(budgetMB: Int, cacheEnabled: Bool = true, backend: FakeBackend = FakeBackend(),
                     extra: [CatalogEntry] = []) async throws -> (ModelManager, TempModels) {
        let ids = ["A", "B", "C"] + extra.map(\.id)
        let temp = try TempModels(ids)
        let catalog = try ModelCatalog(entries: ["A", "B", "C"].map { fakeEntry($0, tasks: [.embedding], parametersM: 25) } + extra)
        let config = temp.configuration {
            $0.maxCacheSizeBytes = budgetMB * 1_000_000
            $0.cacheEnabled = cacheEnabled
        }
        let manager = try ModelManager(configuration: config, backend: backend,
                                            systemProbe: FixedSystemProbe(Machines.highEnd), catalog: catalog)
        for id in ids { try await manager.mapTask(ModelTask(rawValue: id), to: .embedding, model: id) }
        return (manager, temp)
    }

    func testLRUEvictionStaysWithinBudget() async throws {
        let (manager, _temp) = try await makeManager(budgetMB: 250)
        _ = _temp
        let recorder = EventRecorder(manager.events)
        for id in ["A", "B", "A", "C"] { _ = try await manager.embed(["x"], task: ModelTask(rawValue: id)) }
        let stats = await manager.cacheStatistics()
        XCTAssertEqual(stats.misses, 3)
        XCTAssertEqual(stats.hits, 1)
        XCTAssertEqual(stats.evictions, 1)
        XCTAssertLessThanOrEqual(stats.peakBytes, stats.budgetBytes)
        XCTAssertEqual(Set(stats.models.map(\.key.id)), ["A", "C"], "B was least recently used")
        XCTAssertEqual(stats.useCounts["A (f32)"], 2)
        XCTAssertNotNil(stats.loadTimesMs["C (f32)"])
        let evicted = await recorder.waitFor { $0.contains { $0.name == "modelEvicted" } }
        XCTAssertTrue(evicted)
        XCTAssertTrue(recorder.all.contains(.modelEvicted(model: ModelKey("B"), reason: "least recently used; making room for C (f32)")))
        recorder.stop()
    }

    func testModelsInUseAreNeverEvictedAndLoadsWaitForRoom() async throws {
        let gate = Gate()
        var backend = FakeBackend()
        backend.gates["A"] = gate
        let (manager, _temp) = try await makeManager(budgetMB: 150, backend: backend)
        _ = _temp
        let recorder = EventRecorder(manager.events)
        let slow = Task { try await manager.embed(["held"], task: "A") }
        // Wait until A is loaded and its request is inside the model.
        for _ in 0..<500 where backend.counters.inFlight.withLock({ $0["A"] ?? 0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let waiting = Task { try await manager.embed(["next"], task: "B") }
        try await Task.sleep(for: .milliseconds(150))
        var stats = await manager.cacheStatistics()
        XCTAssertEqual(stats.models.map(\.key.id), ["A"], "A is in use: B must wait, not evict it")
        XCTAssertEqual(stats.models.first?.leases, 1)
        XCTAssertEqual(backend.counters.loadCount("B"), 0)
        gate.open()
        let a = try await slow.value
        let b = try await waiting.value
        XCTAssertEqual(a.model, "A")
        XCTAssertEqual(b.model, "B")
        stats = await manager.cacheStatistics()
        XCTAssertEqual(stats.models.map(\.key.id), ["B"])
        XCTAssertLessThanOrEqual(stats.peakBytes, stats.budgetBytes)
        recorder.stop()
    }

    func testAModelLargerThanTheBudgetIsRejectedNamingIt() async throws {
        let big = fakeEntry("huge", tasks: [.embedding], parametersM: 100)  // 400 MB
        let (manager, _temp) = try await makeManager(budgetMB: 250, extra: [big])
        _ = _temp
        do {
            _ = try await manager.embed(["x"], task: "huge")
            XCTFail("400 MB cannot fit in 250 MB")
        } catch let error as ManagerError {
            // Set in code: named by its property, with the model's dtype.
            XCTAssertTrue(error.description.contains("huge f32: too big") && error.description.contains("maxCacheSizeBytes"),
                          error.description)
            XCTAssertFalse(error.description.contains("MAX_MODEL_CACHE_SIZE"), error.description)
        }
        // Asking for the model directly reaches the cache, which refuses it naming the budget.
        do {
            try await manager.switchModel("huge", forTask: "huge")
            XCTFail("400 MB cannot fit in 250 MB")
        } catch let error as ManagerError {
            guard case .exceedsBudget(_, let bytes, let budget, let variable) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(bytes, 400_000_000)
            XCTAssertEqual(budget, 250_000_000)
            XCTAssertEqual(variable, "maxCacheSizeBytes")
            XCTAssertTrue(error.description.contains("maxCacheSizeBytes allows 238 MiB"), error.description)
        }
        let temp = try TempModels(["A"])
        let limited = try ModelManager(
            configuration: temp.configuration { $0.modelMemoryLimitBytes = 50_000_000 }, backend: FakeBackend(),
            systemProbe: FixedSystemProbe(Machines.highEnd),
            catalog: try ModelCatalog(entries: [fakeEntry("A", tasks: [.embedding], parametersM: 25)]))
        try await limited.mapTask("A", to: .embedding, model: "A")
        do {
            _ = try await limited.embed(["x"], task: "A")
            XCTFail("100 MB is over modelMemoryLimitBytes")
        } catch let error as ManagerError {
            XCTAssertTrue(error.description.contains("modelMemoryLimitBytes"), error.description)
        }
    }

    func testClearDisabledCacheAndMemoryOptimisation() async throws {
        let (manager, _temp) = try await makeManager(budgetMB: 1000)
        _ = _temp
        for id in ["A", "B", "C"] { _ = try await manager.embed(["x"], task: ModelTask(rawValue: id)) }
        try await manager.mapTask("A", to: .embedding, model: "A")  // unpins nothing; A stays assigned after next use
        _ = try await manager.embed(["x"], task: "A")
        let freed = try await manager.optimizeMemoryUsage()
        XCTAssertFalse(freed.underPressure)
        // Tasks B and C still point at their models, so only models serving no task would go.
        XCTAssertTrue(freed.evicted.isEmpty, "\(freed)")
        let clearedCount = await manager.clearModelCache()
        XCTAssertEqual(clearedCount, 3)
        let cleared = await manager.cacheStatistics()
        XCTAssertEqual(cleared.bytesHeld, 0)

        let (noCache, _temp2) = try await makeManager(budgetMB: 1000, cacheEnabled: false)
        _ = _temp2
        _ = try await noCache.embed(["x"], task: "A")
        let stats = await noCache.cacheStatistics()
        XCTAssertTrue(stats.models.isEmpty, "MODEL_CACHE_ENABLED=false unloads idle models")
        XCTAssertEqual(stats.evictions, 1)
    }

    func testBookNeverPicksALeasedVictim() {
        var book = CacheBook(budget: 300)
        let model = FakeModel(id: "x", kind: .embedder, delay: .zero, counters: FakeCounters(), gate: nil, salt: 0)
        _ = book.insert(ModelKey("a"), model: model, identity: nil, bytes: 100, measuredBytes: 0, loadMs: 1)  // leased (loader's lease)
        let b = book.insert(ModelKey("b"), model: model, identity: nil, bytes: 100, measuredBytes: 0, loadMs: 1)
        XCTAssertEqual(book.release(ModelKey("b"), slot: b), .idle)
        XCTAssertEqual(book.victims(toFit: 150), [ModelKey("b")])
        XCTAssertNil(book.victims(toFit: 250), "a is leased: evicting b alone does not make room")
        XCTAssertNil(book.evict(ModelKey("a")))
        book.reserve(ModelKey("c"), bytes: 100)
        XCTAssertFalse(book.fits(1))
        XCTAssertEqual(book.committed, 300)
    }
}
