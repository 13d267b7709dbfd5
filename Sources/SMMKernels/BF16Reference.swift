// The definition of the bf16 path, in plain Swift: what every bf16 kernel must compute.
//
//   a = bf16(x) (nearest, ties to even), w = bf16 weights;
//   y[i][n] = sum over k of float(a[i][k]) * float(w[n][k]) + bias[n]
// Each product of two bf16 values is exact in f32 (8-bit significands), so the only freedom a
// kernel has is the order of its f32 additions (AMX and `vdpbf16ps` sum pairs; register tiles
// and tiles split K differently). The reference sums in Double and gives, beside each value, the
// bound every kernel's result must meet: with u = 2^-24 the f32 sum of K terms is within
// (K + 1) * u * (sum |products| + |bias|) of the exact one (the classic recursive-summation bound
// with one more rounding for the bias), which is tight enough that a wrong element, pair or
// column anywhere shows.
import SMMFormat

/// The bf16 linear layer's definition and error bound (see the file's header).
public enum BF16Reference {
    /// The f32 value of bf16 bits (exact).
    @inline(__always)
    public static func float(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// x rounded to bf16 and back: the value the kernels multiply.
    @inline(__always)
    public static func rounded(_ x: Float) -> Float { float(f32ToBF16Bits(x)) }

    /// The exact results and their bounds for x: (rows, K), weights (out, in) as f32 values (rounded
    /// to bf16 here, as packing does), bias (N) or nil: both (rows, N).
    public static func linear(_ x: [Float], rows m: Int, weights: [Float], outFeatures n: Int, inFeatures k: Int,
                              bias: [Float]?) -> (values: [Float], bounds: [Float]) {
        precondition(x.count == m * k && weights.count == n * k, "shapes do not match")
        let a = x.map(rounded), w = weights.map(rounded)
        var values = [Float](repeating: 0, count: m * n), bounds = values
        let u = 1.0 / Double(1 << 24)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let product = Double(a[i * k + p]) * Double(w[j * k + p])
                    sum += product
                    magnitude += abs(product)
                }
                let b = Double(bias?[j] ?? 0)
                values[i * n + j] = Float(sum + b)
                bounds[i * n + j] = Float(Double(k + 1) * u * (magnitude + abs(b)) + abs(sum + b) * u)
            }
        }
        return (values, bounds)
    }
}
