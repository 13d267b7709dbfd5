// How the manager runs models: an injected backend loads a catalog entry and returns a loaded
// model that classifies, embeds or generates. The default backend uses the engine (SMMModels);
// tests inject fakes; users can inject their own (the seed's `new ModelManager(customLLM)`).
import Foundation
import SMMModels
import SMMKernels

/// A label and its score.
public struct LabelScore: Sendable, Equatable, Codable {
    /// The label.
    public var label: String
    /// Its score (0–1).
    public var score: Float
    /// A pair.
    public init(label: String, score: Float) {
        self.label = label
        self.score = score
    }
}

/// Options for text generation through the manager.
public struct TextGenerationOptions: Sendable, Equatable, Codable {
    /// Most new tokens.
    public var maxNewTokens: Int
    /// 0 is greedy.
    public var temperature: Float
    /// 0 turns top-k off.
    public var topK: Int
    /// 1 turns nucleus sampling off.
    public var topP: Float
    /// 1 turns it off.
    public var repetitionPenalty: Float
    /// Same seed, same text.
    public var seed: UInt64?
    /// Stop when one of these appears (not included).
    public var stopStrings: [String]

    /// Options (greedy, 32 tokens by default).
    public init(maxNewTokens: Int = 32, temperature: Float = 0, topK: Int = 0, topP: Float = 1,
                repetitionPenalty: Float = 1, seed: UInt64? = nil, stopStrings: [String] = []) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
        self.stopStrings = stopStrings
    }
}

/// A model loaded by a backend. Must be safe to call from many tasks at once.
public protocol LoadedInferenceModel: Sendable {
    /// Bytes the model holds (weights + activations) as the backend measures them; 0 lets the
    /// manager use the catalog's figure.
    var memoryBytes: Int { get }
    /// Classifies texts with the model's own head (`method` `.classifier`); the manager fills in the
    /// results' `model` and `weightsAreRandom`.
    func classify(_ texts: [String]) async throws -> [ClassificationResult]
    /// One L2-normalised embedding per text.
    func embed(_ texts: [String]) async throws -> [[Float]]
    /// Per text, whether the model sees only its start (longer than its input). A backend whose
    /// models truncate must say so here; the default says no text is cut.
    func truncation(_ texts: [String]) async throws -> [Bool]
    /// Continues `prompt`. The manager fills in the output's `model` and `weightsAreRandom`.
    func generate(prompt: String, options: TextGenerationOptions) async throws -> GenerationOutput
}

extension LoadedInferenceModel {
    /// 0: the manager uses the catalog's figure.
    public var memoryBytes: Int { 0 }
    /// Throws `ManagerError.unsupportedTask`: the model does not classify.
    public func classify(_ texts: [String]) async throws -> [ClassificationResult] {
        throw ManagerError.unsupportedTask(model: "\(Self.self)", task: ModelTask.classification.rawValue)
    }
    /// No text is cut.
    public func truncation(_ texts: [String]) async throws -> [Bool] { texts.map { _ in false } }
    /// Throws `ManagerError.unsupportedTask`: the model does not embed.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        throw ManagerError.unsupportedTask(model: "\(Self.self)", task: ModelTask.embedding.rawValue)
    }
    /// Throws `ManagerError.unsupportedTask`: the model does not generate.
    public func generate(prompt: String, options: TextGenerationOptions) async throws -> GenerationOutput {
        throw ManagerError.unsupportedTask(model: "\(Self.self)", task: ModelTask.generation.rawValue)
    }
}

/// Loads models. The manager calls `load` off its own executor and at most once per (model, dtype) at a time.
public protocol InferenceBackend: Sendable {
    /// A short name for logs (`smm-engine`).
    var name: String { get }
    /// dtypes `load` accepts.
    var supportedDTypes: Set<ModelDType> { get }
    /// Loads `entry` in `dtype` from `location` (a directory or a `.smm` file).
    func load(_ entry: CatalogEntry, dtype: ModelDType, location: URL) async throws -> any LoadedInferenceModel
}

/// The engine's backend: BERT/DistilBERT through `TextEncoder`, GPT-2 through `TextGenerator`, from a
/// Hugging Face directory or a converted `.smm` file. It offers f32; int8 where the int8 kernels are
/// accelerated on this CPU (AVX-512 VNNI or AMX: quantized at load and run by the int8 kernels); and
/// bf16 where a bf16 kernel runs (AVX512_BF16 or AMX-BF16: the matrices kept bf16, the activations
/// rounded to bf16 at each matrix product). f16 weights are widened to f32 at load (they save neither
/// memory nor time), so f16 is not offered, nor bf16 on CPUs without a bf16 kernel.
public struct EngineBackend: InferenceBackend {
    /// `smm-engine`.
    public var name: String { "smm-engine" }
    /// f32, plus int8 when the int8 kernels are accelerated on this CPU, plus bf16 when a bf16 kernel
    /// runs, plus q4 when the q4 kernel runs (AVX-512 VNNI).
    public var supportedDTypes: Set<ModelDType> {
        var dtypes: Set<ModelDType> = [.f32]
        if QuantizedLinear.isAccelerated { dtypes.insert(.int8) }
        if BF16Linear.isAvailable { dtypes.insert(.bf16) }
        if Q4Linear.isFast { dtypes.insert(.q4) }
        return dtypes
    }

    /// The engine backend.
    public init() {}

    /// Loads the directory or `.smm` file at `location` (rounded or quantized at load to `dtype` when
    /// that is not f32 and the file does not already store it; a `.smm` file's body checksum verified) and reports as its memory the larger of the catalog's figure and the resident-memory growth.
    /// - Throws: `ManagerError.modelUnavailable` for a dtype not offered here, `.loadFailed` when loading fails.
    public func load(_ entry: CatalogEntry, dtype: ModelDType, location: URL) async throws -> any LoadedInferenceModel {
        guard supportedDTypes.contains(dtype) else {
            throw ManagerError.modelUnavailable(id: entry.id, reason: "the engine backend does not run \(dtype.rawValue) on this CPU")
        }
        let before = ResidentMemory.bytes()
        let loaded: LoadedModel
        do {
            // A long-running manager checks the whole file once: corruption is a failed load.
            // f32: as stored; any other dtype is rounded or quantized at load unless the file holds it.
            loaded = try Self.loadEngineModel(at: location, dtype: dtype == .f32 ? nil : dtype, verifyBody: true)
        } catch {
            throw ManagerError.loadFailed(model: entry.id, reason: "\(error)")
        }
        let delta = max(0, ResidentMemory.bytes() - before)
        let catalogBytes = ModelSelector.memoryBytes(entry, dtype)
        switch loaded {
        case .encoder(let encoder):
            return EngineEncoder(encoder: encoder, memoryBytes: max(catalogBytes, delta))
        case .decoder(let generator):
            return EngineGenerator(generator: generator, memoryBytes: max(catalogBytes, delta))
        }
    }
}

struct EngineEncoder: LoadedInferenceModel {
    let encoder: TextEncoder
    let memoryBytes: Int

    func classify(_ texts: [String]) async throws -> [ClassificationResult] {
        let labels = encoder.model.labels, encoder = self.encoder
        return try await EngineExecutor.map(texts) { chunk in
            try encoder.classify(chunk).map { c in
                let scores = c.probabilities.enumerated().map { i, p in
                    LabelScore(label: i < labels.count ? labels[i] : "LABEL_\(i)", score: p)
                }
                return ClassificationResult(text: c.text, label: c.label, score: c.score, scores: scores,
                                            truncated: c.truncated)
            }
        }
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        let encoder = self.encoder
        return try await EngineExecutor.map(texts) { try encoder.embed($0, pooling: nil, normalize: true) }
    }

    func truncation(_ texts: [String]) async throws -> [Bool] {
        let encoder = self.encoder
        return try await EngineExecutor.map(texts) { try encoder.tokenize($0).map(\.wasTruncated) }
    }
}

struct EngineGenerator: LoadedInferenceModel {
    let generator: TextGenerator
    let memoryBytes: Int

    func generate(prompt: String, options: TextGenerationOptions) async throws -> GenerationOutput {
        let sampling = SamplingOptions(temperature: options.temperature, topK: options.topK, topP: options.topP,
                                       repetitionPenalty: options.repetitionPenalty, seed: options.seed)
        let generator = self.generator
        let result = try await EngineExecutor.perform {
            try generator.generate(
                prompt: prompt, options: GenerationOptions(maxNewTokens: options.maxNewTokens, sampling: sampling,
                                                           stopAtEndOfText: true, stopStrings: options.stopStrings))
        }
        return GenerationOutput(text: result.text, tokenCount: result.tokenIDs.count, stopReason: result.stopReason)
    }
}
