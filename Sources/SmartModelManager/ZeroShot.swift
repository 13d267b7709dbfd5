// Zero-shot classification by embedding similarity: embed a few descriptions per label, embed the
// text, and pick the label whose descriptions are closest (cosine). With only a sentence embedder
// on disk, this is how the manager answers sentiment, and it says so (`zero-shot-embedding`).
import Foundation

/// A label and the phrases that describe it.
public struct ZeroShotLabel: Sendable, Hashable, Codable {
    /// The label returned (`positive`).
    public var label: String
    /// Descriptions embedded as the label's prototypes (several phrasings work better than one).
    public var descriptions: [String]
    /// A label.
    public init(label: String, descriptions: [String]) {
        self.label = label
        self.descriptions = descriptions
    }
}

/// The labels of a zero-shot classification and how scores are formed.
public struct ZeroShotLabelSet: Sendable, Hashable, Codable {
    /// A name for caches and logs.
    public var name: String
    /// The labels.
    public var labels: [ZeroShotLabel]
    /// Softmax temperature over the cosine similarities (smaller: more confident scores).
    public var temperature: Float

    /// A label set.
    public init(name: String, labels: [ZeroShotLabel], temperature: Float = 0.02) {
        self.name = name
        self.labels = labels
        self.temperature = temperature
    }

    /// Positive/negative market and business sentiment. The descriptions are general statements of
    /// good and bad news for a company or market, not copies of the test headlines.
    public static let marketSentiment = ZeroShotLabelSet(name: "market-sentiment", labels: [
        ZeroShotLabel(label: "positive", descriptions: [
            "stock price rises, strong earnings, bullish",
            "shares rally to a record high",
            "the company beats expectations and raises its forecast",
            "profits grow and revenue jumps",
            "good news for investors: gains, growth and upgrades",
            "the economy is strong and markets climb",
        ]),
        ZeroShotLabel(label: "negative", descriptions: [
            "shares plunge, losses, bearish",
            "stock price falls sharply",
            "the company misses expectations and cuts its forecast",
            "profits drop and revenue declines",
            "bad news for investors: losses, layoffs, bankruptcy and downgrades",
            "the economy weakens and markets tumble",
        ]),
    ])

    /// `marketSentiment` plus a neutral label for announcements that move nothing.
    public static let marketSentimentWithNeutral = ZeroShotLabelSet(
        name: "market-sentiment-neutral",
        labels: marketSentiment.labels + [ZeroShotLabel(label: "neutral", descriptions: [
            "the company announces a scheduled meeting or date",
            "a routine corporate announcement with no change",
            "markets trade flat, unchanged",
        ])])

    var cacheKey: String { "\(name)|\(labels.map { $0.label + ":" + $0.descriptions.joined(separator: "/") }.joined(separator: ";"))" }
}

/// The scoring of texts against label prototypes.
public enum ZeroShotScorer {
    /// Scores each text: per label the mean cosine to its descriptions (vectors are L2-normalised),
    /// then a softmax over labels at the set's temperature.
    public static func score(texts: [[Float]], prototypes: [[[Float]]], labels: ZeroShotLabelSet) -> [[LabelScore]] {
        texts.map { vector in
            let similarities = prototypes.map { group -> Float in
                guard !group.isEmpty else { return -1 }
                return group.map { cosine(vector, $0) }.reduce(0, +) / Float(group.count)
            }
            let scaled = similarities.map { $0 / max(labels.temperature, 1e-4) }
            let top = scaled.max() ?? 0
            let exps = scaled.map { expf($0 - top) }
            let sum = exps.reduce(0, +)
            return zip(labels.labels, exps).map { LabelScore(label: $0.label, score: $1 / max(sum, 1e-20)) }
        }
    }

    /// Cosine similarity (0 for zero vectors or mismatched lengths).
    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for i in a.indices {
            dot += a[i] * b[i]
            na += a[i] * a[i]
            nb += b[i] * b[i]
        }
        let norm = (na * nb).squareRoot()
        return norm > 0 ? dot / norm : 0
    }
}
