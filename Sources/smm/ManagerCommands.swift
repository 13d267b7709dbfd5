// `smm system`, `smm models`, `smm select`, `smm sentiment`: the model manager from the command line.
// Each builds a ModelManager from the environment (plus --models-dir), calls it and prints.
import ArgumentParser
import Foundation
import SMMJSON
import SMMFormat
import SMMKernels
import SMMModels
import SMMTokenizers
import SmartModelManager

/// Options every manager command takes.
struct ManagerOptions: ParsableArguments {
    @Option(help: "Folder of converted models (default: $SMM_MODELS_DIR, else the per-user folder smm fetch fills: ~/.cache/smm/models on Linux).")
    var modelsDir: String?

    @Flag(name: .long, help: "Log the analysis, selection reasoning and memory at debug level (stderr).")
    var verbose = false

    /// The manager: configuration from the environment, `--models-dir` and `--verbose` on top.
    func makeManager() throws -> ModelManager {
        var configuration = try ManagerConfiguration.fromEnvironment()
        if let modelsDir {
            try Self.checkModelsDirectory(modelsDir)
            configuration.modelsDirectory = URL(fileURLWithPath: modelsDir)
        }
        if verbose { configuration.logLevel = .debug }
        return try ModelManager(configuration: configuration)
    }

    /// Throws a `CLIError` naming `path` when `--models-dir` is empty, does not exist or is not a
    /// directory (a mistyped folder would otherwise list every model as missing, or select none,
    /// and exit 0).
    static func checkModelsDirectory(_ path: String) throws {
        guard !path.isEmpty else { throw CLIError("--models-dir is empty") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError("--models-dir \(path) does not exist")
        }
        guard isDirectory.boolValue else { throw CLIError("--models-dir \(path) is not a directory") }
    }
}

extension SelectionPriority: ExpressibleByArgument {}

/// `smm system`: what the manager sees of this machine.
struct SystemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system", abstract: "Analyse this machine: cores, memory, CPU features, measured GFLOP/s, tier.")

    @OptionGroup var options: ManagerOptions
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Measure the throughput probe again instead of using the cached one.") var refresh = false

    func run() async throws {
        let manager = try options.makeManager()
        let analysis = try await manager.analyzeSystem(refresh: refresh)
        let i = analysis.info
        let a = analysis.assessment
        let t = i.throughput
        if json {
            printLine(.record([
                ("platform", .string(i.platform)), ("os", .string(i.osVersion)), ("architecture", .string(i.architecture)),
                ("cpu", .string(i.cpuModel)), ("features", .strings(i.featureNames)),
                ("logical_cores", .int(i.logicalCores)), ("physical_cores", .int(i.physicalCores)),
                ("affinity_cores", .int(i.affinityCores)),
                ("cgroup_cpu_limit", i.cgroupCPULimit.map(JSONValue.double) ?? .null),
                ("usable_cores", .int(i.usableCores)), ("compute_threads", .int(i.computeThreads)),
                ("memory_total_bytes", .int(i.totalMemoryBytes)), ("memory_available_bytes", .int(i.availableMemoryBytes)),
                ("cgroup_memory_limit_bytes", i.cgroupMemoryLimitBytes.map(JSONValue.int) ?? .null),
                ("cgroup_memory_usage_bytes", i.cgroupMemoryUsageBytes.map(JSONValue.int) ?? .null),
                ("memory_effective_available_bytes", .int(i.effectiveAvailableMemoryBytes)),
                ("load_average", .array(i.loadAverage.map(JSONValue.double))),
                ("models_dir", .string(i.modelsDirectory)), ("free_disk_bytes", i.freeDiskBytes.map(JSONValue.int) ?? .null),
                ("gflops_single_core", t.map { .double($0.singleCoreGFLOPS) } ?? .null),
                ("gflops_multi_core", t.map { .double($0.multiCoreGFLOPS) } ?? .null),
                ("memory_bandwidth_gbps", t.map { .double($0.memoryBandwidthGBps) } ?? .null),
                ("blas", .string(BLAS.backendDescription)),
                ("score", .double(a.score)), ("tier", .string(a.tier.rawValue)),
                ("points", .record(a.points.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })),
                ("notes", .strings(a.notes)),
            ]))
            return
        }
        print("Platform:  \(i.platform) \(i.architecture), \(i.osVersion)")
        print("CPU:       \(i.cpuModel) [\(i.featureNames.joined(separator: ", "))]")
        print("Cores:     \(i.logicalCores) logical, \(i.physicalCores) physical, \(i.affinityCores) in affinity"
              + (i.cgroupCPULimit.map { ", cgroup quota \(String(format: "%.2f", $0))" } ?? "") + " → \(i.usableCores) usable")
        print("Memory:    \(ByteFormat.string(i.totalMemoryBytes)) total, \(ByteFormat.string(i.availableMemoryBytes)) available"
              + (i.cgroupMemoryLimitBytes.map { ", cgroup limit \(ByteFormat.string($0))" } ?? "")
              + " → \(ByteFormat.string(i.effectiveAvailableMemoryBytes)) usable")
        print("Load:      \(i.loadAverage.map { String(format: "%.2f", $0) }.joined(separator: " "))")
        print("Models:    \(i.modelsDirectory)" + (i.freeDiskBytes.map { " (\(ByteFormat.string($0)) free)" } ?? ""))
        if let t {
            print(String(format: "Probe:     sgemm %.1f GFLOP/s on one core, %.1f on %d threads; memory read %.1f GB/s",
                         t.singleCoreGFLOPS, t.multiCoreGFLOPS, t.threads, t.memoryBandwidthGBps))
        }
        print("BLAS:      \(BLAS.backendDescription)")
        print("Tier:      \(a.tier.rawValue) (score \(a.score): "
              + a.points.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value))" }.joined(separator: ", ") + ")")
        for note in a.notes { print("           \(note)") }
    }
}

/// `smm models`: the catalog, with what is present.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the catalog's models and whether each is available here.")

    @OptionGroup var options: ManagerOptions
    @Flag(help: "Print one JSON object per model.") var json = false

    func run() async throws {
        let manager = try options.makeManager()
        for model in await manager.availableModels() {
            let e = model.entry
            let a = model.availability
            if json {
                let sizes: [(String, JSONValue)] = ModelDType.allCases.compactMap { d in
                    e.sizeBytes[d].map { (d.rawValue, JSONValue.int($0)) }
                }
                printLine(.record([
                    ("id", .string(e.id)), ("source", .string(e.source)), ("architecture", .string(e.architecture.rawValue)),
                    ("tasks", .strings(e.tasks.map(\.rawValue))), ("parameters", .int(e.parameters)),
                    ("size_bytes", .record(sizes)), ("min_memory_bytes", .int(e.minMemoryBytes)),
                    ("min_cores", .int(e.minCores)),
                    ("published_accuracy", e.publishedAccuracy.map(JSONValue.double) ?? .null),
                    ("accuracy_benchmark", e.accuracyBenchmark.map(JSONValue.string) ?? .null),
                    ("path", .string(a.location.path)), ("available", .bool(a.isAvailable)),
                    ("reason", a.reason.map(JSONValue.string) ?? .null),
                    ("file_bytes", a.fileBytes.map(JSONValue.int) ?? .null),
                    ("weights_are_random", .bool(a.weightsAreRandom)), ("provenance", .string(e.provenance)),
                    ("labels", .strings(e.labels)), ("loadable_dtypes", .strings(model.loadableDTypes.map(\.rawValue))),
                ]))
            } else {
                let status = a.isAvailable ? (a.weightsAreRandom ? "available (RANDOM WEIGHTS)" : "available")
                    : "unavailable: \(a.reason ?? "")"
                let accuracy = e.publishedAccuracy.map { String(format: "%.1f%% %@", $0 * 100, e.accuracyBenchmark ?? "") } ?? "none"
                print("\(e.id)")
                print("  \(e.architecture), \(String(format: "%.1fM", Double(e.parameters) / 1e6)) params, "
                      + "tasks: \(e.tasks.map(\.rawValue).joined(separator: ", "))")
                print("  size: " + ModelDType.allCases.compactMap { d in
                    e.sizeBytes[d].map { "\(d.rawValue) \(ByteFormat.string($0))" } }.joined(separator: ", ")
                      + "; needs \(ByteFormat.string(e.minMemoryBytes)) memory, \(e.minCores) core(s)")
                print("  published accuracy: \(accuracy)")
                print("  \(status)")
                print("  provenance: \(e.provenance)")
            }
        }
    }
}

/// `smm select`: which model the manager would pick for a task, and why.
struct SelectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select", abstract: "Rank the models for a task and explain the choice and the rejections.")

    @OptionGroup var options: ManagerOptions
    @Option(help: "The task: sentiment, classification, embedding, similarity, zero-shot-classification, generation.")
    var task: String
    @Option(help: "speed, accuracy or balanced (default balanced).") var priority: SelectionPriority?
    @Option(name: .customLong("max-latency"), help: "Longest acceptable latency per request, ms.") var maxLatency: Double?
    @Option(name: .customLong("memory-limit"), help: "Largest acceptable model memory, MB.") var memoryLimit: Double?
    @Option(help: "Typical input length in tokens (for latency estimates).") var tokens = 32
    @Flag(help: "Also consider models whose weights are random stand-ins (engine tests).") var allowRandomWeights = false
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if let maxLatency { guard maxLatency > 0, maxLatency.isFinite else { throw ValidationError("--max-latency must be positive") } }
        if let memoryLimit { guard memoryLimit > 0, memoryLimit < 1e9 else { throw ValidationError("--memory-limit must be positive (MB)") } }
        guard tokens > 0, tokens <= 100_000 else { throw ValidationError("--tokens must be between 1 and 100000") }
        guard !task.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--task is empty") }
    }

    func run() async throws {
        let manager = try options.makeManager()
        let asked = ModelTask(rawValue: task)
        let known = Set(ModelTask.builtIn + (await manager.currentCatalog()).entries.flatMap(\.tasks))
        guard known.contains(asked) else {
            throw CLIError("unknown task '\(asked.rawValue)': no model in the catalog has it "
                + "(tasks: \(known.map(\.rawValue).sorted().joined(separator: ", ")))")
        }
        let requirements = SelectionRequirements(
            task: asked, priority: priority, maxLatencyMs: maxLatency,
            memoryLimitBytes: memoryLimit.map { Int($0 * 1024 * 1024) }, inputTokens: tokens,
            allowRandomWeights: allowRandomWeights)
        let result = try await manager.modelRecommendations(for: requirements)
        if json {
            func candidate(_ c: Candidate) -> JSONValue {
                .record([("model", .string(c.key.id)), ("dtype", .string(c.key.dtype.rawValue)),
                         ("method", .string(c.method.rawValue)), ("score", .double(c.score)),
                         ("latency_ms", .double(c.latencyMs)), ("latency_measured", .bool(c.latencyMeasured)),
                         ("memory_bytes", .int(c.memoryBytes)), ("accuracy", c.accuracy.map(JSONValue.double) ?? .null),
                         ("accuracy_source", c.accuracySource.map(JSONValue.string) ?? .null),
                         ("weights_are_random", .bool(c.weightsAreRandom)), ("reasons", .strings(c.reasons))])
            }
            printLine(.record([
                ("task", .string(requirements.task.rawValue)),
                ("priority", .string((result.requirements.priority ?? .balanced).rawValue)),
                ("max_latency_ms", result.requirements.maxLatencyMs.map(JSONValue.double) ?? .null),
                ("tier", .string(result.tier.rawValue)), ("gflops", .double(result.gflops)),
                ("chosen", result.chosen.map(candidate) ?? .null),
                ("candidates", .array(result.candidates.map(candidate))),
                ("rejections", .array(result.rejections.map { r in
                    .record([("model", .string(r.modelID)), ("dtype", r.dtype.map { .string($0.rawValue) } ?? .null),
                             ("reason", .string(r.reason.rawValue)), ("message", .string(r.message))])
                })),
                ("explanation", .string(result.explanation)),
            ]))
        } else {
            print(result.explanation)
        }
        if result.chosen == nil { throw ExitCode(2) }
    }
}

/// `smm sentiment`: positive/negative for each text, with the model chosen by the manager.
struct SentimentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentiment",
        abstract: "Sentiment of texts (one per line on stdin, or arguments) with the model the manager selects.",
        discussion: """
            With a real sentiment classifier converted, it answers with that (method "classifier"); with only \
            all-MiniLM-L6-v2 it answers by zero-shot similarity to label descriptions (method "zero-shot-embedding"). \
            The model chosen and why go to stderr. --json prints {"text","label","score","model","method"} per line.
            """)

    @OptionGroup var options: ManagerOptions
    @OptionGroup var input: TextInputOptions
    @Option(help: "speed, accuracy or balanced.") var priority: SelectionPriority?
    @Flag(help: "Print the market mood of all the texts at the end (stderr with --json).") var mood = false

    func run() async throws {
        let manager = try options.makeManager()
        let selection = try await manager.selectOptimalModel(for: SelectionRequirements(task: .sentiment, priority: priority))
        if let chosen = selection.chosen {
            note("model: \(chosen.key.id) (\(chosen.key.dtype.rawValue)), method \(chosen.method.rawValue), "
                 + "on a \(selection.tier.rawValue) machine")
            for reason in chosen.reasons { note("  why: \(reason)") }
            for r in selection.rejections {
                note("  not \(r.modelID)\(r.dtype.map { " (\($0.rawValue))" } ?? ""): \(r.message)")
            }
        }
        var all: [SentimentResult] = []
        var maxTokens: [String: Int] = [:]
        var warnedRandom = false
        let keepAll = mood
        let toStderr = input.json || input.jsonl
        defer {
            // Also after failed records (the run then ends with exit status 1).
            if mood && !all.isEmpty {
                let m = MarketMood(results: all)
                let line = String(format: "market mood: %@ (%.0f%% positive, %.0f%% negative of %d; confidence %.2f; %@ via %@)",
                                  m.mood, m.positiveShare * 100, m.negativeShare * 100, m.count, m.confidence, m.model,
                                  m.method?.rawValue ?? "")
                if toStderr { note(line) } else { print(line) }
            }
        }
        var answers = RecordAnswers(input)
        try await answers.run(compute: { texts in
                let results = try await manager.sentiment(texts)
                for id in Set(results.filter(\.truncated).map(\.model)) where maxTokens[id] == nil {
                    maxTokens[id] = (try? await manager.modelInfo(id))?.entry.maxTokens
                }
                if !warnedRandom, results.contains(where: \.weightsAreRandom) {
                    warn("the model's weights are random: these labels are meaningless")
                    warnedRandom = true
                }
                if keepAll { all += results }
                return results
            },
            json: { _, r in
                if r.truncated, let n = maxTokens[r.model] { warnTruncated(r.text, maxLength: n) }
                return [("text", .string(r.text)), ("label", .string(r.label)), ("score", .double(Double(r.score))),
                        ("model", .string(r.model)), ("method", .string(r.method.rawValue)), ("truncated", .bool(r.truncated))]
            },
            plain: { _, r in
                if r.truncated, let n = maxTokens[r.model] { warnTruncated(r.text, maxLength: n) }
                return "\(r.label.padding(toLength: 8, withPad: " ", startingAt: 0)) \(String(format: "%.3f", r.score))  \(r.text)"
            })
    }
}

/// A line on standard error (the CLI's commentary, kept off stdout so JSON stays clean).
private func note(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
