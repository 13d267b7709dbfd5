// The architectures a catalog entry can name, as a type (a typo is a compile error, not a model
// that never matches).
import Foundation

/// A model architecture, as `config.json`'s `model_type` names it.
public struct ModelArchitecture: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible {
    /// The name, lower-cased (`bert`).
    public var rawValue: String
    /// An architecture named `rawValue` (lower-cased, trimmed).
    public init(rawValue: String) { self.rawValue = rawValue.trimmingCharacters(in: .whitespaces).lowercased() }
    /// An architecture from a literal (`"bert"`).
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    /// The name.
    public var description: String { rawValue }

    /// BERT (and sentence-transformers models built on it, such as all-MiniLM-L6-v2).
    public static let bert: ModelArchitecture = "bert"
    /// DistilBERT.
    public static let distilbert: ModelArchitecture = "distilbert"
    /// GPT-2 and DistilGPT-2.
    public static let gpt2: ModelArchitecture = "gpt2"
    /// The architectures this engine runs.
    public static let supported: [ModelArchitecture] = [.bert, .distilbert, .gpt2]
}
