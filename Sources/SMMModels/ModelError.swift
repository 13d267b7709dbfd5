/// Everything that can go wrong while loading or running a model, with a message a user can act on.
import Foundation
public enum ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A tensor the architecture needs is not in the checkpoint.
    case missingTensor(name: String, model: String)
    /// A tensor exists but its shape is not what the config implies.
    case wrongShape(name: String, expected: [Int], actual: [Int])
    /// A tensor is stored in a type the engine cannot use.
    case unsupportedDType(name: String, dtype: String)
    /// The config describes something the engine does not run.
    case unsupportedModel(String)
    /// The input does not fit the model (ids out of range, too long, empty, mismatched lengths).
    case invalidInput(String)
    /// The model has no head for what was asked (for example, classify on a model without a classifier).
    case missingHead(String)
    /// The model computed NaN or infinite values: its weights hold them (a corrupt or badly
    /// converted checkpoint). Nothing is returned rather than a meaningless answer.
    case nonFiniteOutput(String)

    /// A sentence saying what went wrong, naming the tensor or input concerned.
    public var description: String {
        switch self {
        case .missingTensor(let name, let model):
            return "tensor '\(name)' is missing from the \(model) checkpoint; the checkpoint is incomplete or its "
                + "config.json names another architecture: use the weights and config.json of one model"
        case .wrongShape(let name, let expected, let actual):
            return "tensor '\(name)' has shape \(actual), expected \(expected) from config.json; the weights and "
                + "config.json are of different models: use the config.json that came with the weights"
        case .unsupportedDType(let name, let dtype):
            return "tensor '\(name)' has dtype \(dtype), which the engine cannot use; convert the checkpoint to "
                + "F32, F16 or BF16 (or to an .smm file with smm-convert)"
        case .unsupportedModel(let reason): return "unsupported model: \(reason)"
        case .invalidInput(let reason): return "invalid input: \(reason)"
        case .missingHead(let reason): return reason
        case .nonFiniteOutput(let what):
            return "the model produced NaN or infinite \(what): its weights hold non-finite values "
                + "(a corrupt checkpoint; for an .smm file, smm inspect --verify checks it)"
        }
    }
}

extension ModelError {
    /// Throws `nonFiniteOutput(what)` when any of `values` is NaN or infinite.
    /// One pass with no branch per element: x − x is 0 for every finite x and NaN for NaN and
    /// ±infinity, and a NaN survives the sum (about 3 µs for GPT-2's 50,257 logits).
    static func checkFinite(_ values: UnsafeBufferPointer<Float>, _ what: @autoclosure () -> String) throws {
        guard let base = values.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= values.count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += v - v
            i += 8
        }
        var tail: Float = 0
        while i < values.count { tail += values[i] - values[i]; i += 1 }
        if !(acc.sum() + tail == 0) { throw ModelError.nonFiniteOutput(what()) }
    }

    /// `checkFinite` over an array.
    static func checkFinite(_ values: [Float], _ what: @autoclosure () -> String) throws {
        try values.withUnsafeBufferPointer { try checkFinite($0, what()) }
    }
}

extension ModelError: LocalizedError {
    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }
}
