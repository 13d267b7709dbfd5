// Every ManagerError a user can meet reads as a message: `localizedDescription` (not "The operation
// could not be completed") names the value, the model and dtype, and the setting the way the caller
// set it (the property in code, the variable from the environment), and says what to do.
import Foundation
import XCTest
@testable import SmartModelManager

final class ErrorMessageTests: XCTestCase {
    /// The error's message, checked to be the same through `localizedDescription` and `description`.
    private func message(_ error: any Error, file: StaticString = #filePath, line: UInt = #line) -> String {
        guard let error = error as? ManagerError else {
            XCTFail("not a ManagerError: \(error)", file: file, line: line)
            return ""
        }
        XCTAssertEqual(error.localizedDescription, error.description, file: file, line: line)
        XCTAssertEqual(error.errorDescription, error.description, file: file, line: line)
        XCTAssertFalse(error.localizedDescription.contains("could not be completed"), file: file, line: line)
        return error.localizedDescription
    }

    private func thrown(_ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async -> String {
        do {
            try await body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return message(error, file: file, line: line)
        }
    }

    /// 50 M parameters: 200 MB in f32, 50 MB in int8.
    private let mini = fakeEntry("mini", tasks: [.embedding], parametersM: 50, int8: true)

    private func manager(_ configuration: ManagerConfiguration, entries: [CatalogEntry]? = nil) throws -> ModelManager {
        try ModelManager(configuration: configuration, backend: FakeBackend(), systemProbe: FixedSystemProbe(Machines.highEnd),
                         catalog: try ModelCatalog(entries: entries ?? [mini]))
    }

    private func environment(_ temp: TempModels, _ extra: [String: String]) -> [String: String] {
        ["SMM_MODELS_DIR": temp.models.path, "SMM_CACHE_DIR": temp.cache.path, "SMM_LOG_LEVEL": "error"]
            .merging(extra) { $1 }
    }

    // MARK: - The configuration records where each setting came from

    func testTheConfigurationRecordsWhichSettingsCameFromTheEnvironment() throws {
        var inCode = ManagerConfiguration()
        inCode.maxMemoryUsageBytes = 32 << 20
        XCTAssertEqual(inCode.variablesFromEnvironment, [])
        XCTAssertEqual(inCode.settingName("maxMemoryUsageBytes"), "maxMemoryUsageBytes")
        let read = try ManagerConfiguration.fromEnvironment(["MAX_MEMORY_USAGE": "32MB", "MIN_CPU_CORES": " ",
                                                             "BITFLOW_SKIP_PREFETCH": "1"])
        XCTAssertEqual(read.variablesFromEnvironment, ["MAX_MEMORY_USAGE", "BITFLOW_SKIP_PREFETCH"],
                       "an empty variable is not a value read")
        XCTAssertEqual(read.settingName("maxMemoryUsageBytes"), "MAX_MEMORY_USAGE")
        XCTAssertEqual(read.settingName("minCPUCores"), "minCPUCores")
        XCTAssertEqual(read.settingName("skipPrefetch"), "BITFLOW_SKIP_PREFETCH")
        XCTAssertEqual(try ManagerConfiguration.fromEnvironment([:]), ManagerConfiguration())
    }

    // MARK: - noCandidate: each reason names the model, the dtype and the limit

    func testNoCandidateNamesModelDTypeAndThePropertySetInCode() async throws {
        let temp = try TempModels(["mini"])
        let manager = try manager(temp.configuration { $0.maxMemoryUsageBytes = 32 << 20 })
        let text = await thrown { try await manager.selectOptimalModel(task: .embedding) }
        XCTAssertTrue(text.hasPrefix("no model can serve task 'embedding': "), text)
        XCTAssertTrue(text.contains("mini f32: too big: needs \(ByteFormat.string(200_000_000)) (weights + activations) "
            + "but maxMemoryUsageBytes is 32 MiB; raise maxMemoryUsageBytes or choose a smaller model or dtype"), text)
        XCTAssertTrue(text.contains("mini int8: too big: needs \(ByteFormat.string(50_000_000))"), text)
        XCTAssertFalse(text.contains("MAX_MEMORY_USAGE"), text)
    }

    func testNoCandidateNamesTheVariableWhenTheLimitCameFromTheEnvironment() async throws {
        let temp = try TempModels(["mini"])
        let configuration = try ManagerConfiguration.fromEnvironment(environment(temp, ["MAX_MEMORY_USAGE": "32MB"]))
        let manager = try manager(configuration)
        let text = await thrown { try await manager.selectOptimalModel(task: .embedding) }
        XCTAssertTrue(text.contains("mini int8: too big: needs \(ByteFormat.string(50_000_000)) (weights + activations) "
            + "but MAX_MEMORY_USAGE is 32 MiB; raise MAX_MEMORY_USAGE"), text)
        XCTAssertTrue(text.contains("mini f32: too big"), text)
        XCTAssertFalse(text.contains("maxMemoryUsageBytes"), text)
    }

    func testThresholdsSetInCodeAreNamedByTheirProperty() async throws {
        let temp = try TempModels(["mini"])
        let configuration = try ManagerConfiguration.fromEnvironment(environment(temp, ["MAX_MEMORY_USAGE": "1GB"]))
        let manager = try manager(configuration)
        try await manager.setPerformanceThresholds(PerformanceThresholds(minAccuracy: 0, maxMemoryPerModelBytes: 32 << 20))
        let text = await thrown { try await manager.selectOptimalModel(task: .embedding) }
        XCTAssertTrue(text.contains("mini int8: too big: needs \(ByteFormat.string(50_000_000)) (weights + activations) "
            + "but PerformanceThresholds.maxMemoryPerModelBytes is 32 MiB"), text)
        XCTAssertFalse(text.contains("MAX_MEMORY_USAGE"), text)
    }

    func testRejectionSummaryNamesModelAndDType() {
        let r = Rejection(modelID: "all-MiniLM-L6-v2", dtype: .int8, reason: .tooBig, message: "too big: needs 46 MB")
        XCTAssertEqual(r.summary, "all-MiniLM-L6-v2 int8: too big: needs 46 MB")
        let whole = Rejection(modelID: "gpt2", dtype: nil, reason: .incompatibleTask, message: "incompatible")
        XCTAssertEqual(whole.summary, "gpt2: incompatible")
        let none = ManagerError.noCandidate(task: "translation", reasons: [])
        XCTAssertEqual(message(none), "no model can serve task 'translation': the catalog has no model for it; "
            + "register one that lists the task, or map the task to a built-in one with mapTask")
    }

    func testTooSlowAndBelowAccuracyNameTheirSettings() async throws {
        let temp = try TempModels(["acc"])
        let entry = fakeEntry("acc", tasks: [.sentiment], parametersM: 10, labels: ["NEGATIVE", "POSITIVE"], accuracy: 0.8)
        let strict = try manager(temp.configuration { $0.minAccuracy = 0.9 }, entries: [entry])
        var text = await thrown { try await strict.selectOptimalModel(task: .sentiment) }
        XCTAssertTrue(text.contains("acc f32: accuracy 80.0%"), text)
        XCTAssertTrue(text.contains("is below minAccuracy 90.0%; lower minAccuracy to accept it"), text)
        let fromEnvironment = try manager(try .fromEnvironment(environment(temp, ["MIN_ACCURACY_THRESHOLD": "90%"])),
                                          entries: [entry])
        text = await thrown { try await fromEnvironment.selectOptimalModel(task: .sentiment) }
        XCTAssertTrue(text.contains("is below MIN_ACCURACY_THRESHOLD 90.0%; lower MIN_ACCURACY_THRESHOLD"), text)
        let hurried = try manager(temp.configuration { $0.maxInferenceTimeMs = 0.000_001 }, entries: [entry])
        text = await thrown { try await hurried.selectOptimalModel(task: .sentiment) }
        XCTAssertTrue(text.contains("acc f32: too slow: "), text)
        XCTAssertTrue(text.contains("exceeds maxInferenceTimeMs 0"), text)
        XCTAssertTrue(text.contains("raise maxInferenceTimeMs or choose a smaller model or dtype"), text)
    }

    // MARK: - exceedsBudget: the model, its dtype, and the limit as set

    func testExceedsBudgetNamesTheCacheBudgetAsSet() async throws {
        let temp = try TempModels(["mini"])
        let inCode = try manager(temp.configuration { $0.maxCacheSizeBytes = 100 << 20 })
        var text = await thrown { try await inCode.switchModel("mini", dtype: .f32, forTask: .embedding) }
        XCTAssertEqual(text, "model 'mini (f32)' needs \(ByteFormat.string(200_000_000)) but maxCacheSizeBytes allows "
            + "100 MiB; raise maxCacheSizeBytes or choose a smaller model or dtype")
        let fromEnvironment = try manager(try .fromEnvironment(environment(temp, ["MAX_MODEL_CACHE_SIZE": "100MB"])))
        text = await thrown { try await fromEnvironment.switchModel("mini", dtype: .f32, forTask: .embedding) }
        XCTAssertEqual(text, "model 'mini (f32)' needs \(ByteFormat.string(200_000_000)) but MAX_MODEL_CACHE_SIZE allows "
            + "100 MiB; raise MAX_MODEL_CACHE_SIZE or choose a smaller model or dtype")
    }

    func testExceedsBudgetNamesPerModelLimitsAsSet() async throws {
        let temp = try TempModels(["mini"])
        let limited = try manager(temp.configuration { $0.modelMemoryLimitBytes = 100 << 20 })
        var text = await thrown { try await limited.switchModel("mini", dtype: .f32, forTask: .embedding) }
        XCTAssertTrue(text.contains("'mini (f32)' needs") && text.contains("but modelMemoryLimitBytes allows 100 MiB; "
            + "raise modelMemoryLimitBytes"), text)
        let fromEnvironment = try manager(try .fromEnvironment(environment(temp, ["MODEL_MEMORY_LIMIT": "100MB"])))
        text = await thrown { try await fromEnvironment.switchModel("mini", dtype: .f32, forTask: .embedding) }
        XCTAssertTrue(text.contains("but MODEL_MEMORY_LIMIT allows 100 MiB; raise MODEL_MEMORY_LIMIT"), text)
        let usage = try manager(temp.configuration { $0.maxMemoryUsageBytes = 100 << 20 })
        text = await thrown { try await usage.switchModel("mini", dtype: .f32, forTask: .embedding) }
        XCTAssertTrue(text.contains("but maxMemoryUsageBytes allows 100 MiB; raise maxMemoryUsageBytes"), text)
    }

    func testTheDefaultBudgetAndTheRequirementsLimitSayHowToRaiseThem() async throws {
        // 80 GB in f32: over the default budget of half the 96 GiB available.
        let giant = fakeEntry("giant", tasks: [.embedding], parametersM: 20_000)
        let temp = try TempModels(["giant", "mini"])
        let manager = try manager(temp.configuration(), entries: [giant, mini])
        let budget = "the cache budget (unset, so half the available memory; set maxCacheSizeBytes, or "
            + "MAX_MODEL_CACHE_SIZE in the environment)"
        var text = await thrown { try await manager.switchModel("giant", forTask: .embedding) }
        XCTAssertEqual(text, "model 'giant (f32)' needs \(ByteFormat.string(80_000_000_000)) but \(budget) allows 48 GiB; "
            + "raise that limit or choose a smaller model or dtype")
        text = await thrown {
            try await manager.selectOptimalModel(for: SelectionRequirements(task: .embedding, memoryLimitBytes: 10 << 20))
        }
        XCTAssertTrue(text.contains("giant f32: too big: needs \(ByteFormat.string(80_000_000_000)) (weights + activations) "
            + "but the requirements' memoryLimitBytes is 10 MiB"), text)
        XCTAssertTrue(text.contains("mini int8: too big: needs \(ByteFormat.string(50_000_000)) (weights + activations) but "
            + "the requirements' memoryLimitBytes is 10 MiB; raise the requirements' memoryLimitBytes or choose a smaller "
            + "model or dtype"), text)
        let alone = try self.manager(temp.configuration(), entries: [giant])
        text = await thrown { try await alone.selectOptimalModel(task: .embedding) }
        XCTAssertTrue(text.contains("giant f32: too big: needs \(ByteFormat.string(80_000_000_000)) (weights + activations) "
            + "but \(budget) is 48 GiB; raise that limit or choose a smaller model or dtype"), text)
    }

    // MARK: - Minimums and invalid settings

    func testSystemBelowMinimumNamesTheSettingAsSet() async throws {
        let temp = try TempModels()
        let inCode = try manager(temp.configuration { $0.minCPUCores = 64 })
        var text = await thrown { _ = try await inCode.analyzeSystem() }
        XCTAssertTrue(text.hasPrefix("this machine has "), text)
        XCTAssertTrue(text.hasSuffix(" usable core(s) but minCPUCores requires 64 cores; lower minCPUCores "
            + "or use a larger machine"), text)
        let fromEnvironment = try manager(try .fromEnvironment(environment(temp, ["MIN_SYSTEM_MEMORY": "1TB"])))
        text = await thrown { _ = try await fromEnvironment.analyzeSystem() }
        XCTAssertTrue(text.contains("but MIN_SYSTEM_MEMORY requires 1 TiB; lower MIN_SYSTEM_MEMORY or use a larger machine"),
                      text)
    }

    func testInvalidSettingsNameTheValueTheSettingAndTheFix() throws {
        let temp = try TempModels()
        XCTAssertThrowsError(try manager(temp.configuration { $0.fallbackModel = "nope" })) { error in
            XCTAssertEqual(message(error), "invalid fallbackModel 'nope': set it to a catalog model id (mini), "
                + "or leave it unset for the default")
        }
        XCTAssertThrowsError(try manager(try .fromEnvironment(environment(temp, ["PREFERRED_MODEL_TYPE": "llama"])))) { error in
            XCTAssertEqual(message(error), "invalid PREFERRED_MODEL_TYPE 'llama': set it to a catalog model id or "
                + "architecture (mini, bert), or leave it unset for the default")
        }
        XCTAssertThrowsError(try ManagerConfiguration.fromEnvironment(["MAX_MEMORY_USAGE": "lots"])) { error in
            XCTAssertEqual(message(error), "invalid MAX_MEMORY_USAGE 'lots': set it to a positive size: megabytes as a plain "
                + "number (512) or with a unit (512MB, 2GB, 1.5GiB), or leave it unset for the default")
        }
    }

    // MARK: - The other cases

    func testCatalogAndTaskErrors() async throws {
        let temp = try TempModels(["mini"])
        let manager = try manager(temp.configuration())
        var text = await thrown { _ = try await manager.modelInfo("nope") }
        XCTAssertEqual(text, "unknown model 'nope'; use one of the catalog's ids (mini) or register it")
        text = await thrown { try await manager.register(self.mini) }
        XCTAssertEqual(text, "a model with id 'mini' is already registered; pick another id or remove the old entry")
        text = await thrown { try await manager.switchModel("mini", forTask: .generation) }
        XCTAssertEqual(text, "model 'mini' cannot do 'generation'; pick a model whose catalog tasks include it")
        text = await thrown { try await manager.mapTask("mine", to: "nothing") }
        XCTAssertTrue(text.hasPrefix("invalid input: ") && text.contains("'nothing' is not a built-in task ("), text)
        XCTAssertEqual(message(ManagerError.unknownModel(id: "x", known: [])),
                       "unknown model 'x': the catalog is empty; register the model first")
    }

    func testCasesWithAReasonKeepTheIdAndTheReason() {
        XCTAssertEqual(message(ManagerError.invalidCatalog(path: "/tmp/c.json", reason: "entry 2 has no id")),
                       "invalid model catalog /tmp/c.json: entry 2 has no id")
        XCTAssertEqual(message(ManagerError.modelUnavailable(id: "mini", reason: "no file at /m/mini")),
                       "model 'mini' is unavailable: no file at /m/mini")
        XCTAssertEqual(message(ManagerError.loadFailed(model: "mini", reason: "truncated")),
                       "could not load model 'mini': truncated")
        XCTAssertEqual(message(ManagerError.inferenceFailed(model: "mini", reason: "NaN")), "model 'mini' failed: NaN")
        XCTAssertEqual(message(ManagerError.systemAnalysisFailed("no /proc")), "system analysis failed: no /proc")
        XCTAssertEqual(message(ManagerError.invalidInput("the text list is empty")), "invalid input: the text list is empty")
    }
}
