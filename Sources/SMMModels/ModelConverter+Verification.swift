// The converter's verification policy: a converted model must give the outputs of its source
// loaded at the same dtype, to float noise. `smm-convert --verify` prints and enforces it.
import Foundation
import SMMFormat

extension ModelConverter {
    /// The largest |difference| a converted model's outputs may have from its source's at the same
    /// dtype. The reference is the source folder rounded at load exactly as the file stores it
    /// (`--dtype` at load uses the converter's own rounding), so every dtype must match to float
    /// noise: a cosine bar against f32 would judge quantization, not the conversion, and fails on
    /// models whose logits are near zero. `QuantizationQuality` (`smm quality`) measures that instead.
    public static let verificationTolerance: Float = 1e-5

    /// What `verify` found: every comparison, and what failed (empty when the conversion holds).
    public struct Verification: Sendable {
        /// One comparison per output kind (embeddings, logits, lm-logits).
        public var comparisons: [Comparison]
        /// Why the conversion fails, one line each; empty when it holds.
        public var failures: [String]
    }

    /// Compares `converted` with the model in `source` loaded at `dtype`.
    /// - Throws: errors loading the source or running either model (`ModelError`, `FormatError`).
    public static func verify(converted: LoadedModel, source: URL, dtype: ModelDType) throws -> Verification {
        let original = try ModelLoader.load(directory: source, dtype: dtype == .f32 ? nil : dtype)
        let comparisons = try compare(original, converted)
        var failures: [String] = []
        for r in comparisons {
            if !r.tokenizationEqual { failures.append("the tokenizer gives different ids") }
            if !r.maxAbsDiff.isFinite { failures.append("\(r.output) are not finite") }
            if !(r.maxAbsDiff <= verificationTolerance) {
                failures.append("\(r.output) differ from the source's at \(dtype.rawValue) by \(r.maxAbsDiff)")
            }
        }
        return Verification(comparisons: comparisons, failures: failures)
    }
}
