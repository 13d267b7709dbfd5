// The catalog and selection: models and their state, task aliases and requirements, ranking,
// assignment, explicit switches, preferences and thresholds.
import Foundation
import Logging

extension ModelManager {
    // MARK: - Catalog

    /// Every catalog model, present or not, with its state. Rereads which files are present.
    public func availableModels() -> [ModelInfo] {
        refreshAvailability()
        return catalog.entries.map(info(for:))
    }

    /// One model's entry and state; throws `unknownModel`.
    public func modelInfo(_ id: String) throws -> ModelInfo {
        let entry = try catalog.require(id)
        availability[entry.id] = ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory)
        return info(for: entry)
    }

    func info(for entry: CatalogEntry) -> ModelInfo {
        let avail = availability[entry.id] ?? ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory)
        let stats = cache.statistics.models.filter { $0.key.id == entry.id }
        return ModelInfo(entry: entry, availability: avail, cached: stats,
                         activeFor: tasks.filter { $0.value.active.id == entry.id }.map(\.key).sorted(),
                         benchmarks: benchmarks.filter { $0.key.id == entry.id }.map(\.value),
                         loadableDTypes: entry.sizeBytes.offered.filter(backend.supportedDTypes.contains))
    }

    /// Adds a model to the catalog (in memory; write `catalog.json` to keep it).
    public func register(_ entry: CatalogEntry) throws {
        try catalog.register(entry)
        availability[entry.id] = ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory)
    }

    /// The catalog in use.
    public func currentCatalog() -> ModelCatalog { catalog }

    // MARK: - Selection

    /// Maps a task name of the user's own to a built-in task, optionally pinned to one model.
    public func mapTask(_ name: ModelTask, to base: ModelTask, model: String? = nil) throws {
        guard ModelTask.builtIn.contains(base) else {
            throw ManagerError.invalidInput("'\(base)' is not a built-in task (\(ModelTask.builtIn.map(\.rawValue).joined(separator: ", ")))")
        }
        if let model {
            let entry = try catalog.require(model)
            guard entry.method(for: base) != nil else {
                throw ManagerError.unsupportedTask(model: entry.id, task: base.rawValue)
            }
        }
        aliases[name] = (base, model.flatMap { catalog.entry($0)?.id })
        tasks[name] = nil
    }

    func resolve(_ task: ModelTask) -> (base: ModelTask, model: String?) {
        if let alias = aliases[task] { return alias }
        return (task, nil)
    }

    /// Sets the requirements used when a task is first requested (instead of the defaults).
    public func setRequirements(_ requirements: SelectionRequirements) {
        taskRequirements[requirements.task] = requirements
    }

    func requirements(for task: ModelTask) -> SelectionRequirements {
        var r = taskRequirements[task] ?? SelectionRequirements(task: task)
        r.task = task
        return r
    }

    func memoryLimits(_ info: SystemInfo) -> [MemoryLimit] {
        var limits: [MemoryLimit] = []
        if let m = configuration.modelMemoryLimitBytes {
            limits.append(MemoryLimit(bytes: m, source: configuration.settingName("modelMemoryLimitBytes")))
        }
        limits.append(MemoryLimit(bytes: cache.budget, source: budgetName))
        limits.append(MemoryLimit(bytes: info.effectiveAvailableMemoryBytes, source: MemoryLimit.availableMemory))
        return limits
    }

    /// How messages name the cache budget: the setting as the caller set it (`maxCacheSizeBytes` in
    /// code, `MAX_MODEL_CACHE_SIZE` from the environment), or when unset both ways to set it.
    var budgetName: String {
        configuration.maxCacheSizeBytes == nil
            ? "the cache budget (unset, so half the available memory; set maxCacheSizeBytes, or MAX_MODEL_CACHE_SIZE in the environment)"
            : configuration.settingName("maxCacheSizeBytes")
    }

    /// How messages name the thresholds (`SelectionContext.settingNames`): by the configuration
    /// setting they came from, until `setPerformanceThresholds` replaces them.
    var thresholdNames: [String: String] {
        var names = ["preferredModel": configuration.settingName("preferredModel")]
        if !thresholdsSetInCode {
            names["maxInferenceTimeMs"] = configuration.settingName("maxInferenceTimeMs")
            names["minAccuracy"] = configuration.settingName("minAccuracy")
            names["maxMemoryPerModelBytes"] = configuration.settingName("maxMemoryUsageBytes")
        }
        return names
    }

    /// How messages name one threshold (a `PerformanceThresholds` property).
    func thresholdName(_ property: String) -> String {
        thresholdNames[property] ?? "PerformanceThresholds.\(property)"
    }

    /// Ranks models with the cached analysis; no state changes. This is the sub-millisecond path.
    public func recommend(_ requirements: SelectionRequirements) throws -> SelectionResult {
        guard let analysis else {
            throw ManagerError.systemAnalysisFailed("the system has not been analysed yet; call analyzeSystem() first")
        }
        let (base, pinned) = resolve(requirements.task)
        var req = requirements
        req.task = base
        let models = catalog.entries.filter { pinned == nil || $0.id == pinned }.map {
            ($0, availability[$0.id] ?? ModelAvailability.check($0, modelsDirectory: configuration.modelsDirectory))
        }
        let context = SelectionContext(
            models: models, analysis: analysis, thresholds: thresholds,
            preference: preferences[requirements.task] ?? preferences[base],
            preferredModel: configuration.preferredModel, memoryLimits: memoryLimits(analysis.info),
            supportedDTypes: backend.supportedDTypes, benchmarks: benchmarks, failedLoads: failedLoads,
            settingNames: thresholdNames)
        var result = ModelSelector.select(req, context: context)
        result.requirements.task = requirements.task
        return result
    }

    /// Ranked candidates and rejections for `requirements` (analyses the system first if needed).
    public func modelRecommendations(for requirements: SelectionRequirements) async throws -> SelectionResult {
        _ = try await ensureAnalysis()
        return try recommend(requirements)
    }

    /// Selects the best model for `requirements` and assigns it to the task. Throws `noCandidate`
    /// with every rejection when none qualifies.
    @discardableResult
    public func selectOptimalModel(for requirements: SelectionRequirements) async throws -> SelectionResult {
        let result = try await modelRecommendations(for: requirements)
        guard let chosen = result.chosen else {
            throw ManagerError.noCandidate(task: requirements.task.rawValue, reasons: result.rejections.map(\.summary))
        }
        taskRequirements[requirements.task] = requirements
        let previous = tasks[requirements.task]
        var state = TaskState(active: chosen.key, method: chosen.method, selection: result)
        state.pinned = resolve(requirements.task).model != nil
        if let previous {
            state.observedSlow = previous.observedSlow
            if previous.active == chosen.key { state.requestsSinceSwitch = previous.requestsSinceSwitch }
        }
        tasks[requirements.task] = state
        logger.debug("selection for \(requirements.task):\n\(result.explanation)")
        hub.emit(.modelSelected(task: requirements.task, model: chosen.key, reason: chosen.reasons.first ?? "best ranked"))
        if let previous, previous.active != chosen.key {
            switchCount += 1
            hub.emit(.modelSwitched(task: requirements.task, from: previous.active, to: chosen.key,
                                    reason: "re-selected: \(chosen.reasons.first ?? "best ranked")"))
        }
        return result
    }

    /// The same as `selectOptimalModel(for:)` with the task's default requirements.
    @discardableResult
    public func selectOptimalModel(task: ModelTask = .sentiment) async throws -> SelectionResult {
        try await selectOptimalModel(for: requirements(for: task))
    }

    func state(for task: ModelTask) async throws -> TaskState {
        if let state = tasks[task] { return state }
        try await selectOptimalModel(for: requirements(for: task))
        guard let state = tasks[task] else {
            throw ManagerError.noCandidate(task: task.rawValue, reasons: [])
        }
        return state
    }

    /// Loads `id` (in `dtype`, default the best the backend supports) and makes it serve `task`.
    /// Requests already running finish on the old model.
    public func switchModel(_ id: String, dtype: ModelDType? = nil, forTask task: ModelTask,
                            reason: String = "requested") async throws {
        _ = try await ensureAnalysis()
        let entry = try catalog.require(id)
        let base = resolve(task).base
        guard let method = entry.method(for: base) else { throw ManagerError.unsupportedTask(model: entry.id, task: base.rawValue) }
        guard let chosenDType = dtype ?? entry.sizeBytes.offered.first(where: backend.supportedDTypes.contains) else {
            throw ManagerError.modelUnavailable(id: entry.id, reason: "the backend loads none of its dtypes")
        }
        let key = ModelKey(entry.id, chosenDType)
        release(try await acquire(key))
        if var state = tasks[task] {
            state.selection = state.selection ?? (try? recommend(requirements(for: task)))
            tasks[task] = state
            performSwitch(task, to: key, method: method, reason: reason)
        } else {
            tasks[task] = TaskState(active: key, method: method, selection: try? recommend(requirements(for: task)))
            hub.emit(.modelSelected(task: task, model: key, reason: reason))
        }
    }

    /// Re-selects the task's model with fresh facts and switches if another one now ranks first.
    @discardableResult
    public func switchModel(forTask task: ModelTask) async throws -> ModelKey {
        _ = try await analyzeSystem(refresh: false)
        let result = try recommend(requirements(for: task))
        guard let chosen = result.chosen else {
            throw ManagerError.noCandidate(task: task.rawValue, reasons: result.rejections.map(\.summary))
        }
        if tasks[task]?.active != chosen.key {
            try await switchModel(chosen.key.id, dtype: chosen.key.dtype, forTask: task,
                                  reason: "re-selected: \(chosen.reasons.first ?? "ranks first")")
        }
        if var state = tasks[task] {
            state.selection = result
            tasks[task] = state
        }
        return chosen.key
    }

    func performSwitch(_ task: ModelTask, to key: ModelKey, method: InferenceMethod, reason: String) {
        guard var state = tasks[task], state.active != key else { return }
        let from = state.active
        state.active = key
        state.method = method
        state.requestsSinceSwitch = 0
        state.recent = []
        tasks[task] = state
        switchCount += 1
        logger.info("switched \(task) from \(from) to \(key): \(reason)")
        hub.emit(.modelSwitched(task: task, from: from, to: key, reason: reason))
    }

    /// Sets per-task preferences (preferred models, fallback, priority). Unknown model ids throw.
    public func setModelPreferences(_ preferences: [ModelTask: TaskPreference]) throws {
        for preference in preferences.values {
            for id in preference.preferred + [preference.fallback].compactMap({ $0 }) { _ = try catalog.require(id) }
        }
        self.preferences.merge(preferences) { $1 }
    }

    /// Sets the thresholds (and the base for automatic latency-threshold adjustment).
    public func setPerformanceThresholds(_ thresholds: PerformanceThresholds) throws {
        guard thresholds.maxInferenceTimeMs > 0, (0...1).contains(thresholds.minAccuracy),
              (0...1).contains(thresholds.targetConfidence), (thresholds.maxMemoryPerModelBytes ?? 1) > 0 else {
            throw ManagerError.invalidInput("thresholds: maxInferenceTimeMs must be > 0, minAccuracy and "
                + "targetConfidence between 0 and 1, maxMemoryPerModelBytes > 0")
        }
        self.thresholds = thresholds
        thresholdsSetInCode = true
        baseMaxInferenceMs = thresholds.maxInferenceTimeMs
    }

    /// The thresholds in force.
    public func performanceThresholds() -> PerformanceThresholds { thresholds }

    /// Sets the switching policy (window, hysteresis, cooldown).
    public func setSwitchPolicy(_ policy: SwitchPolicy) { self.policy = policy }

    /// Which model serves which task.
    public func assignments() -> [TaskAssignment] {
        tasks.map { TaskAssignment(task: $0.key, model: $0.value.active, method: $0.value.method, pinned: $0.value.pinned) }
            .sorted { $0.task < $1.task }
    }
}
