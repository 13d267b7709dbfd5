// The front door for apps that want one model and no manager: load it once (a catalog id, a
// `.smm` file or a Hugging Face folder), then embed, compare, search, classify and score sentiment,
// each one async call with a typed result. Compute runs on the engine's queue and threads
// (`EngineExecutor`), never on the caller's executor, and stops at the next chunk when the calling
// task is cancelled.
import Foundation
import SMMFormat
import SMMKernels
import SMMModels

/// A BERT-family text model (BERT, DistilBERT, sentence-transformers) loaded for direct use.
///
/// ```swift
/// let model = try await TextModel.load("all-MiniLM-L6-v2")
/// let score = try await model.similarity("The cat sits outside", "A cat is sitting outdoors")
/// ```
public final class TextModel: Sendable {
    /// The catalog id, or the file or folder name without `.smm`.
    public let name: String
    /// The file or folder it was loaded from.
    public let location: URL
    /// The weights' storage: the dtype asked for at load, else as stored in the file.
    public let dtype: ModelDType
    /// True when the weights are a random-weight stand-in: its outputs are not predictions.
    public let weightsAreRandom: Bool
    let encoder: TextEncoder
    private let prototypeCache = Locked<[String: [[[Float]]]]>([:])

    init(name: String, location: URL, dtype: ModelDType, weightsAreRandom: Bool, encoder: TextEncoder) {
        self.name = name
        self.location = location
        self.dtype = dtype
        self.weightsAreRandom = weightsAreRandom
        self.encoder = encoder
    }

    /// `bert` or `distilbert`.
    public var architecture: ModelArchitecture { ModelArchitecture(rawValue: encoder.model.architecture.rawValue) }
    /// Length of its embeddings.
    public var dimensions: Int { encoder.model.hiddenSize }
    /// Longest input in tokens (longer texts are cut, and say so in their results).
    public var maxTokens: Int { encoder.maxLength }
    /// Its classification head's labels in id order; empty when it has none.
    public var labels: [String] { encoder.model.hasClassifier ? encoder.model.labels : [] }
    /// True when it has a classification head (`classify` needs one; `sentiment` uses it when there).
    public var hasClassifier: Bool { encoder.model.hasClassifier }

    // MARK: - Loading

    /// Loads a model by catalog id (`all-MiniLM-L6-v2`, found in the models folder of
    /// `ManagerConfiguration.fromEnvironment()`), or by path when `model` names a file or folder.
    /// - Parameters:
    ///   - model: a catalog id, or the path of a `.smm` file or a Hugging Face model folder.
    ///   - dtype: f16, bf16, int8 or q4 round or quantize the weights at load; nil keeps them as stored.
    /// - Throws: `ManagerError.unknownModel` / `.modelUnavailable` (with the command that fetches
    ///   it), `.unsupportedTask` for a GPT-2 model, and the engine's errors for damaged files.
    public static func load(_ model: String, dtype: ModelDType? = nil) async throws -> TextModel {
        let reference = ModelReference(model)
        if case .path(let url) = reference { return try await load(contentsOf: url, dtype: dtype) }
        let manager = try ModelManager(configuration: try .fromEnvironment())
        return try await load(model, dtype: dtype, manager: manager)
    }

    /// Loads the catalog model `id` from `manager`'s catalog and models folder.
    public static func load(_ id: String, dtype: ModelDType? = nil, manager: ModelManager) async throws -> TextModel {
        let info = try await manager.modelInfo(id)
        let opened = try await EngineExecutor.perform { () -> OpenedModel in
            guard info.availability.isAvailable else {
                throw ManagerError.modelUnavailable(id: info.entry.id, reason: info.availability.reason ?? "file missing")
            }
            let url = info.availability.location
            return OpenedModel(model: try EngineBackend.loadEngineModel(at: url, dtype: dtype, verifyBody: true),
                               location: url, catalogID: info.entry.id, selection: nil)
        }
        return try make(opened.model, name: info.entry.id, location: opened.location, dtype: dtype,
                        random: info.availability.weightsAreRandom)
    }

    /// Loads the `.smm` file or Hugging Face model folder at `url`.
    /// - Throws: `ManagerError.modelUnavailable` when nothing is there, `.unsupportedTask` for a
    ///   GPT-2 model, and the engine's errors (`FormatError`, `ModelError`, `TokenizerError`) for
    ///   damaged or unsupported files.
    public static func load(contentsOf url: URL, dtype: ModelDType? = nil) async throws -> TextModel {
        let loaded = try await EngineExecutor.perform {
            try EngineBackend.loadEngineModel(at: url, dtype: dtype, verifyBody: true)
        }
        var name = url.lastPathComponent
        if name.hasSuffix(".smm") { name.removeLast(4) }
        return try make(loaded, name: name, location: url, dtype: dtype, random: ModelAvailability.markedRandom(url))
    }

    private static func make(_ loaded: LoadedModel, name: String, location: URL, dtype: ModelDType?,
                             random: Bool) throws -> TextModel {
        guard case .encoder(let encoder) = loaded else {
            throw ManagerError.unsupportedTask(model: name, task: "embedding, classification or sentiment "
                + "(it is a \(loaded.modelType) text generator: use ModelManager.generate)")
        }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory)
        let stored = isDirectory.boolValue ? ModelDType.f32 : ((try? SMMFile(path: location.path))?.metadata.dtype ?? .f32)
        return TextModel(name: name, location: location, dtype: dtype ?? stored, weightsAreRandom: random, encoder: encoder)
    }

    // MARK: - Embeddings

    /// The embedding of `text` (mean- or CLS-pooled as the model was trained, L2-normalised).
    public func embed(_ text: String) async throws -> Embedding {
        guard let first = try await embed([text]).first else {
            throw ManagerError.inferenceFailed(model: name, reason: "no embedding came back")
        }
        return first
    }

    /// One embedding per text, in order. An empty or blank text is a text; an empty list gives `[]`.
    /// - Throws: `CancellationError` when the task is cancelled (checked every `EngineExecutor.chunkSize` texts).
    public func embed(_ texts: [String]) async throws -> [Embedding] {
        let encoder = self.encoder
        return try await EngineExecutor.map(texts) { chunk in
            let vectors = try encoder.embed(chunk, pooling: nil, normalize: true)
            let cut = try encoder.tokenize(chunk).map(\.wasTruncated)
            return zip(vectors, cut).map { Embedding(vector: $0, truncated: $1) }
        }
    }

    /// Cosine similarity of two texts' embeddings, in -1...1.
    public func similarity(_ a: String, _ b: String) async throws -> Float {
        let both = try await embed([a, b])
        return try both[0].similarity(to: both[1])
    }

    /// Cosine similarity of `query` to each of `texts`, in order.
    public func similarities(_ query: String, to texts: [String]) async throws -> [Float] {
        let all = try await embed([query] + texts)
        return try all.dropFirst().map { try all[0].similarity(to: $0) }
    }

    /// An index of `texts` for `search` (each text is its own item).
    public func index(_ texts: [String]) async throws -> EmbeddingIndex {
        var index = EmbeddingIndex(dimensions: dimensions, model: name)
        try index.add(texts, embeddings: try await embed(texts))
        return index
    }

    /// The `k` items of `index` closest to `query`, best first.
    /// - Throws: `ManagerError.invalidInput` when `index` was built by another model.
    public func search(_ query: String, in index: EmbeddingIndex, top k: Int = 10) async throws -> [SearchHit] {
        if let other = index.model, other != name {
            throw ManagerError.invalidInput("the index was built with model '\(other)', not '\(name)': "
                + "search it with the model that built it")
        }
        return try index.search(try await embed(query), top: k)
    }

    // MARK: - Labels

    /// Classifies each text with the model's classification head.
    /// - Throws: `ModelError.missingHead` when it has none (a sentence embedder: use `sentiment`,
    ///   which falls back to zero-shot, or `ModelManager.zeroShotClassify`).
    public func classify(_ texts: [String]) async throws -> [ClassificationResult] {
        let encoder = self.encoder, name = self.name, random = weightsAreRandom
        let labels = encoder.model.labels
        return try await EngineExecutor.map(texts) { chunk in
            try encoder.classify(chunk).map { c in
                let scores = c.probabilities.enumerated().map { i, p in
                    LabelScore(label: i < labels.count ? labels[i] : "LABEL_\(i)", score: p)
                }
                return ClassificationResult(text: c.text, label: c.label, score: c.score, scores: scores, model: name,
                                            method: .classifier, weightsAreRandom: random, truncated: c.truncated)
            }
        }
    }

    /// The sentiment of each text: with the classification head when the model has one (its labels
    /// read as positive/negative/neutral), else zero-shot by similarity to `labels`' descriptions.
    /// - Parameters:
    ///   - texts: the texts; an empty list gives `[]`.
    ///   - labels: the zero-shot labels and their descriptions (used when there is no head).
    ///   - confidence: a result under this score has `confident` false.
    public func sentiment(_ texts: [String], labels: ZeroShotLabelSet = .marketSentiment,
                          confidence: Float = 0.6) async throws -> [SentimentResult] {
        func result(_ text: String, _ best: LabelScore, _ scores: [LabelScore], _ method: InferenceMethod,
                    _ truncated: Bool) -> SentimentResult {
            SentimentResult(text: text, label: best.label, score: best.score, scores: scores, model: name, dtype: dtype,
                            method: method, confident: best.score >= confidence, weightsAreRandom: weightsAreRandom,
                            truncated: truncated)
        }
        if hasClassifier {
            return try await classify(texts).map { c in
                let scores = c.scores.map { LabelScore(label: ModelManager.sentimentLabel($0.label), score: $0.score) }
                return result(c.text, LabelScore(label: ModelManager.sentimentLabel(c.label), score: c.score), scores,
                              .classifier, c.truncated)
            }
        }
        if texts.isEmpty { return [] }
        let groups = try await prototypes(for: labels)
        let embeddings = try await embed(texts)
        let scored = ZeroShotScorer.score(texts: embeddings.map(\.vector), prototypes: groups, labels: labels)
        return zip(texts.indices, scored).map { i, scores in
            let best = scores.max { $0.score < $1.score } ?? LabelScore(label: "unknown", score: 0)
            return result(texts[i], best, scores, .zeroShotEmbedding, embeddings[i].truncated)
        }
    }

    /// The label set's description embeddings, made once per label set.
    private func prototypes(for labels: ZeroShotLabelSet) async throws -> [[[Float]]] {
        guard labels.labels.count >= 2, labels.labels.allSatisfy({ !$0.descriptions.isEmpty }) else {
            throw ManagerError.invalidInput("a zero-shot label set needs at least two labels, each with a description")
        }
        if let cached = prototypeCache.withLock({ $0[labels.cacheKey] }) { return cached }
        var groups: [[[Float]]] = []
        for label in labels.labels { groups.append(try await embed(label.descriptions).map(\.vector)) }
        prototypeCache.withLock { $0[labels.cacheKey] = groups }
        return groups
    }
}
