// Small element-wise helpers shared by the models.

/// Element-wise kernels on the calling thread.
public enum ElementWise {
    /// x[i] += y[i] for `count` floats.
    @inline(__always)
    public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += y[i] }
    }

    /// Divides `count` floats by their L2 norm (left as they are when the norm is 0).
    public static func l2Normalize(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var sum: Float = 0
        for i in 0..<count { sum += x[i] * x[i] }
        let norm = sum.squareRoot()
        // sentence-transformers divides by max(norm, 1e-12).
        let inv = 1 / max(norm, 1e-12)
        for i in 0..<count { x[i] *= inv }
    }

    /// Softmax of a short vector (logits to probabilities), computed in Double for exactness.
    public static func softmax(_ logits: [Float]) -> [Float] {
        guard let maxValue = logits.max() else { return [] }
        let exps = logits.map { _exp(Double($0 - maxValue)) }
        let sum = exps.reduce(0, +)
        return exps.map { Float($0 / sum) }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) private func _exp(_ x: Double) -> Double { Darwin.exp(x) }
#endif
