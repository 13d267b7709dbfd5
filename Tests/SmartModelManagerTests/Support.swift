// Fakes for the manager's tests: a backend whose models classify, embed and generate
// deterministically (optionally slowly, optionally failing to load), fake machines, and a temp
// models folder with placeholder files.
import Foundation
import Synchronization
import SMMKernels
import XCTest
@testable import SmartModelManager

/// What a fake model does.
enum FakeKind: Sendable { case classifier, embedder, generator }

/// Counters shared by a fake backend and its models.
final class FakeCounters: Sendable {
    let loads = Locked<[String: Int]>([:])
    let inFlight = Locked<[String: Int]>([:])
    let maxInFlight = Locked<[String: Int]>([:])

    func loaded(_ id: String) { loads.withLock { $0[id, default: 0] += 1 } }
    func loadCount(_ id: String) -> Int { loads.withLock { $0[id] ?? 0 } }
    func begin(_ id: String) {
        inFlight.withLock { all in
            all[id, default: 0] += 1
            let now = all[id] ?? 0
            maxInFlight.withLock { $0[id] = max($0[id] ?? 0, now) }
        }
    }
    func end(_ id: String) { inFlight.withLock { $0[id, default: 0] -= 1 } }
}

/// A gate requests can wait at until the test opens it.
final class Gate: Sendable {
    private let state = Locked<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

/// Positive and negative words for the fake embedder.
let positiveWords: Set<String> = ["good", "rises", "rise", "gain", "gains", "strong", "bullish", "rally", "rallies", "record",
                                  "beats", "growth", "up", "surge", "jumps", "raises", "soars", "climb", "higher", "approval"]
let negativeWords: Set<String> = ["bad", "plunge", "plunges", "loss", "losses", "weak", "bearish", "falls", "misses", "crash",
                                  "down", "cuts", "tumbles", "fraud", "warns", "slashes", "fails", "bankruptcy", "slides"]

/// A fake embedding: (positive words, negative words, other words, 1) normalised, then the model's salt.
func fakeEmbedding(_ text: String, salt: Float) -> [Float] {
    let words = text.lowercased().split { !$0.isLetter }.map(String.init)
    let p = Float(words.filter(positiveWords.contains).count)
    let n = Float(words.filter(negativeWords.contains).count)
    let o = Float(words.count) * 0.05
    var v: [Float] = [p, n, o, 0.1, salt]
    let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
    v = v.map { $0 / norm }
    return v
}

struct FakeModel: LoadedInferenceModel {
    let id: String
    let kind: FakeKind
    let delay: Duration
    let counters: FakeCounters
    let gate: Gate?
    let salt: Float

    func work() async throws {
        counters.begin(id)
        defer { counters.end(id) }
        if let gate { await gate.wait() }
        if delay > .zero { try await Task.sleep(for: delay) }
    }

    func classify(_ texts: [String]) async throws -> [ClassificationResult] {
        guard kind == .classifier else { throw ManagerError.unsupportedTask(model: id, task: "classification") }
        try await work()
        return texts.map { text in
            let v = fakeEmbedding(text, salt: 0)
            let positive: Float = v[0] >= v[1] ? 0.9 : 0.1
            return ClassificationResult(text: text, label: positive > 0.5 ? "POSITIVE" : "NEGATIVE",
                                        score: max(positive, 1 - positive),
                                        scores: [LabelScore(label: "NEGATIVE", score: 1 - positive),
                                                 LabelScore(label: "POSITIVE", score: positive)])
        }
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        guard kind != .generator else { throw ManagerError.unsupportedTask(model: id, task: "embedding") }
        try await work()
        return texts.map { fakeEmbedding($0, salt: salt) }
    }

    func generate(prompt: String, options: TextGenerationOptions) async throws -> GenerationOutput {
        guard kind == .generator else { throw ManagerError.unsupportedTask(model: id, task: "generation") }
        try await work()
        return GenerationOutput(text: "\(id):\(prompt)", tokenCount: options.maxNewTokens, stopReason: .maxTokens)
    }
}

/// A backend of fake models. `failing` ids throw on load; `delays` slow a model's requests.
struct FakeBackend: InferenceBackend {
    var name: String { "fake" }
    var supportedDTypes: Set<ModelDType> = [.f32, .int8]
    var kinds: [String: FakeKind] = [:]
    var delays: [String: Duration] = [:]
    var failing: Set<String> = []
    var loadDelay: Duration = .zero
    var gates: [String: Gate] = [:]
    let counters = FakeCounters()

    func load(_ entry: CatalogEntry, dtype: ModelDType, location: URL) async throws -> any LoadedInferenceModel {
        if loadDelay > .zero { try await Task.sleep(for: loadDelay) }
        guard !failing.contains(entry.id) else {
            throw ManagerError.loadFailed(model: entry.id, reason: "fake load failure")
        }
        counters.loaded(entry.id)
        let kind = kinds[entry.id] ?? (entry.architecture == "gpt2" ? .generator : entry.labels.isEmpty ? .embedder : .classifier)
        return FakeModel(id: entry.id, kind: kind, delay: delays[entry.id] ?? .zero, counters: counters,
                         gate: gates[entry.id], salt: dtype == .int8 ? 0.01 : 0)
    }
}

enum Machines {
    static let highEnd = SystemInfo(cpuModel: "Fake Xeon", cpuFlags: ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni"],
                                    logicalCores: 32, physicalCores: 16, totalMemoryBytes: 128 << 30,
                                    availableMemoryBytes: 96 << 30,
                                    throughput: ThroughputProbe(singleCoreGFLOPS: 80, multiCoreGFLOPS: 900, memoryBandwidthGBps: 60))
    static let midRange = SystemInfo(cpuModel: "Fake Core i5", cpuFlags: ["avx2", "fma"], logicalCores: 8, physicalCores: 4,
                                     totalMemoryBytes: 16 << 30, availableMemoryBytes: 10 << 30,
                                     throughput: ThroughputProbe(singleCoreGFLOPS: 40, multiCoreGFLOPS: 150, memoryBandwidthGBps: 20))
    static let lowEnd = SystemInfo(architecture: "arm64", cpuModel: "Fake Cortex-A53", cpuFlags: ["neon", "asimd"],
                                   logicalCores: 1, totalMemoryBytes: 1 << 30, availableMemoryBytes: 700 << 20,
                                   throughput: ThroughputProbe(singleCoreGFLOPS: 3, multiCoreGFLOPS: 3, memoryBandwidthGBps: 2))
}

/// A temp models folder with placeholder model directories (config.json + model.safetensors).
final class TempModels {
    let root: URL
    var models: URL { root.appendingPathComponent("models") }
    var cache: URL { root.appendingPathComponent("cache") }

    init(_ ids: [String] = []) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("smm-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        for id in ids { try add(id) }
    }

    func add(_ id: String, random: Bool = false) throws {
        let dir = models.appendingPathComponent(id)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: dir.appendingPathComponent("config.json"))
        try Data(repeating: 7, count: 1024).write(to: dir.appendingPathComponent("model.safetensors"))
        if random { try Data().write(to: dir.appendingPathComponent(".random-weights")) }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func configuration(_ edit: (inout ManagerConfiguration) -> Void = { _ in }) -> ManagerConfiguration {
        var c = ManagerConfiguration()
        c.modelsDirectory = models
        c.cacheDirectory = cache
        c.logLevel = .error
        edit(&c)
        return c
    }
}

/// A small catalog for fakes: sizes in MB, so budgets are easy to reason about.
func fakeEntry(_ id: String, tasks: [ModelTask], parametersM: Int, labels: [String] = [], architecture: ModelArchitecture = .bert,
               accuracy: Double? = nil, minCores: Int = 1, minMemoryMB: Int = 1, int8: Bool = false) -> CatalogEntry {
    let p = parametersM * 1_000_000
    return CatalogEntry(id: id, source: "test/\(id)", architecture: architecture, tasks: tasks, parameters: p,
                        sizeBytes: DTypeSizes(f32: p * 4, int8: int8 ? p : nil), activationBytes: 0,
                        minMemoryBytes: minMemoryMB << 20, minCores: minCores, publishedAccuracy: accuracy,
                        path: id, labels: labels, maxTokens: 512)
}

/// Collects events from a stream in the background.
final class EventRecorder: Sendable {
    final class Store: Sendable { let events = Locked<[ManagerEvent]>([]) }
    let store = Store()
    let task: Locked<Task<Void, Never>?> = Locked(nil)

    init(_ stream: AsyncStream<ManagerEvent>) {
        let t = Task { [store] in
            for await e in stream { store.events.withLock { $0.append(e) } }
        }
        task.withLock { $0 = t }
    }

    var all: [ManagerEvent] { store.events.withLock { $0 } }
    var names: [String] { all.map(\.name) }

    /// Waits until `predicate` holds for the events (up to 5 s).
    func waitFor(_ predicate: ([ManagerEvent]) -> Bool) async -> Bool {
        for _ in 0..<500 {
            if predicate(all) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return predicate(all)
    }

    func stop() { task.withLock { $0?.cancel() } }
}

/// The repository root (for Weights/ and Tests/Fixtures/).
let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url
}()
