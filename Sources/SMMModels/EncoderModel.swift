// BERT and DistilBERT behind one type: the shared encoder plus the heads users ask for
// (last hidden states, pooled sentence embeddings, sequence-classification logits).
import SMMKernels

/// How token vectors become one sentence vector.
public enum Pooling: String, Sendable, Codable, CaseIterable {
    /// Mean over the real (unmasked) tokens: sentence-transformers' default.
    case mean
    /// The first token's (`[CLS]`) vector.
    case cls
}

/// A BERT-family encoder (BERT or DistilBERT) with its optional classification head.
public final class EncoderModel: Sendable {
    /// Which Hugging Face architecture this is.
    public enum Architecture: String, Sendable, Codable {
        /// BERT (`model_type` `bert`): token-type embeddings, and a pooler when the checkpoint has one.
        case bert
        /// DistilBERT (`model_type` `distilbert`): no token-type embeddings or pooler.
        case distilbert
    }

    /// The architecture.
    public let architecture: Architecture
    /// Class labels in id order (from `id2label`); empty when the model has no classifier.
    public let labels: [String]
    /// Hidden size (the embedding dimension).
    public var hiddenSize: Int { encoder.shape.hidden }
    /// Longest sequence the position embeddings allow.
    public var maxPositions: Int { encoder.shape.maxPositions }
    /// Vocabulary size of the embedding table.
    public var vocabularySize: Int { encoder.shape.vocabSize }
    /// Whether `logits` is available.
    public var hasClassifier: Bool { classifier != nil }

    let encoder: TransformerEncoder
    let classifier: ClassifierHead?
    let pool: WorkerPool

    init(architecture: Architecture, encoder: TransformerEncoder, classifier: ClassifierHead?, labels: [String],
         pool: WorkerPool) {
        self.architecture = architecture
        self.encoder = encoder
        self.classifier = classifier
        self.labels = labels
        self.pool = pool
    }

    /// Runs the encoder: last hidden states for every position, padded ones included.
    /// - Throws: `ModelError.invalidInput` for a batch the model cannot take,
    ///   `ModelError.nonFiniteOutput` when the weights give NaN or infinite hidden states.
    public func forward(_ batch: EncoderBatch) throws -> EncoderOutput {
        let output = try encoder.forward(batch, pool: pool)
        try ModelError.checkFinite(output.lastHiddenState, "hidden states")
        return output
    }

    /// Sequence-classification logits, one row of `labels.count` per sequence.
    public func logits(_ batch: EncoderBatch) throws -> [[Float]] {
        guard let classifier else {
            throw ModelError.missingHead("this \(architecture.rawValue) checkpoint has no classifier head "
                + "(it is not a *ForSequenceClassification model); use embeddings instead")
        }
        let logits = classifier.logits(try forward(batch), pool: pool)
        for row in logits { try ModelError.checkFinite(row, "logits") }
        return logits
    }

    /// One vector per sequence: mean over the attention mask or the `[CLS]` vector, L2-normalised when asked.
    public func embeddings(_ batch: EncoderBatch, pooling: Pooling = .mean, normalize: Bool = true) throws -> [[Float]] {
        return Self.pool(try forward(batch), mask: batch.attentionMask, pooling: pooling, normalize: normalize)
    }

    /// Pools hidden states into one vector per sequence.
    public static func pool(_ output: EncoderOutput, mask: [Int32], pooling: Pooling, normalize: Bool) -> [[Float]] {
        let t = output.seqLength, h = output.hiddenSize
        return (0..<output.batch).map { b in
            var vector = [Float](repeating: 0, count: h)
            switch pooling {
            case .cls:
                for c in 0..<h { vector[c] = output.lastHiddenState[b * t * h + c] }
            case .mean:
                var sum = [Double](repeating: 0, count: h)
                var n = 0
                for i in 0..<t where mask[b * t + i] != 0 {
                    n += 1
                    let base = (b * t + i) * h
                    for c in 0..<h { sum[c] += Double(output.lastHiddenState[base + c]) }
                }
                // sentence-transformers clamps the token count at 1e-9.
                let denominator = max(Double(n), 1e-9)
                for c in 0..<h { vector[c] = Float(sum[c] / denominator) }
            }
            if normalize { vector.withUnsafeMutableBufferPointer { ElementWise.l2Normalize($0.baseAddress!, count: h) } }
            return vector
        }
    }
}

/// A sequence-classification head: BERT's `classifier(pooler)` or DistilBERT's
/// `classifier(relu(pre_classifier(h[CLS])))`.
struct ClassifierHead: Sendable {
    let preClassifier: LinearWeight?   // DistilBERT: (H, H) then ReLU
    let classifier: LinearWeight       // (labels, H)
    let usesPooler: Bool               // BERT: input is the pooler output

    // output: (B, T, H) -> logits (B, labels)
    func logits(_ output: EncoderOutput, pool: WorkerPool) -> [[Float]] {
        let b = output.batch, t = output.seqLength, h = output.hiddenSize
        var input = [Float](repeating: 0, count: b * h)
        if usesPooler, let pooled = output.pooled {
            input = pooled
        } else {
            for i in 0..<b { for c in 0..<h { input[i * h + c] = output.lastHiddenState[i * t * h + c] } }
        }
        if let preClassifier {
            var hidden = [Float](repeating: 0, count: b * h)
            Linear.forward(input, rows: b, weight: preClassifier, out: &hidden, activation: .relu, pool: pool)
            input = hidden
        }
        let n = classifier.outFeatures
        var logits = [Float](repeating: 0, count: b * n)
        Linear.forward(input, rows: b, weight: classifier, out: &logits, pool: pool)
        return (0..<b).map { Array(logits[($0 * n)..<(($0 + 1) * n)]) }
    }
}
