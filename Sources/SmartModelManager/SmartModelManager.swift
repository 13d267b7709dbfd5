// The manager: an actor that analyses the machine, selects models for tasks, loads them into a
// memory-budgeted cache, runs requests on them (off the actor, holding a lease so a switch or an
// eviction never pulls a model from under a request), watches latency and switches with
// hysteresis, falls back when a load fails, benchmarks, and reports everything as events.
import Foundation
import Logging

/// What a request runs with: the task, the model serving it and how it answers.
public struct RequestContext: Sendable, Equatable {
    /// The task as requested (possibly a user's own task name).
    public var task: ModelTask
    /// The built-in task it maps to.
    public var baseTask: ModelTask
    /// The model serving the request.
    public var model: ModelKey
    /// How the model answers the task.
    public var method: InferenceMethod
    /// True when the model's weights are a random stand-in.
    public var weightsAreRandom: Bool
    /// The model's classification labels (empty for embedders and generators).
    public var labels: [String]
}

/// The model assigned to a task.
public struct TaskAssignment: Sendable, Codable, Equatable {
    /// The task.
    public var task: ModelTask
    /// Its model.
    public var model: ModelKey
    /// How it answers.
    public var method: InferenceMethod
    /// True when the task is pinned to a model by `mapTask(_:to:model:)`.
    public var pinned: Bool
}

/// Where the time of `initialize` went (ms).
public struct InitializationProfile: Sendable, Codable, Equatable {
    /// System analysis (with the probe when not cached).
    public var analysisMs: Double = 0
    /// Selecting a model per requirement.
    public var selectionMs: Double = 0
    /// Loading (mapping) the chosen models.
    public var loadMs: Double = 0
    /// The first (warm-up) inference of each.
    public var firstInferenceMs: Double = 0
    /// Benchmarks (`MODEL_BENCHMARK_ENABLED`).
    public var benchmarkMs: Double = 0
    /// All of `initialize`.
    public var totalMs: Double = 0
}

/// What `initialize` did.
public struct InitializationReport: Sendable {
    /// The machine.
    public var analysis: SystemAnalysis
    /// One selection per requirement.
    public var selections: [SelectionResult]
    /// Models loaded and warmed (empty with `SMM_SKIP_PREFETCH=1`).
    public var prefetched: [ModelKey]
    /// Benchmarks run (with `MODEL_BENCHMARK_ENABLED=1`).
    public var benchmarks: [BenchmarkResult]
    /// Where the time went.
    public var profile: InitializationProfile
}

/// A model with its catalog entry, availability and state.
public struct ModelInfo: Sendable, Equatable {
    /// The catalog entry.
    public var entry: CatalogEntry
    /// Is the file there?
    public var availability: ModelAvailability
    /// Loaded dtypes with their cache figures.
    public var cached: [CachedModel]
    /// Tasks it serves now.
    public var activeFor: [ModelTask]
    /// Benchmarks on this machine for its current files.
    public var benchmarks: [BenchmarkResult]
    /// dtypes the backend can load for it.
    public var loadableDTypes: [ModelDType]
}

/// What `checkCompatibility` finds.
public struct CompatibilityReport: Sendable, Equatable {
    /// The model.
    public var modelID: String
    /// True when at least one of its tasks can run here.
    public var compatible: Bool
    /// Tasks it can serve here, with the best dtype's candidate.
    public var usable: [ModelTask: Candidate]
    /// Why it cannot serve the others (or some dtypes).
    public var issues: [Rejection]
}

/// The machine and the manager's state at a glance.
public struct SystemStatus: Sendable {
    /// The last analysis.
    public var analysis: SystemAnalysis
    /// Task → model.
    public var assignments: [TaskAssignment]
    /// The cache.
    public var cache: CacheStatistics
    /// Thresholds in force (after automatic adjustment).
    public var thresholds: PerformanceThresholds
    /// The backend's name.
    public var backend: String
    /// Catalog models whose files are present.
    public var availableModels: Int
    /// Catalog models in all.
    public var catalogModels: Int
}

/// A change `optimizeModelSelection` made or suggests.
public struct OptimisationAction: Sendable, Equatable {
    /// The task.
    public var task: ModelTask
    /// Its model before.
    public var from: ModelKey?
    /// The model proposed.
    public var to: ModelKey
    /// True when switched (auto-select on), false when only suggested.
    public var applied: Bool
    /// Why.
    public var reason: String
}

/// What `optimizeMemoryUsage` did.
public struct MemoryOptimisation: Sendable, Equatable {
    /// Models dropped.
    public var evicted: [ModelKey]
    /// Bytes freed from the budget.
    public var freedBytes: Int
    /// True when the system was short of memory (available below 10% of total or 512 MB).
    public var underPressure: Bool
    /// The budget after, bytes.
    public var budgetBytes: Int
}

/// Picks, loads, caches, benchmarks, monitors and switches models. Safe to call from many tasks at once.
public actor SmartModelManager {
    /// The settings it was made with.
    public nonisolated let configuration: ManagerConfiguration
    /// The backend that loads and runs models.
    public nonisolated let backend: any InferenceBackend
    nonisolated let probe: any SystemProbe
    nonisolated let hub = EventHub()

    var logger: Logger
    var catalog: ModelCatalog
    var availability: [String: ModelAvailability] = [:]
    var analysis: SystemAnalysis?
    var analysisTask: Task<SystemAnalysis, any Error>?
    var thresholds: PerformanceThresholds
    var baseMaxInferenceMs: Double
    var preferences: [ModelTask: TaskPreference] = [:]
    var aliases: [ModelTask: (base: ModelTask, model: String?)] = [:]
    var taskRequirements: [ModelTask: SelectionRequirements] = [:]
    var tasks: [ModelTask: TaskState] = [:]
    var book: CacheBook
    var loading: [ModelKey: Task<any LoadedInferenceModel, any Error>] = [:]
    var waiters: [CheckedContinuation<Void, Never>] = []
    var monitor = PerformanceMonitor()
    var policy = SwitchPolicy()
    var benchmarkStore: BenchmarkStore?
    var benchmarks: [ModelKey: BenchmarkResult] = [:]
    var failedLoads: [ModelKey: String] = [:]
    var prototypeCache: [String: [[[Float]]]] = [:]
    var switchCount = 0

    struct TaskState {
        var active: ModelKey
        var method: InferenceMethod
        var selection: SelectionResult?
        var requestsSinceSwitch = 0
        var pinned = false
        /// Models this task left for being slow, with the p50 they showed: a step back up predicts
        /// at least that latency (the memory half of the hysteresis).
        var observedSlow: [ModelKey: Double] = [:]
        /// Latencies of the active model since the last switch or decision (the policy's window).
        var recent: [Double] = []
    }

    /// Every event from now on, in order. Each access makes a new subscription.
    public nonisolated var events: AsyncStream<ManagerEvent> { hub.subscribe() }

    /// A manager. The catalog is `catalog`, else the file the configuration names or finds next to
    /// the models folder, else the built-in one.
    public init(configuration: ManagerConfiguration = ManagerConfiguration(),
                backend: any InferenceBackend = EngineBackend(), systemProbe: any SystemProbe = LiveSystemProbe(),
                catalog: ModelCatalog? = nil, logger: Logger? = nil) throws {
        self.configuration = configuration
        self.backend = backend
        self.probe = systemProbe
        var log = logger ?? Logger(label: "smm.manager")
        log.logLevel = configuration.logLevel
        self.logger = log
        if let catalog {
            self.catalog = catalog
        } else if let url = configuration.resolvedCatalogPath {
            self.catalog = try ModelCatalog.load(from: url)
        } else {
            self.catalog = ModelCatalog.builtIn
        }
        self.thresholds = PerformanceThresholds(maxInferenceTimeMs: configuration.maxInferenceTimeMs,
                                                minAccuracy: configuration.minAccuracy,
                                                maxMemoryPerModelBytes: configuration.maxMemoryUsageBytes)
        self.baseMaxInferenceMs = configuration.maxInferenceTimeMs
        self.book = CacheBook(budget: configuration.maxCacheSizeBytes ?? (1 << 30))
        if let fallback = configuration.fallbackModel, self.catalog.entry(fallback) == nil {
            throw ManagerError.invalidConfiguration(variable: "FALLBACK_MODEL", value: fallback,
                expected: "a catalog model id (" + self.catalog.entries.map(\.id).joined(separator: ", ") + ")")
        }
        if let preferred = configuration.preferredModel,
           !self.catalog.entries.contains(where: { $0.id.lowercased() == preferred.lowercased()
               || $0.architecture == preferred.lowercased() }) {
            let archs = Set(self.catalog.entries.map(\.architecture)).sorted()
            throw ManagerError.invalidConfiguration(variable: "PREFERRED_MODEL_TYPE", value: preferred,
                expected: "a catalog model id or architecture (" + (self.catalog.entries.map(\.id) + archs)
                    .joined(separator: ", ") + ")")
        }
    }

    /// A manager configured from the environment (`ManagerConfiguration.fromEnvironment`).
    public static func fromEnvironment(backend: any InferenceBackend = EngineBackend(),
                                       systemProbe: any SystemProbe = LiveSystemProbe()) throws -> SmartModelManager {
        try SmartModelManager(configuration: try .fromEnvironment(), backend: backend, systemProbe: systemProbe)
    }

    deinit { hub.finish() }

    // MARK: - Analysis

    /// Analyses the machine: facts from the OS, the throughput probe (measured once, then cached per
    /// machine for a week in the cache folder; `refresh` measures again), score and tier. Also checks
    /// `MIN_SYSTEM_MEMORY` and `MIN_CPU_CORES`, rereads which models are present, and loads the
    /// benchmarks of this machine.
    @discardableResult
    public func analyzeSystem(refresh: Bool = false) async throws -> SystemAnalysis {
        if !refresh, let analysis { return analysis }
        if let analysisTask { return try await analysisTask.value }
        let task = Task { try await self.performAnalysis(refresh: refresh) }
        analysisTask = task
        defer { analysisTask = nil }
        return try await task.value
    }

    func performAnalysis(refresh: Bool) async throws -> SystemAnalysis {
        let start = ContinuousClock.now
        var info = try probe.collect(modelsDirectory: configuration.modelsDirectory)
        let probeURL = configuration.resolvedCacheDirectory.appendingPathComponent("system-probe.json")
        let cached = refresh ? nil : ProbeCache.load(probeURL, machineID: info.machineID)
        if let cached, type(of: probe) == LiveSystemProbe.self {
            info.throughput = cached
            logger.debug("throughput probe from cache \(probeURL.path)")
        } else {
            let p = probe
            let threads = info.computeThreads
            var measured = await Task.detached { p.measureThroughput(threads: threads) }.value
            measured.machineID = info.machineID
            info.throughput = measured
            if type(of: probe) == LiveSystemProbe.self, let error = ProbeCache.save(measured, to: probeURL) {
                logger.debug("could not cache the probe at \(probeURL.path): \(error)")
            }
        }
        if let minimum = configuration.minSystemMemoryBytes, info.effectiveAvailableMemoryBytes < minimum {
            throw ManagerError.systemBelowMinimum(variable: "MIN_SYSTEM_MEMORY", required: ByteFormat.string(minimum),
                available: ByteFormat.string(info.effectiveAvailableMemoryBytes) + " available")
        }
        if let minimum = configuration.minCPUCores, info.usableCores < minimum {
            throw ManagerError.systemBelowMinimum(variable: "MIN_CPU_CORES", required: "\(minimum) cores",
                                                  available: "\(info.usableCores) usable core(s)")
        }
        let result = SystemAnalysis(info: info)
        analysis = result
        if configuration.maxCacheSizeBytes == nil {
            book.budget = max(256 << 20, info.effectiveAvailableMemoryBytes / 2)
        }
        refreshAvailability()
        loadBenchmarks(machineID: info.machineID)
        let a = result.assessment
        let t = info.throughput
        logger.debug("""
            system: \(info.platform) \(info.architecture) \(info.cpuModel); cores logical \(info.logicalCores) \
            physical \(info.physicalCores) affinity \(info.affinityCores) cgroup \(info.cgroupCPULimit.map { "\($0)" } ?? "none") \
            → usable \(info.usableCores); memory total \(ByteFormat.string(info.totalMemoryBytes)) available \
            \(ByteFormat.string(info.availableMemoryBytes)) effective \(ByteFormat.string(info.effectiveAvailableMemoryBytes)); \
            load \(info.loadAverage); features \(info.featureNames.joined(separator: ","))
            """)
        logger.debug("""
            probe: sgemm \(String(format: "%.1f", t?.singleCoreGFLOPS ?? 0)) GFLOP/s on one core, \
            \(String(format: "%.1f", t?.multiCoreGFLOPS ?? 0)) on \(t?.threads ?? 0) threads; \
            copy \(String(format: "%.1f", t?.memoryBandwidthGBps ?? 0)) GB/s; score \(a.score) → \(a.tier.rawValue) \
            (\(a.points.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value))" }.joined(separator: ", "))); \
            cache budget \(ByteFormat.string(book.budget)); analysed in \(ms(since: start)) ms
            """)
        hub.emit(.systemAnalysed(tier: a.tier, score: a.score))
        return result
    }

    func ensureAnalysis() async throws -> SystemAnalysis {
        if let analysis { return analysis }
        return try await analyzeSystem()
    }

    func refreshAvailability() {
        var result: [String: ModelAvailability] = [:]
        for entry in catalog.entries {
            result[entry.id] = ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory)
        }
        availability = result
    }

    func loadBenchmarks(machineID: String) {
        let url = configuration.resolvedCacheDirectory.appendingPathComponent("benchmarks.json")
        if benchmarkStore?.url != url { benchmarkStore = BenchmarkStore(url: url) }
        benchmarks = [:]
        guard let store = benchmarkStore else { return }
        for entry in catalog.entries {
            guard let checksum = availability[entry.id]?.checksum else { continue }
            for dtype in entry.sizeBytes.offered {
                let key = ModelKey(entry.id, dtype)
                if let r = store.result(machineID: machineID, key: key, checksum: checksum) { benchmarks[key] = r }
            }
        }
    }

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
        let stats = book.statistics.models.filter { $0.key.id == entry.id }
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
        if let m = configuration.modelMemoryLimitBytes { limits.append(MemoryLimit(bytes: m, source: "MODEL_MEMORY_LIMIT")) }
        limits.append(MemoryLimit(bytes: book.budget, source: budgetName))
        limits.append(MemoryLimit(bytes: info.effectiveAvailableMemoryBytes, source: "the available memory"))
        return limits
    }

    var budgetName: String {
        configuration.maxCacheSizeBytes == nil ? "MAX_MODEL_CACHE_SIZE (default: half the available memory)"
            : "MAX_MODEL_CACHE_SIZE"
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
            supportedDTypes: backend.supportedDTypes, benchmarks: benchmarks, failedLoads: failedLoads)
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
            throw ManagerError.noCandidate(task: requirements.task.rawValue,
                                           reasons: result.rejections.map { "\($0.modelID): \($0.message)" })
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
        _ = try await acquire(key)
        release(key)
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
            throw ManagerError.noCandidate(task: task.rawValue, reasons: result.rejections.map { "\($0.modelID): \($0.message)" })
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

    // MARK: - Requests

    struct Lease {
        var key: ModelKey
        var model: any LoadedInferenceModel
        var context: RequestContext
    }

    /// Runs `body` with the model serving `task`, holding it for the whole call (it is neither evicted
    /// nor unloaded meanwhile; a switch affects later requests only). `body` runs off the actor.
    public func withModel<R: Sendable>(for task: ModelTask,
                                       _ body: @Sendable (any LoadedInferenceModel, RequestContext) async throws -> R)
        async throws -> R {
        let lease = try await beginRequest(task)
        let start = ContinuousClock.now
        do {
            let result = try await body(lease.model, lease.context)
            finishRequest(lease, ms: ms(since: start), success: true)
            return result
        } catch {
            finishRequest(lease, ms: ms(since: start), success: false)
            if error is ManagerError { throw error }
            throw ManagerError.inferenceFailed(model: lease.key.id, reason: "\(error)")
        }
    }

    func beginRequest(_ task: ModelTask) async throws -> Lease {
        var attempts = 0
        while true {
            let state = try await state(for: task)
            let key = state.active
            do {
                let model = try await acquire(key)
                // A switch while loading does not matter: the request runs on what it leased.
                let entry = catalog.entry(key.id)
                let context = RequestContext(task: task, baseTask: resolve(task).base, model: key, method: state.method,
                                             weightsAreRandom: availability[key.id]?.weightsAreRandom ?? false,
                                             labels: entry?.labels ?? [])
                return Lease(key: key, model: model, context: context)
            } catch let error as ManagerError {
                guard case .loadFailed(_, let reason) = error else { throw error }
                attempts += 1
                guard attempts <= catalog.entries.count * ModelDType.allCases.count else { throw error }
                try fallBack(task, from: key, reason: reason, error: error)
            }
        }
    }

    /// After a failed load: the task preference's fallback, else `FALLBACK_MODEL`, else the next candidate.
    func fallBack(_ task: ModelTask, from key: ModelKey, reason: String, error: ManagerError) throws {
        guard let state = tasks[task] else { throw error }
        guard state.active == key else { return }  // another request already moved on
        let base = resolve(task).base
        var target: (ModelKey, InferenceMethod)?
        let named = preferences[task]?.fallback ?? preferences[base]?.fallback ?? configuration.fallbackModel
        if let id = named, let entry = catalog.entry(id), let method = entry.method(for: base),
           availability[entry.id]?.isAvailable == true,
           let dtype = entry.sizeBytes.offered.first(where: {
               backend.supportedDTypes.contains($0) && failedLoads[ModelKey(entry.id, $0)] == nil }) {
            target = (ModelKey(entry.id, dtype), method)
        }
        if target == nil, !state.pinned, let next = try? recommend(requirements(for: task)).chosen {
            target = (next.key, next.method)
        }
        guard let (to, method) = target, to != key else {
            throw ManagerError.loadFailed(model: key.id, reason: "\(reason); no fallback model is available "
                + "(set FALLBACK_MODEL or a task preference's fallback)")
        }
        performSwitch(task, to: to, method: method, reason: "fallback: \(key) failed to load (\(reason))")
    }

    func finishRequest(_ lease: Lease, ms: Double, success: Bool) {
        release(lease.key)
        let task = lease.context.task
        monitor.record(task: task, model: lease.key, ms: ms, success: success)
        guard success, var state = tasks[task], state.active == lease.key else { return }
        state.requestsSinceSwitch += 1
        state.recent.append(ms)
        if state.recent.count > policy.window { state.recent.removeFirst(state.recent.count - policy.window) }
        tasks[task] = state
        let count = monitor.count(task: task, model: lease.key)
        if count % policy.window == 0 {
            let summary = LatencySummary(Array(monitor.samples(task: task, model: lease.key).suffix(policy.window)))
            logger.debug("performance \(task) on \(lease.key): p50 \(summary.p50Ms) ms p90 \(summary.p90Ms) ms over \(summary.count)")
            hub.emit(.performanceUpdate(task: task, model: lease.key, latency: summary))
        }
        evaluateSwitch(task)
    }

    func thresholdMs(for task: ModelTask) -> Double {
        taskRequirements[task]?.maxLatencyMs ?? thresholds.maxInferenceTimeMs
    }

    /// Applies the switching policy to the task's latest window.
    func evaluateSwitch(_ task: ModelTask) {
        guard let state = tasks[task], !state.pinned else { return }
        let threshold = thresholdMs(for: task)
        let samples = state.recent
        let verdict = policy.evaluate(samples, thresholdMs: threshold, requestsSinceSwitch: state.requestsSinceSwitch)
        let candidates = state.selection?.candidates ?? []
        let current = candidates.first { $0.key == state.active }
        switch verdict {
        case .keep:
            return
        case let .tooSlow(share, p50):
            let faster = candidates.filter { c in
                c.key != state.active && failedLoads[c.key] == nil
                    && (current.map { c.latencyMs <= $0.latencyMs * policy.minSpeedup } ?? true)
            }.max { $0.score < $1.score }
            let why = "\(Int((share * 100).rounded()))% of the last \(policy.window) requests took over "
                + "\(fmt(threshold)) ms (p50 \(fmt(p50)) ms)"
            tasks[task]?.recent = []
            if let faster {
                if configuration.autoSelect { tasks[task]?.observedSlow[state.active] = p50 }
                let ratio = current.map { faster.latencyMs / max($0.latencyMs, 1e-9) }
                let reason = "latency: \(why); \(faster.key) is expected "
                    + (ratio.map { String(format: "%.1f× faster", 1 / max($0, 1e-9)) } ?? "faster")
                if configuration.autoSelect {
                    performSwitch(task, to: faster.key, method: faster.method, reason: reason)
                } else {
                    hub.emit(.optimisationSuggested(task: task, suggestion: "switch to \(faster.key): \(reason)"))
                }
            } else {
                adjustThreshold(task: task, why: why)
            }
        case let .headroom(p90):
            guard let best = state.selection?.chosen, best.key != state.active, failedLoads[best.key] == nil,
                  let current else { return }
            let predicted = max(p90 * best.latencyMs / max(current.latencyMs, 1e-9), state.observedSlow[best.key] ?? 0)
            guard predicted < threshold * policy.recoverFraction else { return }
            tasks[task]?.recent = []
            let reason = "headroom: p90 \(fmt(p90)) ms is under \(fmt(threshold * policy.recoverFraction)) ms and the "
                + "best-ranked \(best.key) is expected at \(fmt(predicted)) ms"
            if configuration.autoSelect {
                performSwitch(task, to: best.key, method: best.method, reason: reason)
            } else {
                hub.emit(.optimisationSuggested(task: task, suggestion: "switch back to \(best.key): \(reason)"))
            }
        }
    }

    /// No faster model: the machine is slower than the threshold assumes. Raise it by 25%, up to
    /// `maxAdjustmentFactor` × the configured value, and say so.
    func adjustThreshold(task: ModelTask, why: String) {
        let bound = baseMaxInferenceMs * thresholds.maxAdjustmentFactor
        if taskRequirements[task]?.maxLatencyMs == nil, thresholds.maxInferenceTimeMs < bound {
            let old = thresholds.maxInferenceTimeMs
            thresholds.maxInferenceTimeMs = min(bound, old * 1.25)
            hub.emit(.optimisationSuggested(task: task, suggestion: "raised the latency threshold from \(fmt(old)) to "
                + "\(fmt(thresholds.maxInferenceTimeMs)) ms (bound \(fmt(bound)) ms): \(why) and no faster model qualifies"))
        } else {
            hub.emit(.optimisationSuggested(task: task, suggestion: "\(why) and no faster model qualifies: "
                + "add cores, free CPU time, or register a smaller model or dtype"))
        }
    }

    // MARK: - Cache

    /// Takes a lease on `key`, loading it if needed. Never exceeds the budget: evicts idle models
    /// (least recently used first), waits for models in use to become idle, and throws
    /// `exceedsBudget` when the model alone is over a limit.
    func acquire(_ key: ModelKey) async throws -> any LoadedInferenceModel {
        while true {
            if let model = book.lease(key) {
                book.hits += 1
                return model
            }
            if let pending = loading[key] {
                do { _ = try await pending.value } catch {
                    throw ManagerError.loadFailed(model: key.id, reason: failedLoads[key] ?? "\(error)")
                }
                continue
            }
            let entry = try catalog.require(key.id)
            guard let avail = availability[entry.id], avail.isAvailable else {
                let reason = (availability[entry.id] ?? ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory))
                    .reason ?? "file missing"
                throw ManagerError.loadFailed(model: entry.id, reason: reason)
            }
            let bytes = ModelSelector.memoryBytes(entry, key.dtype)
            if let limit = configuration.modelMemoryLimitBytes, bytes > limit {
                throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: limit, variable: "MODEL_MEMORY_LIMIT")
            }
            if let limit = thresholds.maxMemoryPerModelBytes, bytes > limit {
                throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: limit, variable: "MAX_MEMORY_USAGE")
            }
            if bytes > book.budget {
                throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: book.budget, variable: budgetName)
            }
            if !book.fits(bytes) {
                if let victims = book.victims(toFit: bytes) {
                    for victim in victims { evict(victim, reason: "least recently used; making room for \(key)") }
                } else {
                    logger.debug(.init(stringLiteral: "cache full (\(ByteFormat.string(book.committed)) of \(ByteFormat.string(book.budget))), "
                        + "\(key) waits for a model in use to become idle"))
                    await withCheckedContinuation { waiters.append($0) }
                    continue
                }
            }
            book.reserve(key, bytes: bytes)
            book.misses += 1
            let backend = self.backend
            let location = avail.location
            // The task records its own outcome on the actor before it completes, so whoever awaits it
            // (the requester, or requests for the same model) finds the cache already updated.
            let task = Task.detached { [self] () async throws -> any LoadedInferenceModel in
                let start = ContinuousClock.now
                let before = ResidentMemory.bytes()
                do {
                    let model = try await backend.load(entry, dtype: key.dtype, location: location)
                    let measured = max(model.memoryBytes, max(0, ResidentMemory.bytes() - before))
                    return await self.loadSucceeded(key, model: model, bytes: bytes, measured: measured,
                                                    loadMs: self.ms(since: start))
                } catch {
                    throw await self.loadFailed(key, error: error)
                }
            }
            loading[key] = task
            // The model comes back holding one lease: this request's.
            return try await task.value
        }
    }

    func loadSucceeded(_ key: ModelKey, model: any LoadedInferenceModel, bytes: Int, measured: Int, loadMs: Double)
        -> any LoadedInferenceModel {
        loading[key] = nil
        book.unreserve(key)
        book.insert(key, model: model, bytes: bytes, measuredBytes: measured, loadMs: loadMs)
        logger.debug(.init(stringLiteral: "loaded \(key) in \(fmt(loadMs)) ms; charged \(ByteFormat.string(bytes)), measured "
            + "\(ByteFormat.string(measured)); cache \(ByteFormat.string(book.held)) of \(ByteFormat.string(book.budget))"))
        hub.emit(.modelLoaded(model: key, loadMs: loadMs))
        wakeWaiters()
        return model
    }

    func loadFailed(_ key: ModelKey, error: any Error) -> ManagerError {
        loading[key] = nil
        book.unreserve(key)
        book.failedLoads += 1
        wakeWaiters()
        let reason: String
        if case ManagerError.loadFailed(_, let r) = error { reason = r } else { reason = "\(error)" }
        failedLoads[key] = reason
        logger.warning("could not load \(key): \(reason)")
        hub.emit(.modelLoadFailed(model: key, reason: reason))
        return ManagerError.loadFailed(model: key.id, reason: reason)
    }

    func release(_ key: ModelKey) {
        if book.release(key), !configuration.cacheEnabled || book.shouldEvictWhenIdle(key) {
            evict(key, reason: configuration.cacheEnabled ? "cleared" : "MODEL_CACHE_ENABLED=false: unloaded when idle")
        }
        wakeWaiters()
    }

    func evict(_ key: ModelKey, reason: String) {
        guard let bytes = book.evict(key) else { return }
        prototypeCache = prototypeCache.filter { !$0.key.hasPrefix(key.description + "|") }
        logger.debug("evicted \(key) (\(ByteFormat.string(bytes))): \(reason)")
        hub.emit(.modelEvicted(model: key, reason: reason))
        wakeWaiters()
    }

    func wakeWaiters() {
        let pending = waiters
        waiters.removeAll()
        for waiter in pending { waiter.resume() }
    }

    /// Unloads every idle model; models in use go when their requests finish. Returns how many went now.
    @discardableResult
    public func clearModelCache() -> Int {
        var count = 0
        for key in book.statistics.models.map(\.key) {
            if book.leases(key) == 0 {
                evict(key, reason: "cache cleared")
                count += 1
            } else {
                book.markForEviction(key)
            }
        }
        return count
    }

    /// Hits, misses, evictions, bytes, per-model uses and load times.
    public func cacheStatistics() -> CacheStatistics { book.statistics }

    /// Drops idle models no task uses; under memory pressure (available memory below 10% of total or
    /// 512 MB) drops every idle model and shrinks the default budget to half of what is available.
    @discardableResult
    public func optimizeMemoryUsage() async throws -> MemoryOptimisation {
        let info = try probe.collect(modelsDirectory: configuration.modelsDirectory)
        let available = info.effectiveAvailableMemoryBytes
        let pressure = available < max(512 << 20, info.totalMemoryBytes / 10)
        let active = Set(tasks.values.map(\.active))
        var evicted: [ModelKey] = []
        var freed = 0
        for key in book.idleKeys where pressure || !active.contains(key) {
            let bytes = book.statistics.models.first { $0.key == key }?.bytes ?? 0
            evict(key, reason: pressure ? "memory pressure: \(ByteFormat.string(available)) available" : "idle and serving no task")
            evicted.append(key)
            freed += bytes
        }
        if pressure, configuration.maxCacheSizeBytes == nil {
            book.budget = max(64 << 20, min(book.budget, available / 2))
        }
        if analysis != nil {
            analysis?.info.availableMemoryBytes = info.availableMemoryBytes
            analysis?.info.cgroupMemoryUsageBytes = info.cgroupMemoryUsageBytes
        }
        logger.debug("memory optimisation: freed \(ByteFormat.string(freed)), pressure \(pressure), budget \(ByteFormat.string(book.budget))")
        return MemoryOptimisation(evicted: evicted, freedBytes: freed, underPressure: pressure, budgetBytes: book.budget)
    }

    // MARK: - Status

    /// The machine, the assignments, the cache and the thresholds.
    public func systemStatus() async throws -> SystemStatus {
        let analysis = try await ensureAnalysis()
        return SystemStatus(analysis: analysis, assignments: assignments(), cache: book.statistics,
                            thresholds: thresholds, backend: backend.name,
                            availableModels: availability.values.filter(\.isAvailable).count,
                            catalogModels: catalog.entries.count)
    }

    /// Rolling latency per task and per (task, model), usage per model, switches.
    public func performanceStats() -> PerformanceStats {
        let perModel = monitor.counts.keys.sorted { ($0.task, $0.model) < ($1.task, $1.model) }.map { key in
            TaskModelStatistics(task: key.task, model: key.model, count: monitor.counts[key] ?? 0,
                                failures: monitor.failures[key] ?? 0,
                                latency: LatencySummary(monitor.windows[key]?.ordered ?? []))
        }
        let perTask = monitor.taskCounts.keys.sorted().map { task in
            TaskStatistics(task: task, count: monitor.taskCounts[task] ?? 0,
                           latency: LatencySummary(monitor.taskWindows[task]?.ordered ?? []),
                           activeModel: tasks[task]?.active, thresholdMs: thresholdMs(for: task))
        }
        var usage: [String: Int] = [:]
        for (key, count) in monitor.counts { usage[key.model.description, default: 0] += count }
        return PerformanceStats(totalRequests: monitor.total, tasks: perTask, models: perModel, modelUsage: usage,
                                switches: switchCount)
    }

    /// Checks whether a model can run here, task by task.
    public func checkCompatibility(_ id: String) async throws -> CompatibilityReport {
        _ = try await ensureAnalysis()
        let entry = try catalog.require(id)
        var usable: [ModelTask: Candidate] = [:]
        var issues: [Rejection] = []
        for task in entry.tasks {
            let result = try recommend(SelectionRequirements(task: task))
            if let c = result.candidates.first(where: { $0.key.id == entry.id }) {
                usable[task] = c
            }
            for r in result.rejections where r.modelID == entry.id && !issues.contains(r) { issues.append(r) }
        }
        return CompatibilityReport(modelID: entry.id, compatible: !usable.isEmpty, usable: usable, issues: issues)
    }

    /// Re-reads the load and memory, then re-selects every (unpinned) task: under sustained CPU
    /// pressure (1-minute load above 1.5 × usable cores) with priority `speed`, stepping down to a
    /// lighter model or dtype. Switches when auto-select is on, else suggests.
    @discardableResult
    public func optimizeModelSelection() async throws -> [OptimisationAction] {
        let fresh = try probe.collect(modelsDirectory: configuration.modelsDirectory)
        var current = try await ensureAnalysis()
        current.info.loadAverage = fresh.loadAverage
        current.info.availableMemoryBytes = fresh.availableMemoryBytes
        current.info.cgroupMemoryUsageBytes = fresh.cgroupMemoryUsageBytes
        analysis = SystemAnalysis(info: current.info, analysedAt: Date().timeIntervalSince1970)
        let pressure = current.info.cpuPressure
        var actions: [OptimisationAction] = []
        for (task, state) in tasks.sorted(by: { $0.key < $1.key }) where !state.pinned {
            var req = requirements(for: task)
            var why = "re-selected with current load"
            if pressure > 1.5 {
                req.priority = .speed
                why = "CPU pressure: load \(fmt(current.info.loadAverage.first ?? 0)) on \(current.info.usableCores) cores"
            }
            let result = try recommend(req)
            guard let best = result.chosen, best.key != state.active else { continue }
            let reason = "\(why); \(best.key) ranks first (\(best.reasons.first ?? ""))"
            if configuration.autoSelect {
                var s = state
                s.selection = result
                tasks[task] = s
                performSwitch(task, to: best.key, method: best.method, reason: reason)
            } else {
                hub.emit(.optimisationSuggested(task: task, suggestion: "switch to \(best.key): \(reason)"))
            }
            actions.append(OptimisationAction(task: task, from: state.active, to: best.key,
                                              applied: configuration.autoSelect, reason: reason))
        }
        return actions
    }

    // MARK: - Initialize

    /// Analyses the system, selects a model for each requirement and, unless `SMM_SKIP_PREFETCH=1`,
    /// loads and warms each with one inference; benchmarks them with `MODEL_BENCHMARK_ENABLED=1`.
    /// The profile of each phase is logged at debug level.
    @discardableResult
    public func initialize(requirements: [SelectionRequirements] = [SelectionRequirements(task: .sentiment)])
        async throws -> InitializationReport {
        let start = ContinuousClock.now
        var profile = InitializationProfile()
        logger.debug("configuration: \(configuration.summary.joined(separator: " "))")
        let analysis = try await analyzeSystem()
        profile.analysisMs = ms(since: start)
        var selections: [SelectionResult] = []
        let selectStart = ContinuousClock.now
        for req in requirements { selections.append(try await selectOptimalModel(for: req)) }
        profile.selectionMs = ms(since: selectStart)
        var prefetched: [ModelKey] = []
        if !configuration.skipPrefetch {
            for req in requirements {
                let loadStart = ContinuousClock.now
                let lease = try await beginRequest(req.task)
                profile.loadMs += ms(since: loadStart)
                let inferStart = ContinuousClock.now
                do {
                    try await Self.warm(lease.model, method: lease.context.method)
                    finishRequest(lease, ms: ms(since: inferStart), success: true)
                } catch {
                    finishRequest(lease, ms: ms(since: inferStart), success: false)
                    throw error
                }
                profile.firstInferenceMs += ms(since: inferStart)
                if !prefetched.contains(lease.key) { prefetched.append(lease.key) }
            }
        }
        var benchmarkResults: [BenchmarkResult] = []
        if configuration.benchmarkEnabled {
            let benchStart = ContinuousClock.now
            let ids = Array(Set(tasks.values.map(\.active.id))).sorted()
            benchmarkResults = try await runQuickBenchmark(models: ids)
            profile.benchmarkMs = ms(since: benchStart)
        }
        profile.totalMs = ms(since: start)
        logger.debug(.init(stringLiteral: "initialization profile: analysis \(fmt(profile.analysisMs)) ms, selection \(fmt(profile.selectionMs)) ms, "
            + "load \(fmt(profile.loadMs)) ms, first inference \(fmt(profile.firstInferenceMs)) ms, "
            + "benchmark \(fmt(profile.benchmarkMs)) ms, total \(fmt(profile.totalMs)) ms"))
        return InitializationReport(analysis: analysis, selections: selections, prefetched: prefetched,
                                    benchmarks: benchmarkResults, profile: profile)
    }

    static func warm(_ model: any LoadedInferenceModel, method: InferenceMethod) async throws {
        switch method {
        case .classifier: _ = try await model.classify(["warm up"])
        case .embedding, .zeroShotEmbedding: _ = try await model.embed(["warm up"])
        case .generation: _ = try await model.generate(prompt: "Hello", options: TextGenerationOptions(maxNewTokens: 1))
        }
    }

    // MARK: - Helpers

    nonisolated func ms(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    nonisolated func fmt(_ x: Double) -> String { x >= 100 ? String(format: "%.0f", x) : String(format: "%.2f", x) }
}
