// From requirements and the machine to a ranked list of (model, dtype) candidates, each with its
// reasons, and a list of rejections, each with its reason. Pure: everything it needs is passed in,
// so it runs in microseconds and is tested without a machine or a model.
import Foundation

/// What to optimise for when several models qualify.
public enum SelectionPriority: String, Sendable, Codable, CaseIterable {
    /// The fastest model that meets the requirements.
    case speed
    /// The most accurate model that meets the requirements.
    case accuracy
    /// A mix of speed and accuracy.
    case balanced

    /// Weights of (speed, accuracy) in the score.
    var weights: (speed: Double, accuracy: Double) {
        switch self {
        case .speed: return (0.8, 0.2)
        case .accuracy: return (0.1, 0.9)
        case .balanced: return (0.5, 0.5)
        }
    }

    /// Quality score lost per accuracy point below the best candidate (accuracy priority is strict).
    var accuracyGapPenalty: Double { self == .accuracy ? 10 : 5 }
}

/// What a caller needs from a model.
public struct SelectionRequirements: Sendable, Equatable, Codable {
    /// The task (built-in or mapped).
    public var task: ModelTask
    /// Speed, accuracy or balanced (default: the task preference's, else balanced).
    public var priority: SelectionPriority?
    /// Longest acceptable latency per request, ms (default: the `maxInferenceTimeMs` threshold).
    public var maxLatencyMs: Double?
    /// Largest acceptable model memory (weights + activations), bytes.
    public var memoryLimitBytes: Int?
    /// Typical input length in tokens, for latency estimates.
    public var inputTokens: Int
    /// Generation: new tokens per request, for latency estimates.
    public var newTokens: Int
    /// Accept models whose weights are random stand-ins (engine tests only).
    public var allowRandomWeights: Bool
    /// Only these dtypes (nil: any the backend supports).
    public var dtypes: [ModelDType]?

    /// Requirements for `task`.
    public init(task: ModelTask, priority: SelectionPriority? = nil, maxLatencyMs: Double? = nil,
                memoryLimitBytes: Int? = nil, inputTokens: Int = 32, newTokens: Int = 32,
                allowRandomWeights: Bool = false, dtypes: [ModelDType]? = nil) {
        self.task = task
        self.priority = priority
        self.maxLatencyMs = maxLatencyMs
        self.memoryLimitBytes = memoryLimitBytes
        self.inputTokens = max(1, inputTokens)
        self.newTokens = max(1, newTokens)
        self.allowRandomWeights = allowRandomWeights
        self.dtypes = dtypes
    }
}

/// Limits requests and models should stay within (settable with `setPerformanceThresholds`).
public struct PerformanceThresholds: Sendable, Equatable, Codable {
    /// Latency a request should stay under, ms (`MAX_INFERENCE_TIME`).
    public var maxInferenceTimeMs: Double
    /// Known accuracies below this are rejected (`MIN_ACCURACY_THRESHOLD`), 0–1.
    public var minAccuracy: Double
    /// Largest model (weights + activations), bytes (`MAX_MEMORY_USAGE`); nil: none.
    public var maxMemoryPerModelBytes: Int?
    /// Confidence (top score) below which a result is flagged as uncertain, 0–1.
    public var targetConfidence: Double
    /// How far automatic adjustment may raise `maxInferenceTimeMs` (a multiple of the configured value).
    public var maxAdjustmentFactor: Double

    /// Thresholds given explicitly.
    public init(maxInferenceTimeMs: Double = 1000, minAccuracy: Double = 0, maxMemoryPerModelBytes: Int? = nil,
                targetConfidence: Double = 0.6, maxAdjustmentFactor: Double = 4) {
        self.maxInferenceTimeMs = maxInferenceTimeMs
        self.minAccuracy = minAccuracy
        self.maxMemoryPerModelBytes = maxMemoryPerModelBytes
        self.targetConfidence = targetConfidence
        self.maxAdjustmentFactor = max(1, maxAdjustmentFactor)
    }
}

/// Per-task choices of the user (settable with `setModelPreferences`).
public struct TaskPreference: Sendable, Equatable, Codable {
    /// Model ids preferred for the task, best first (a bonus in ranking, not a requirement).
    public var preferred: [String]
    /// The model id to fall back to when the chosen one fails to load.
    public var fallback: String?
    /// Default priority for the task.
    public var priority: SelectionPriority?

    /// A preference.
    public init(preferred: [String] = [], fallback: String? = nil, priority: SelectionPriority? = nil) {
        self.preferred = preferred
        self.fallback = fallback
        self.priority = priority
    }
}

/// A (model, dtype) pair, the unit the cache holds.
public struct ModelKey: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// Catalog id.
    public var id: String
    /// Weight dtype.
    public var dtype: ModelDType
    /// A key.
    public init(_ id: String, _ dtype: ModelDType = .f32) {
        self.id = id
        self.dtype = dtype
    }
    /// `id (dtype)`.
    public var description: String { "\(id) (\(dtype.rawValue))" }
    public static func < (a: ModelKey, b: ModelKey) -> Bool { (a.id, a.dtype.rawValue) < (b.id, b.dtype.rawValue) }
}

/// One ranked candidate.
public struct Candidate: Sendable, Equatable, Codable {
    /// The model and dtype.
    public var key: ModelKey
    /// How it would answer the task.
    public var method: InferenceMethod
    /// Ranking score (higher is better).
    public var score: Double
    /// Latency per request, ms.
    public var latencyMs: Double
    /// True when `latencyMs` comes from a benchmark on this machine, false when estimated from FLOPs.
    public var latencyMeasured: Bool
    /// Memory it would take (weights + activations), bytes.
    public var memoryBytes: Int
    /// Accuracy used in ranking (0–1), nil when none is known.
    public var accuracy: Double?
    /// Where `accuracy` comes from (`published SST-2 dev`, `measured on 24 headlines`).
    public var accuracySource: String?
    /// True when the weights are random stand-ins.
    public var weightsAreRandom: Bool
    /// Why it ranks where it does.
    public var reasons: [String]
}

/// Why a candidate was rejected.
public enum RejectionReason: String, Sendable, Codable, CaseIterable {
    /// The model does not do the task.
    case incompatibleTask = "incompatible-task"
    /// Its file is not in the models folder.
    case fileMissing = "file-missing"
    /// It is larger than a memory limit.
    case tooBig = "too-big"
    /// Its predicted or measured latency is over the limit.
    case tooSlow = "too-slow"
    /// The machine has fewer cores than it needs.
    case notEnoughCores = "not-enough-cores"
    /// The machine has less free memory than it needs.
    case notEnoughMemory = "not-enough-memory"
    /// The backend does not run this dtype on this CPU.
    case unsupportedDType = "unsupported-dtype"
    /// Its weights are a random-weight stand-in and the requirements ask for real ones.
    case randomWeights = "random-weights"
    /// Its published accuracy is below the requirements' minimum.
    case belowMinAccuracy = "below-min-accuracy"
    /// It failed to load before.
    case loadFailed = "load-failed"
    /// q4 is chosen only when a memory limit needs it or the priority is speed, and neither holds.
    case q4NotNeeded = "q4-not-needed"
}

/// One rejected model (or model + dtype).
public struct Rejection: Sendable, Equatable, Codable {
    /// The model.
    public var modelID: String
    /// The dtype, when the rejection is about one dtype only.
    public var dtype: ModelDType?
    /// The reason's kind.
    public var reason: RejectionReason
    /// The reason in words, with the numbers.
    public var message: String

    /// The rejection in one line naming the model and, when it applies, the dtype:
    /// `all-MiniLM-L6-v2 int8: too big: needs 46 MB ...`.
    public var summary: String {
        "\(modelID)\(dtype.map { " \($0.rawValue)" } ?? ""): \(message)"
    }
}

/// The outcome of a selection.
public struct SelectionResult: Sendable, Equatable, Codable {
    /// The requirements as resolved (priority and latency filled in).
    public var requirements: SelectionRequirements
    /// Qualifying candidates, best first.
    public var candidates: [Candidate]
    /// Everything that did not qualify.
    public var rejections: [Rejection]
    /// The system tier the choice was made for.
    public var tier: SystemTier
    /// GFLOP/s used for estimates.
    public var gflops: Double
    /// The best candidate.
    public var chosen: Candidate? { candidates.first }

    /// A paragraph explaining the choice and the rejections.
    public var explanation: String {
        var lines: [String] = []
        if let c = chosen {
            lines.append("chose \(c.key) for \(requirements.task) (\(c.method.rawValue)), rank 1 of \(candidates.count):")
            lines += c.reasons.map { "  - \($0)" }
        } else {
            lines.append("no model qualifies for \(requirements.task)")
        }
        for c in candidates.dropFirst() {
            lines.append("also qualifies: \(c.key), score \(String(format: "%.3f", c.score)), "
                + "\(String(format: "%.1f", c.latencyMs)) ms \(c.latencyMeasured ? "measured" : "estimated")")
        }
        for r in rejections { lines.append("rejected \(r.modelID)\(r.dtype.map { " (\($0.rawValue))" } ?? ""): \(r.message)") }
        return lines.joined(separator: "\n")
    }
}

/// A memory limit and the setting it comes from (for messages).
public struct MemoryLimit: Sendable, Equatable {
    /// Bytes.
    public var bytes: Int
    /// The setting's name as the caller set it (`maxMemoryUsageBytes` in code, `MAX_MEMORY_USAGE`
    /// from the environment, `the requirements' memoryLimitBytes`), or `MemoryLimit.availableMemory`.
    public var source: String
    /// A limit.
    public init(bytes: Int, source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// The `source` of the limit the machine's available memory sets (no setting raises it).
    public static let availableMemory = "the available memory"

    /// What to do when a model is over this limit (a long `source`, with an explanation in
    /// parentheses, is not repeated).
    var remedy: String {
        if source == Self.availableMemory { return "free memory or choose a smaller model or dtype" }
        return "raise \(source.contains("(") ? "that limit" : source) or choose a smaller model or dtype"
    }
}

/// Everything selection looks at, passed in explicitly.
public struct SelectionContext: Sendable {
    /// Catalog entries with their availability.
    public var models: [(entry: CatalogEntry, availability: ModelAvailability)]
    /// The machine.
    public var analysis: SystemAnalysis
    /// Thresholds in force.
    public var thresholds: PerformanceThresholds
    /// The task's preference, if any.
    public var preference: TaskPreference?
    /// The configuration's `preferredModel` (`PREFERRED_MODEL_TYPE`): a model id or architecture.
    public var preferredModel: String?
    /// Memory limits other than the requirement's (per-model limits, cache budget, available memory).
    public var memoryLimits: [MemoryLimit]
    /// dtypes the backend can load.
    public var supportedDTypes: Set<ModelDType>
    /// Benchmarks on this machine, by key, for the current files.
    public var benchmarks: [ModelKey: BenchmarkResult]
    /// Models that failed to load, with the error.
    public var failedLoads: [ModelKey: String]
    /// How rejection messages name each threshold, by `PerformanceThresholds` property
    /// (`"maxMemoryPerModelBytes": "MAX_MEMORY_USAGE"`), and the preferred model by `"preferredModel"`.
    /// A property not here is named `PerformanceThresholds.<property>` (`preferredModel`: as is).
    public var settingNames: [String: String]

    /// A context.
    public init(models: [(entry: CatalogEntry, availability: ModelAvailability)], analysis: SystemAnalysis,
                thresholds: PerformanceThresholds = PerformanceThresholds(), preference: TaskPreference? = nil,
                preferredModel: String? = nil, memoryLimits: [MemoryLimit] = [],
                supportedDTypes: Set<ModelDType> = [.f32], benchmarks: [ModelKey: BenchmarkResult] = [:],
                failedLoads: [ModelKey: String] = [:], settingNames: [String: String] = [:]) {
        self.models = models
        self.analysis = analysis
        self.thresholds = thresholds
        self.preference = preference
        self.preferredModel = preferredModel
        self.memoryLimits = memoryLimits
        self.supportedDTypes = supportedDTypes
        self.benchmarks = benchmarks
        self.failedLoads = failedLoads
        self.settingNames = settingNames
    }

    /// The name messages give the threshold `property` (see `settingNames`).
    func settingName(_ property: String) -> String {
        settingNames[property] ?? (property == "preferredModel" ? property : "PerformanceThresholds.\(property)")
    }
}

/// Ranks models for requirements.
public enum ModelSelector {
    /// Fraction of the probe's GFLOP/s a transformer forward pass reaches (smaller GEMMs, attention,
    /// LayerNorm and softmax between them).
    public static let computeEfficiency = 0.5

    /// Memory a model takes in `dtype`: weights plus activations.
    public static func memoryBytes(_ entry: CatalogEntry, _ dtype: ModelDType) -> Int {
        (entry.sizeBytes[dtype] ?? Int(Double(entry.parameters) * dtype.bytesPerParameter)) + entry.activationBytes
    }

    /// Compute-speed multiplier of a dtype relative to f32 on this CPU (lower is faster).
    public static func dtypeTimeFactor(_ dtype: ModelDType, _ info: SystemInfo) -> Double {
        let f = info.features
        switch dtype {
        case .f32, .f16: return 1
        // AMX-BF16 measured 0.41 of f32's time on BERT-base at s128 (Sapphire Rapids, 2 vCPU);
        // AVX512_BF16 alone is no faster than the AVX-512 f32 kernel there, and unmeasured on Zen 4.
        case .bf16: return f.hasAMXBF16 ? 0.45 : 1
        case .int8: return f.hasVNNI || f.hasAMX || f.hasDotProduct ? 0.6 : 0.9
        // q4 encoders compute like int8 plus the codes' unpacking and per-block scaling: BERT-base at
        // s128 took 1.2-1.4x int8's time (Zen 4, 2 vCPU). Decode is bound by reading the weights,
        // which `estimateLatencyMs` takes from the q4 size.
        case .q4: return f.hasVNNI ? 0.8 : 4
        }
    }

    /// Estimated latency from FLOPs: encoders 2 × params × tokens; generation adds per new token the
    /// larger of 2 × params FLOPs and reading every weight once (memory bandwidth).
    public static func estimateLatencyMs(_ entry: CatalogEntry, dtype: ModelDType, method: InferenceMethod,
                                         requirements: SelectionRequirements, analysis: SystemAnalysis) -> Double {
        let gflops = analysis.effectiveGFLOPS * computeEfficiency / dtypeTimeFactor(dtype, analysis.info)
        let params = Double(entry.parameters)
        let tokens = Double(min(requirements.inputTokens, entry.maxTokens))
        var flopsTime = 2 * params * tokens / (gflops * 1e9)
        if method == .generation {
            let bandwidth = (analysis.info.throughput?.memoryBandwidthGBps ?? 10) * 1e9
            let weightBytes = Double(entry.sizeBytes[dtype] ?? entry.parameters * 4)
            let perToken = max(2 * params / (gflops * 1e9), weightBytes / bandwidth)
            flopsTime += perToken * Double(requirements.newTokens)
        }
        return flopsTime * 1000
    }

    /// Ranks every (model, dtype) for `requirements`.
    public static func select(_ requirements: SelectionRequirements, context: SelectionContext) -> SelectionResult {
        var req = requirements
        let info = context.analysis.info
        let tier = context.analysis.assessment.tier
        let priority = req.priority ?? context.preference?.priority ?? .balanced
        req.priority = priority
        let maxLatency = req.maxLatencyMs ?? context.thresholds.maxInferenceTimeMs
        let latencyName = req.maxLatencyMs == nil ? context.settingName("maxInferenceTimeMs")
            : "the requirements' maxLatencyMs"
        req.maxLatencyMs = maxLatency
        var limits = context.memoryLimits
        if let m = req.memoryLimitBytes { limits.append(MemoryLimit(bytes: m, source: "the requirements' memoryLimitBytes")) }
        if let m = context.thresholds.maxMemoryPerModelBytes {
            limits.append(MemoryLimit(bytes: m, source: context.settingName("maxMemoryPerModelBytes")))
        }
        var rejections: [Rejection] = []
        struct Viable { var entry: CatalogEntry; var dtype: ModelDType; var method: InferenceMethod; var latency: Double
            var measured: Bool; var memory: Int; var accuracy: Double?; var accuracySource: String?; var random: Bool
            var notes: [String] }
        var viable: [Viable] = []

        for (entry, availability) in context.models {
            func reject(_ reason: RejectionReason, _ message: String, _ dtype: ModelDType? = nil) {
                rejections.append(Rejection(modelID: entry.id, dtype: dtype, reason: reason, message: message))
            }
            guard let method = entry.method(for: req.task) else {
                reject(.incompatibleTask, "incompatible: its tasks are \(entry.tasks.map(\.rawValue).joined(separator: ", ")), "
                    + "not \(req.task)")
                continue
            }
            guard availability.isAvailable else {
                reject(.fileMissing, availability.reason ?? "file missing")
                continue
            }
            if availability.weightsAreRandom && !req.allowRandomWeights {
                reject(.randomWeights, "weights are a random stand-in (\(entry.provenance.prefix(60))…); "
                    + "its outputs would not be real predictions (allowRandomWeights in the requirements accepts it)")
                continue
            }
            if info.usableCores < entry.minCores {
                reject(.notEnoughCores, "not enough cores: needs \(entry.minCores), this process may use \(info.usableCores)")
                continue
            }
            if info.effectiveAvailableMemoryBytes < entry.minMemoryBytes {
                reject(.notEnoughMemory, "not enough memory: needs \(ByteFormat.string(entry.minMemoryBytes)) available, "
                    + "the system has \(ByteFormat.string(info.effectiveAvailableMemoryBytes))")
                continue
            }
            var dtypes = entry.sizeBytes.offered
            if let only = req.dtypes { dtypes = dtypes.filter(only.contains) }
            for dtype in dtypes {
                let key = ModelKey(entry.id, dtype)
                guard context.supportedDTypes.contains(dtype) else {
                    reject(.unsupportedDType, "unsupported dtype: the backend loads "
                        + context.supportedDTypes.sorted().map(\.rawValue).joined(separator: ", ") + " only", dtype)
                    continue
                }
                if let failure = context.failedLoads[key] {
                    reject(.loadFailed, "failed to load earlier: \(failure)", dtype)
                    continue
                }
                let memory = memoryBytes(entry, dtype)
                if let limit = limits.filter({ memory > $0.bytes }).min(by: { $0.bytes < $1.bytes }) {
                    reject(.tooBig, "too big: needs \(ByteFormat.string(memory)) (weights + activations) but "
                        + "\(limit.source) is \(ByteFormat.string(limit.bytes)); \(limit.remedy)", dtype)
                    continue
                }
                var latency: Double
                var measured = false
                var notes: [String] = []
                var accuracy = entry.publishedAccuracy
                var accuracySource = entry.publishedAccuracy.map { _ in "published, \(entry.accuracyBenchmark ?? "model card")" }
                if let bench = context.benchmarks[key], bench.medianMs > 0 {
                    let scale = method == .generation ? 1 : Double(req.inputTokens) / Double(max(1, bench.tokens))
                    latency = bench.medianMs * scale
                    measured = true
                    notes.append("latency \(formatMs(latency)) ms measured (benchmark median \(formatMs(bench.medianMs)) ms "
                        + "for \(bench.tokens) tokens, scaled to \(req.inputTokens))")
                    if let a = bench.accuracy, bench.accuracySamples > 0, method != .embedding {
                        accuracy = a
                        accuracySource = "measured on \(bench.accuracySamples) labelled samples"
                    }
                } else {
                    latency = estimateLatencyMs(entry, dtype: dtype, method: method, requirements: req,
                                                analysis: context.analysis)
                    let shape = method == .generation ? "\(req.inputTokens) prompt + \(req.newTokens) new tokens"
                        : "\(req.inputTokens) tokens"
                    notes.append("latency \(formatMs(latency)) ms estimated (2 × \(fmtParams(entry.parameters)) params × "
                        + "\(shape) at \(formatMs(context.analysis.effectiveGFLOPS * computeEfficiency)) GFLOP/s effective)")
                }
                if latency > maxLatency {
                    reject(.tooSlow, "too slow: \(formatMs(latency)) ms \(measured ? "measured" : "estimated") exceeds "
                        + "\(latencyName) \(formatMs(maxLatency)) ms; raise \(latencyName) or choose a smaller model or dtype", dtype)
                    continue
                }
                if let a = accuracy, a < context.thresholds.minAccuracy {
                    let name = context.settingName("minAccuracy")
                    reject(.belowMinAccuracy, "accuracy \(pct(a)) (\(accuracySource ?? "")) is below "
                        + "\(name) \(pct(context.thresholds.minAccuracy)); lower \(name) to accept it", dtype)
                    continue
                }
                if dtype == .int8, accuracy != nil, !measured { accuracy = accuracy.map { $0 - 0.01 } }
                if dtype == .q4, accuracy != nil, !measured { accuracy = accuracy.map { $0 - 0.02 } }
                viable.append(Viable(entry: entry, dtype: dtype, method: method, latency: latency, measured: measured,
                                     memory: memory, accuracy: accuracy, accuracySource: accuracySource,
                                     random: availability.weightsAreRandom, notes: notes))
            }
        }

        // q4 loses more precision than the other dtypes: it is a candidate only where the priority is
        // speed or a memory limit leaves the model no other dtype.
        if priority != .speed {
            let others = viable.filter { $0.dtype != .q4 }
            let fitsOtherwise = Set(others.map(\.entry.id))
            viable.removeAll { v in
                guard v.dtype == .q4, fitsOtherwise.contains(v.entry.id) else { return false }
                rejections.append(Rejection(modelID: v.entry.id, dtype: .q4, reason: .q4NotNeeded,
                    message: "q4 not needed: chosen only when a memory limit leaves no other dtype or the priority is "
                        + "speed (priority \(priority.rawValue); the model runs in "
                        + others.filter { $0.entry.id == v.entry.id }.map(\.dtype.rawValue)
                            .joined(separator: ", ") + ")"))
                return true
            }
        }

        // Score: weighted speed (fastest / latency) and quality (known accuracy, else a prior from size
        // and method; 5% of the score per accuracy point below the best, 10% with priority accuracy), a bonus for preferred models
        // (task preference +1 / rank, the preferred model or architecture +0.5), a small memory tie-break.
        var weights = priority.weights
        var tierNote: String?
        if priority == .balanced {
            if tier == .lowEnd { weights = (0.65, 0.35); tierNote = "low-end machine: balanced leans to speed (0.65/0.35)" }
            if tier == .highEnd { weights = (0.35, 0.65); tierNote = "high-end machine: balanced leans to accuracy (0.35/0.65)" }
        }
        let fastest = viable.map(\.latency).min() ?? 1
        func quality(_ v: Viable) -> Double {
            if let a = v.accuracy { return a }
            let sizePrior = min(0.9, max(0.4, 0.5 + 0.1 * log10(Double(v.entry.parameters) / 1e7)))
            let methodPrior: Double = v.method == .zeroShotEmbedding ? -0.05 : 0
            return sizePrior + methodPrior + (v.dtype == .int8 ? -0.01 : v.dtype == .q4 ? -0.02 : 0)
        }
        let bestQuality = viable.map(quality).max() ?? 1
        let memoryScale = Double(limits.map(\.bytes).min() ?? info.effectiveAvailableMemoryBytes)
        var candidates: [Candidate] = viable.map { v in
            let speed = fastest / max(v.latency, 1e-6)
            // Each point of accuracy below the best costs 5% of the quality score (10% with priority accuracy).
            let q = max(0, 1 - (bestQuality - quality(v)) * priority.accuracyGapPenalty)
            var score = weights.speed * speed + weights.accuracy * q
            var reasons = v.notes
            reasons.append("memory \(ByteFormat.string(v.memory)) (\(v.dtype.rawValue) weights + activations)")
            if let a = v.accuracy {
                reasons.append("accuracy \(pct(a)) (\(v.accuracySource ?? "known"))")
            } else {
                reasons.append("no known accuracy: prior \(String(format: "%.2f", quality(v))) from size and method")
            }
            let preferredIDs = context.preference?.preferred ?? []
            if let rank = preferredIDs.firstIndex(where: { $0.lowercased() == v.entry.id.lowercased() }) {
                score += 1.0 / Double(rank + 1)
                reasons.append("preferred for \(req.task) by the task preferences (+\(String(format: "%.2f", 1.0 / Double(rank + 1))))")
            }
            if let p = context.preferredModel?.lowercased(), p == v.entry.id.lowercased() || p == v.entry.architecture.rawValue {
                score += 0.5
                reasons.append("matches \(context.settingName("preferredModel"))=\(p) (+0.5)")
            }
            if memoryScale > 0 { score -= 0.05 * Double(v.memory) / memoryScale }
            if v.random { reasons.append("WARNING: random weights, outputs are meaningless") }
            reasons.append("priority \(priority.rawValue): score \(String(format: "%.3f", score)) = "
                + "\(weights.speed) × speed \(String(format: "%.2f", speed)) + \(weights.accuracy) × quality "
                + "\(String(format: "%.2f", q))")
            if let tierNote { reasons.append(tierNote) }
            return Candidate(key: ModelKey(v.entry.id, v.dtype), method: v.method, score: score, latencyMs: v.latency,
                             latencyMeasured: v.measured, memoryBytes: v.memory, accuracy: v.accuracy,
                             accuracySource: v.accuracySource, weightsAreRandom: v.random, reasons: reasons)
        }
        candidates.sort { ($0.score, -$0.latencyMs, $1.key.id) > ($1.score, -$1.latencyMs, $0.key.id) }
        return SelectionResult(requirements: req, candidates: candidates, rejections: rejections, tier: tier,
                               gflops: context.analysis.effectiveGFLOPS)
    }

    static func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
    static func fmtParams(_ p: Int) -> String { String(format: "%.1fM", Double(p) / 1e6) }
}
