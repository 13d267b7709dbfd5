// What the manager hands back besides task results: request contexts, assignments, the reports of
// initialize, status, compatibility and optimisation.
import Foundation

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
    /// The cache's hold on the model (which load of it: data derived from one load is kept with it).
    var lease: CacheLease?

    public static func == (a: RequestContext, b: RequestContext) -> Bool {
        a.task == b.task && a.baseTask == b.baseTask && a.model == b.model && a.method == b.method
            && a.weightsAreRandom == b.weightsAreRandom && a.labels == b.labels && a.lease?.slot == b.lease?.slot
    }
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
