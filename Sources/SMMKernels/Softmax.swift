// Numerically stable softmax over rows, in place. Where the CPU has AVX-512 the row runs in C
// (`smm_softmax_row`: the same exp, the sum in 16 lanes), else in the Swift loop below.
import CMicroKernels

/// Softmax kernels.
public enum Softmax {
    /// Softmax of one row of `count` floats in place. Entries at index >= `validCount` are set to 0
    /// (the causal mask and key padding at the end of a row).
    @inline(__always)
    public static func row(_ x: UnsafeMutablePointer<Float>, count: Int, validCount: Int? = nil) {
        if hasVectorSoftmax && count > 0 {
            smm_softmax_row(x, Int32(count), Int32(min(count, validCount ?? count)))
            return
        }
        swiftRow(x, count: count, validCount: validCount)
    }

    /// Whether `smm_softmax_row` runs here.
    static let hasVectorSoftmax = smm_gelu_available() != 0

    /// The Swift loop (any CPU).
    @inline(__always)
    static func swiftRow(_ x: UnsafeMutablePointer<Float>, count: Int, validCount: Int? = nil) {
        let n = min(count, validCount ?? count)
        guard n > 0 else {
            for i in 0..<count { x[i] = 0 }
            return
        }
        let raw = UnsafeMutableRawPointer(x)
        // max over 8 lanes with a compare-and-blend (`pointwiseMax` would compile to a scalar loop);
        // a NaN never wins a comparison, as in the scalar loop.
        var lanes = Float8(repeating: -.infinity)
        var m = 0
        while m + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: m * 4, as: Float8.self)
            lanes.replace(with: v, where: v .> lanes)
            m += 8
        }
        var maxValue = x[0]
        for lane in 0..<8 where lanes[lane] > maxValue { maxValue = lanes[lane] }
        while m < n { if x[m] > maxValue { maxValue = x[m] }; m += 1 }
        var acc = Float8()
        var i = 0
        while i + 8 <= n {
            let e = FastMath.exp(raw.loadUnaligned(fromByteOffset: i * 4, as: Float8.self) - maxValue)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: Float8.self)
            acc += e
            i += 8
        }
        var sum = acc.sum()
        while i < n { let e = FastMath.exp(x[i] - maxValue); x[i] = e; sum += e; i += 1 }
        let inv = 1 / sum
        for j in 0..<n { x[j] *= inv }
        for j in n..<count { x[j] = 0 }
    }

    /// Softmax of `rows` rows of `cols` floats each, in place, on the calling thread.
    public static func rows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { row(x + r * cols, count: cols) }
    }
}
