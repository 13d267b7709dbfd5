// The manager: an actor that analyses the machine, selects models for tasks, loads them into a
// memory-budgeted cache, runs requests on them (off the actor, holding a lease so a switch or an
// eviction never pulls a model from under a request), watches latency and switches with
// hysteresis, falls back when a load fails, benchmarks, and reports everything as events.
import Foundation
import Logging

/// The manager: selects a model for each task from its catalog by what the machine can hold and
/// run, loads and caches models within a memory budget, answers requests (embeddings, similarity,
/// search, classification, sentiment, generation), watches their latency and switches models.
///
/// ```swift
/// let manager = try ModelManager(configuration: try .fromEnvironment())
/// let mood = try await manager.marketMood(["Shares soar after record profit"])
/// ```
///
/// For one model without selection or caching, use ``TextModel``.
public actor ModelManager {
    /// The settings it was made with.
    public nonisolated let configuration: ManagerConfiguration
    /// The backend that loads and runs models.
    public nonisolated let backend: any InferenceBackend
    nonisolated let probe: any SystemProbe
    nonisolated let hub: EventHub

    var logger: Logger
    var catalog: ModelCatalog
    var availability: [String: ModelAvailability] = [:]
    var analysis: SystemAnalysis?
    var analysisTask: Task<SystemAnalysis, any Error>?
    var thresholds: PerformanceThresholds
    /// True once `setPerformanceThresholds` replaced the thresholds taken from the configuration
    /// (messages then name `PerformanceThresholds`' properties instead of the configuration's).
    var thresholdsSetInCode = false
    var baseMaxInferenceMs: Double
    var preferences: [ModelTask: TaskPreference] = [:]
    var aliases: [ModelTask: (base: ModelTask, model: String?)] = [:]
    var taskRequirements: [ModelTask: SelectionRequirements] = [:]
    var tasks: [ModelTask: TaskState] = [:]
    nonisolated let cache: ModelCache
    var monitor = PerformanceMonitor()
    var policy = SwitchPolicy()
    var benchmarkStore: BenchmarkStore?
    var benchmarks: [ModelKey: BenchmarkResult] = [:]
    var switchCount = 0

    /// Why each model that failed to load failed (kept by the cache).
    var failedLoads: [ModelKey: String] { cache.failedLoads }

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
        let hub = EventHub()
        self.hub = hub
        self.cache = ModelCache(budget: configuration.maxCacheSizeBytes ?? (1 << 30),
                                unloadWhenIdle: !configuration.cacheEnabled, hub: hub, logger: log)
        if let fallback = configuration.fallbackModel, self.catalog.entry(fallback) == nil {
            throw ManagerError.invalidConfiguration(variable: configuration.settingName("fallbackModel"), value: fallback,
                expected: "a catalog model id (" + self.catalog.entries.map(\.id).joined(separator: ", ") + ")")
        }
        if let preferred = configuration.preferredModel,
           !self.catalog.entries.contains(where: { $0.id.lowercased() == preferred.lowercased()
               || $0.architecture.rawValue == preferred.lowercased() }) {
            let archs = Set(self.catalog.entries.map(\.architecture.rawValue)).sorted()
            throw ManagerError.invalidConfiguration(variable: configuration.settingName("preferredModel"), value: preferred,
                expected: "a catalog model id or architecture (" + (self.catalog.entries.map(\.id) + archs)
                    .joined(separator: ", ") + ")")
        }
    }

    /// A manager configured from the environment (`ManagerConfiguration.fromEnvironment`).
    public static func fromEnvironment(backend: any InferenceBackend = EngineBackend(),
                                       systemProbe: any SystemProbe = LiveSystemProbe()) throws -> ModelManager {
        try ModelManager(configuration: try .fromEnvironment(), backend: backend, systemProbe: systemProbe)
    }

    deinit { hub.finish() }

    // MARK: - Helpers

    nonisolated func ms(since start: ContinuousClock.Instant) -> Double { BenchmarkHarness.milliseconds(since: start) }

}
