// The task API: sentiment (classifier or zero-shot), zero-shot classification, embeddings,
// classification, generation, and the market-mood helper. Every result names the model and the
// method that answered.
import Foundation
import SMMModels

/// The sentiment of one text.
public struct SentimentResult: Sendable, Codable, Equatable {
    /// The text.
    public var text: String
    /// `positive` or `negative` (or `neutral` with a label set that has it).
    public var label: String
    /// The label's score (0–1).
    public var score: Float
    /// Every label's score.
    public var scores: [LabelScore]
    /// The model id that answered.
    public var model: String
    /// Its dtype.
    public var dtype: ModelDType
    /// `classifier` or `zero-shot-embedding`.
    public var method: InferenceMethod
    /// True when `score` reaches the target confidence threshold.
    public var confident: Bool
    /// True when the model's weights are random: the label is meaningless.
    public var weightsAreRandom: Bool
    /// True when the text was longer than the model's input and only its start was scored.
    public var truncated: Bool = false
}

/// A market mood from many headlines.
public struct MarketMood: Sendable, Codable, Equatable {
    /// `bullish`, `bearish` or `mixed`.
    public var mood: String
    /// Headlines scored.
    public var count: Int
    /// Share of positive headlines (0–1).
    public var positiveShare: Double
    /// Share of negative headlines (0–1).
    public var negativeShare: Double
    /// Share of neutral headlines (0–1).
    public var neutralShare: Double
    /// positiveShare − negativeShare (−1…1).
    public var netSentiment: Double
    /// Mean score × the share of headlines agreeing with the mood (for `mixed`: 1 − |net| / 0.2).
    public var confidence: Double
    /// The model used.
    public var model: String
    /// The method used (nil without headlines).
    public var method: InferenceMethod?
    /// Per-headline results.
    public var results: [SentimentResult]

    /// The mood of `results`: bullish when net sentiment ≥ 0.2, bearish when ≤ −0.2, else mixed.
    public init(results: [SentimentResult]) {
        self.results = results
        count = results.count
        let n = Double(max(1, results.count))
        positiveShare = Double(results.filter { $0.label == "positive" }.count) / n
        negativeShare = Double(results.filter { $0.label == "negative" }.count) / n
        neutralShare = results.isEmpty ? 0 : 1 - positiveShare - negativeShare
        netSentiment = positiveShare - negativeShare
        let meanScore = results.isEmpty ? 0 : results.map { Double($0.score) }.reduce(0, +) / n
        if netSentiment >= 0.2 {
            mood = "bullish"
            confidence = meanScore * positiveShare
        } else if netSentiment <= -0.2 {
            mood = "bearish"
            confidence = meanScore * negativeShare
        } else {
            mood = "mixed"
            confidence = meanScore * (1 - abs(netSentiment) / 0.2)
        }
        if results.isEmpty { confidence = 0 }
        model = results.first?.model ?? ""
        method = results.first?.method
    }
}

/// Embeddings and who made them.
public struct EmbeddingResult: Sendable, Codable, Equatable {
    /// One vector per text, L2-normalised.
    public var vectors: [[Float]]
    /// The model.
    public var model: String
    /// True when the model's weights are random.
    public var weightsAreRandom: Bool
    /// Per text, true when it was longer than the model's input and only its start was embedded.
    public var truncated: [Bool] = []
}

/// A generation and who made it: the one generation result above the engine (a backend returns
/// it, the manager fills in `model` and `weightsAreRandom`).
public struct GenerationOutput: Sendable, Codable, Equatable {
    /// The generated text (prompt excluded).
    public var text: String
    /// New tokens.
    public var tokenCount: Int
    /// Why it stopped.
    public var stopReason: StopReason
    /// The model.
    public var model: String
    /// True when the model's weights are random: the text is meaningless.
    public var weightsAreRandom: Bool

    /// An output; a backend leaves `model` and `weightsAreRandom` to the manager.
    public init(text: String, tokenCount: Int, stopReason: StopReason, model: String = "", weightsAreRandom: Bool = false) {
        self.text = text
        self.tokenCount = tokenCount
        self.stopReason = stopReason
        self.model = model
        self.weightsAreRandom = weightsAreRandom
    }
}

/// A classification with the model's own labels, or zero-shot labels.
public struct ClassificationResult: Sendable, Codable, Equatable {
    /// The text.
    public var text: String
    /// The winning label.
    public var label: String
    /// Its score (0–1).
    public var score: Float
    /// Every label's score.
    public var scores: [LabelScore]
    /// The model that answered.
    public var model: String
    /// `classifier` or `zero-shot-embedding`.
    public var method: InferenceMethod
    /// True when the model's weights are random: the label is meaningless.
    public var weightsAreRandom: Bool
    /// True when the text was longer than the model's input and only its start was classified.
    public var truncated: Bool

    /// A result; a backend leaves `model` and `weightsAreRandom` to the manager.
    public init(text: String, label: String, score: Float, scores: [LabelScore], model: String = "",
                method: InferenceMethod = .classifier, weightsAreRandom: Bool = false, truncated: Bool = false) {
        self.text = text
        self.label = label
        self.score = score
        self.scores = scores
        self.model = model
        self.method = method
        self.weightsAreRandom = weightsAreRandom
        self.truncated = truncated
    }
}

extension ModelManager {
    /// Texts are taken as Hugging Face takes them: an empty or whitespace-only text is a text
    /// (a BERT model sees `[CLS] [SEP]`). Only an empty list is refused, by the calls that cannot
    /// answer it without a model (`embed`); the others answer it with an empty list.
    static func validate(_ texts: [String]) throws {
        guard !texts.isEmpty else { throw ManagerError.invalidInput("no texts given") }
    }

    /// Label prototypes for a zero-shot label set on one loaded model (embedded once, cached while loaded).
    func prototypes(_ context: RequestContext, model: any LoadedInferenceModel, labels: ZeroShotLabelSet) async throws -> [[[Float]]] {
        let name = "zero-shot prototypes|" + labels.cacheKey
        if let lease = context.lease, let cached = cache.derived(lease, name) { return cached }
        var groups: [[[Float]]] = []
        for label in labels.labels { groups.append(try await model.embed(label.descriptions)) }
        if let lease = context.lease { cache.storeDerived(lease, name, groups) }
        return groups
    }

    /// Sentiment of each text with the model serving `task`: its classifier when it has one,
    /// else zero-shot by embedding similarity to `labels`. No texts, no results (and no model
    /// loaded); an empty or blank text is a text.
    public func sentiment(_ texts: [String], task: ModelTask = .sentiment,
                          labels: ZeroShotLabelSet = .marketSentiment) async throws -> [SentimentResult] {
        if texts.isEmpty { return [] }
        let target = Float(thresholds.targetConfidence)
        return try await withModel(for: task) { model, context in
            try await self.sentiment(texts, model: model, context: context, labels: labels, target: target)
        }
    }

    nonisolated func sentiment(_ texts: [String], model: any LoadedInferenceModel, context: RequestContext,
                               labels: ZeroShotLabelSet, target: Float) async throws -> [SentimentResult] {
        func result(_ text: String, _ label: String, _ score: Float, _ scores: [LabelScore], _ truncated: Bool)
            -> SentimentResult {
            SentimentResult(text: text, label: label, score: score, scores: scores, model: context.model.id,
                            dtype: context.model.dtype, method: context.method, confident: score >= target,
                            weightsAreRandom: context.weightsAreRandom, truncated: truncated)
        }
        switch context.method {
        case .classifier:
            let outputs = try await model.classify(texts)
            return zip(texts, outputs).map { text, out in
                let scores = out.scores.map { LabelScore(label: Self.sentimentLabel($0.label), score: $0.score) }
                return result(text, Self.sentimentLabel(out.label), out.score, scores, out.truncated)
            }
        case .zeroShotEmbedding:
            let prototypes = try await self.prototypes(context, model: model, labels: labels)
            let vectors = try await model.embed(texts)
            let scored = ZeroShotScorer.score(texts: vectors, prototypes: prototypes, labels: labels)
            let truncated = try await model.truncation(texts)
            return zip(texts.indices, scored).map { i, scores in
                let best = scores.max { $0.score < $1.score } ?? LabelScore(label: "unknown", score: 0)
                return result(texts[i], best.label, best.score, scores, i < truncated.count && truncated[i])
            }
        case .embedding, .generation:
            throw ManagerError.unsupportedTask(model: context.model.id, task: context.baseTask.rawValue)
        }
    }

    /// A classifier's label read as a sentiment: `POSITIVE`/`LABEL_1`/`pos` → `positive`,
    /// `NEGATIVE`/`LABEL_0`/`neg` → `negative`, `neu…` → `neutral`; others lower-cased.
    public static func sentimentLabel(_ raw: String) -> String {
        let l = raw.lowercased()
        if l.hasPrefix("pos") || l == "label_1" { return "positive" }
        if l.hasPrefix("neg") || l == "label_0" { return "negative" }
        if l.hasPrefix("neu") { return "neutral" }
        return l
    }

    /// The market mood of a list of headlines (sentiment of each, then shares and a confidence).
    public func marketMood(_ headlines: [String], task: ModelTask = .sentiment) async throws -> MarketMood {
        MarketMood(results: try await sentiment(headlines, task: task))
    }

    /// Classifies texts into `labels` by embedding similarity, with the model serving `task`
    /// (default: zero-shot-classification). No texts, no results.
    public func zeroShotClassify(_ texts: [String], labels: ZeroShotLabelSet,
                                 task: ModelTask = .zeroShotClassification) async throws -> [ClassificationResult] {
        guard labels.labels.count >= 2, labels.labels.allSatisfy({ !$0.descriptions.isEmpty }) else {
            throw ManagerError.invalidInput("zero-shot classification needs at least two labels, each with a description")
        }
        if texts.isEmpty { return [] }
        return try await withModel(for: task) { model, context in
            let prototypes = try await self.prototypes(context, model: model, labels: labels)
            let vectors = try await model.embed(texts)
            return zip(texts, ZeroShotScorer.score(texts: vectors, prototypes: prototypes, labels: labels)).map { text, scores in
                let best = scores.max { $0.score < $1.score } ?? LabelScore(label: "unknown", score: 0)
                return ClassificationResult(text: text, label: best.label, score: best.score, scores: scores,
                                            model: context.model.id, method: .zeroShotEmbedding,
                                            weightsAreRandom: context.weightsAreRandom)
            }
        }
    }

    /// Classifies texts with the classification head of the model serving `task`. No texts, no results.
    public func classify(_ texts: [String], task: ModelTask = .classification) async throws -> [ClassificationResult] {
        if texts.isEmpty { return [] }
        return try await withModel(for: task) { model, context in
            guard context.method == .classifier else {
                throw ManagerError.unsupportedTask(model: context.model.id,
                    task: "\(context.baseTask) with a classification head (use zeroShotClassify for embedders)")
            }
            return zip(texts, try await model.classify(texts)).map { text, out in
                ClassificationResult(text: text, label: out.label, score: out.score, scores: out.scores,
                                     model: context.model.id, method: .classifier,
                                     weightsAreRandom: context.weightsAreRandom, truncated: out.truncated)
            }
        }
    }

    /// Sentence embeddings with the model serving `task`.
    /// - Throws: `ManagerError.invalidInput` for an empty list (the result names a model, and
    ///   there is none to name); an empty or blank text is a text.
    public func embed(_ texts: [String], task: ModelTask = .embedding) async throws -> EmbeddingResult {
        try Self.validate(texts)
        return try await withModel(for: task) { model, context in
            EmbeddingResult(vectors: try await model.embed(texts), model: context.model.id,
                            weightsAreRandom: context.weightsAreRandom, truncated: try await model.truncation(texts))
        }
    }

    /// Continues `prompt` with the model serving `task`.
    public func generate(_ prompt: String, options: TextGenerationOptions = TextGenerationOptions(),
                         task: ModelTask = .generation) async throws -> GenerationOutput {
        guard !prompt.isEmpty else { throw ManagerError.invalidInput("the prompt is empty") }
        guard options.maxNewTokens >= 0 else { throw ManagerError.invalidInput("maxNewTokens must be >= 0") }
        return try await withModel(for: task) { model, context in
            var out = try await model.generate(prompt: prompt, options: options)
            out.model = context.model.id
            out.weightsAreRandom = context.weightsAreRandom
            return out
        }
    }
}
