// What a reduced-precision model (f16, bf16, int8) loses against its f32 self on the same texts:
// classification logits, sentence embeddings or next-token logits, compared vector by vector.
import Foundation

/// How close a candidate model's outputs are to a reference model's on the same texts: the figures
/// issue #4's quality bars name (logits cosine, max abs logit difference, labels kept).
///
/// What is compared depends on the model: an encoder with a classifier compares its logits (one
/// vector per text), an encoder without one its default-pooled, L2-normalised embeddings, GPT-2 its
/// next-token logits at every position of every text.
public struct QuantizationQuality: Sendable, Codable, Equatable {
    /// The outputs compared.
    public enum Output: String, Sendable, Codable {
        /// Classification logits, one vector per text.
        case logits
        /// Default-pooled, L2-normalised sentence embeddings, one per text.
        case embedding
        /// GPT-2 next-token logits, one vector per position of every text.
        case nextTokenLogits = "next-token-logits"
    }

    /// What was compared.
    public var output: Output
    /// How many vectors were compared (texts, or token positions for GPT-2).
    public var vectors: Int
    /// The smallest cosine similarity between a reference vector and the candidate's.
    public var worstCosine: Double
    /// The mean of 1 − cosine over all vectors.
    public var meanOneMinusCosine: Double
    /// The largest absolute difference of any element.
    public var maxAbsDifference: Double
    /// Vectors whose arg max (the label, or the top-1 token) is the same in both; nil for embeddings.
    public var argmaxAgreement: Int?
    /// The text of the vector with the worst cosine.
    public var worstText: String
    /// Texts cut to the model's maximum length (encoders) or context (GPT-2) before comparing.
    public var truncatedTexts: Int = 0

    /// Compares `candidate` with `reference` on `texts`, tokenized by the reference's tokenizer
    /// (the candidate's must give the same ids). Texts longer than the model takes are cut to it
    /// (counted in `truncatedTexts`); GPT-2 texts that tokenize to nothing are skipped.
    /// - Throws: `ModelError.invalidInput` when there is nothing to compare (no texts, or none with
    ///   a token) or the two models differ in kind, classifier, vocabulary or tokenization;
    ///   `ModelError.nonFiniteOutput` when either gives NaN or infinite values; errors of the models.
    public static func compare(reference: LoadedModel, candidate: LoadedModel, texts: [String]) throws
        -> QuantizationQuality {
        guard !texts.isEmpty else { throw ModelError.invalidInput("no texts to compare the models on") }
        var pairs: [(text: String, reference: [Float], candidate: [Float])] = []
        let output: Output
        var truncated = 0
        func sameTokens(_ a: [Int], _ b: [Int], _ text: String) throws {
            guard a == b else {
                throw ModelError.invalidInput("the two models tokenize \"\(text.prefix(40))\" differently: "
                    + "they do not share a tokenizer, so their outputs cannot be compared")
            }
        }
        switch (reference, candidate) {
        case (.encoder(let r), .encoder(let c)):
            guard r.model.hasClassifier == c.model.hasClassifier else {
                throw ModelError.invalidInput("one model has a classification head and the other has not")
            }
            let encodings = try r.tokenize(texts), other = try c.tokenize(texts)
            for (text, (a, b)) in zip(texts, zip(encodings, other)) { try sameTokens(a.ids, b.ids, text) }
            truncated = encodings.filter(\.wasTruncated).count
            if r.model.hasClassifier {
                output = .logits
                let a = try r.classify(texts), b = try c.classify(texts)
                for (text, (x, y)) in zip(texts, zip(a, b)) { pairs.append((text, x.logits, y.logits)) }
            } else {
                output = .embedding
                let a = try r.embed(texts), b = try c.embed(texts, pooling: r.defaultPooling)
                for (text, (x, y)) in zip(texts, zip(a, b)) { pairs.append((text, x, y)) }
            }
        case (.decoder(let r), .decoder(let c)):
            guard r.model.vocabularySize == c.model.vocabularySize else {
                throw ModelError.invalidInput("the models' vocabularies differ (\(r.model.vocabularySize) and \(c.model.vocabularySize) tokens)")
            }
            output = .nextTokenLogits
            for text in texts {
                let all = try r.tokenizer.encode(text).ids
                try sameTokens(all, try c.tokenizer.encode(text).ids, text)
                if all.count > r.model.contextLength { truncated += 1 }
                let ids = Array(all.prefix(r.model.contextLength))
                if ids.isEmpty { continue }
                let a = try r.model.logits(ids), b = try c.model.logits(ids)
                for (x, y) in zip(a, b) { pairs.append((text, x, y)) }
            }
        default:
            throw ModelError.invalidInput("cannot compare a \(reference.modelType) model with a \(candidate.modelType) model")
        }
        guard !pairs.isEmpty else { throw ModelError.invalidInput("none of the texts has a token to compare on") }

        var worst = Double.infinity, worstText = "", sum = 0.0, maxDiff = 0.0, agree = 0
        for (text, x, y) in pairs {
            guard x.count == y.count, !x.isEmpty else {
                throw ModelError.invalidInput("the models' outputs differ in size (\(x.count) and \(y.count))")
            }
            // NaN would drop out of every minimum and maximum below and look like a match.
            try ModelError.checkFinite(x, "\(output.rawValue) (reference model)")
            try ModelError.checkFinite(y, "\(output.rawValue) (candidate model)")
            let cos = cosine(x, y)
            sum += 1 - cos
            if cos < worst { worst = cos; worstText = text }
            for (a, b) in zip(x, y) { maxDiff = max(maxDiff, Double(abs(a - b))) }
            if argmax(x) == argmax(y) { agree += 1 }
        }
        return QuantizationQuality(output: output, vectors: pairs.count, worstCosine: worst,
                                   meanOneMinusCosine: sum / Double(pairs.count), maxAbsDifference: maxDiff,
                                   argmaxAgreement: output == .embedding ? nil : agree, worstText: worstText,
                                   truncatedTexts: truncated)
    }

    /// Cosine similarity in Double; 1 when both vectors are zero, 0 when only one is.
    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            na += Double(x) * Double(x)
            nb += Double(y) * Double(y)
        }
        if na == 0 && nb == 0 { return 1 }
        if na == 0 || nb == 0 { return 0 }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    /// Index of the largest element (the first of equals).
    static func argmax(_ v: [Float]) -> Int {
        var best = 0
        for i in v.indices where v[i] > v[best] { best = i }
        return best
    }
}
