// A sentence embedding as the front door returns it, and the similarity of two.
import Foundation

/// One text's embedding.
public struct Embedding: Sendable, Hashable, Codable {
    /// The vector (L2-normalised by the models here, so a dot product is the cosine).
    public var vector: [Float]
    /// True when the text was longer than the model reads and was cut.
    public var truncated: Bool

    /// An embedding.
    public init(vector: [Float], truncated: Bool = false) {
        self.vector = vector
        self.truncated = truncated
    }

    /// Its length.
    public var dimensions: Int { vector.count }

    /// Cosine similarity to `other`, in -1...1.
    /// - Throws: `ManagerError.invalidInput` when the two have different lengths (made by different models).
    public func similarity(to other: Embedding) throws -> Float {
        guard vector.count == other.vector.count else {
            throw ManagerError.invalidInput("cannot compare a \(vector.count)-dimensional embedding with a "
                + "\(other.vector.count)-dimensional one: embed both texts with the same model")
        }
        return ZeroShotScorer.cosine(vector, other.vector)
    }
}
