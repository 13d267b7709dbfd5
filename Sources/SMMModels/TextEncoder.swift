// Text in, vectors or labels out: a BERT-family model with its WordPiece tokenizer.
import SMMKernels
import SMMTokenizers

/// The result of classifying one text.
public struct Classification: Sendable, Equatable, Codable {
    /// The text classified.
    public var text: String
    /// The winning label (from `id2label`).
    public var label: String
    /// The winning label's softmax probability.
    public var score: Float
    /// Raw logits, in label-id order.
    public var logits: [Float]
    /// Softmax probabilities, in label-id order.
    public var probabilities: [Float]
    /// True when the text was longer than the model allows and was truncated.
    public var truncated: Bool
}

/// A BERT or DistilBERT model with its tokenizer: tokenize, embed and classify texts.
public final class TextEncoder: Sendable {
    /// The encoder network.
    public let model: EncoderModel
    /// The WordPiece tokenizer, truncating at `maxLength`.
    public let tokenizer: BertTokenizer
    /// Default pooling for `embed` (from sentence-transformers' pooling config when present).
    public let defaultPooling: Pooling
    /// Longest input in tokens, special tokens included.
    public var maxLength: Int { tokenizer.maxLength }
    /// Texts run together in one forward pass at most.
    public let maxBatch: Int

    /// Pairs a model with its tokenizer. The tokenizer's `maxLength` is capped at the model's positions.
    public init(model: EncoderModel, tokenizer: BertTokenizer, defaultPooling: Pooling = .mean, maxBatch: Int = 16) {
        var tokenizer = tokenizer
        tokenizer.maxLength = min(tokenizer.maxLength, model.maxPositions)
        self.model = model
        self.tokenizer = tokenizer
        self.defaultPooling = defaultPooling
        self.maxBatch = max(1, maxBatch)
    }

    /// Tokenizes texts (special tokens included, truncated to `maxLength`).
    public func tokenize(_ texts: [String]) throws -> [Encoding] {
        try texts.map { try tokenizer.encode($0) }
    }

    /// One embedding per text, in input order.
    public func embed(_ texts: [String], pooling: Pooling? = nil, normalize: Bool = true) throws -> [[Float]] {
        try runBatched(texts) { batch, _ in
            try model.embeddings(batch, pooling: pooling ?? defaultPooling, normalize: normalize)
        }
    }

    /// Classifies every text with the model's sequence-classification head.
    public func classify(_ texts: [String]) throws -> [Classification] {
        guard model.hasClassifier else {
            throw ModelError.missingHead("this model has no classification head; it can embed, not classify")
        }
        let encodings = try tokenize(texts)
        let logits = try runBatched(texts, encodings: encodings) { batch, _ in try model.logits(batch) }
        return zip(texts.indices, logits).map { index, row in
            let probabilities = ElementWise.softmax(row)
            var best = 0
            for i in probabilities.indices where probabilities[i] > probabilities[best] { best = i }
            let label = best < model.labels.count ? model.labels[best] : "LABEL_\(best)"
            return Classification(text: texts[index], label: label, score: probabilities[best], logits: row,
                                  probabilities: probabilities, truncated: encodings[index].wasTruncated)
        }
    }

    /// Tokenizes, groups texts of similar length into padded batches, runs `body` on each, and
    /// returns one result per text in input order.
    func runBatched<R>(_ texts: [String], encodings given: [Encoding]? = nil,
                       _ body: (EncoderBatch, [Int]) throws -> [R]) throws -> [R] {
        if texts.isEmpty { return [] }
        let encodings = try given ?? tokenize(texts)
        let order = encodings.indices.sorted { encodings[$0].ids.count < encodings[$1].ids.count }
        var results = [R?](repeating: nil, count: texts.count)
        var start = 0
        while start < order.count {
            let members = Array(order[start..<min(order.count, start + maxBatch)])
            start += members.count
            let length = members.map { encodings[$0].ids.count }.max() ?? 1
            let pad = tokenizer.padID
            let batch = try EncoderBatch(
                ids: members.map { encodings[$0].ids + Array(repeating: pad, count: length - encodings[$0].ids.count) },
                typeIDs: members.map { encodings[$0].typeIDs + Array(repeating: 0, count: length - encodings[$0].ids.count) },
                attentionMask: members.map {
                    encodings[$0].attentionMask + Array(repeating: 0, count: length - encodings[$0].ids.count)
                })
            let out = try body(batch, members)
            for (member, value) in zip(members, out) { results[member] = value }
        }
        return results.compactMap { $0 }
    }
}
