// The plain definition of the int8 linear layer: every fast path (the AVX-512 VNNI micro-kernels
// and their output stage in CMicroKernels, the SIMD Swift quantizer and packers, the portable Swift
// kernel) must give exactly these integers and floats. Simple loops, no tricks; the tests compare
// against them bit for bit.
//
//   weights      (per output channel n, symmetric)   w[n][k] ≈ q[n][k] * wScale[n]
//       wScale[n] = max_k |w[n][k]| / 127,  q = clamp(round(w / wScale), -127, 127), ties away from 0
//   activations  (per row m, asymmetric, unsigned, with outliers set apart)
//       rms     = sqrt(sumsq / K), sumsq summed in 16 lanes (element i into lane i % 16 for the
//                 first K - K % 16 elements, lanes then added in order 0...15), plus the rest in order
//       outliers O = { k : |x[k]| > outlierRatio * rms } in index order, if at most maxOutliers of them;
//                 otherwise none. They are computed in float (below) and quantize to the zero point.
//       lo = min(0, min of x over k not in O), hi = max(0, max of x over k not in O)
//       xScale = (hi - lo) / 255   (1 when hi == lo)
//       inv = 1 / xScale,  zp = roundEven(clamp(-lo * inv, 0, 255))
//       u[k] = roundEven(clamp(x[k] * inv + zp, 0, 255))  for k not in O,  u[k] = zp  for k in O
//                                                               (Float arithmetic, in this order)
//   accumulator  acc[m][n] = sum_k u[m][k] * q[n][k]                 (exact, int32)
//   outlier part r[m][n]   = sum over o in O, in order, of x[o] * Float(q[n][o])   (Float, from 0)
//   output       y[m][n]   = ((Float(acc) - zp[m] * columnSum[n]) * xScale[m] + r) * wScale[n] + bias[n]
//                          (Float operations in this order, none fused; no bias term without a bias;
//                          columnSum = sum_k q[n][k] is exact as a Float), then the activation
//
// Why: BERT-family activations have a few channels 10-30x larger than the rest (LayerNorm outputs
// in fixed channels, one FFN neuron per layer); with them inside the 8-bit range every other value
// loses 3-4 bits. Setting them apart per row (a handful of float multiply-adds per output) keeps the
// 8-bit step fine; weights are unchanged. The zero point makes the unsigned operand `vpdpbusd`
// needs and uses the full 8 bits on skewed rows (GELU outputs); its cost is the `zp * columnSum`
// term (sum_k (u - zp) q = acc - zp * columnSum), with the column sums precomputed at packing; it
// is applied in Float (Float(acc) is exact below 2^24 and within 2^-24 relative above, far below the
// 8-bit steps). |acc| <= 255 * 127 * K < 2^31 for K <= 65,536.
import SMMFormat

/// Reference int8 quantization and matrix multiply (slow, obviously correct).
public enum Int8Reference {
    /// Per-output-channel quantization of float weights in `layout` ((N, K) `.outIn`, (K, N) `.inOut`):
    /// the int8 values as a plain (N, K) row-major array, and the N scales.
    public static func quantizeWeights(_ w: [Float], outFeatures n: Int, inFeatures k: Int,
                                       layout: LinearWeight.Layout) -> (values: [Int8], scales: [Float]) {
        precondition(w.count == n * k)
        let at: (Int, Int) -> Float = layout == .outIn ? { w[$0 * k + $1] } : { w[$1 * n + $0] }
        var values = [Int8](repeating: 0, count: n * k)
        var scales = [Float](repeating: 0, count: n)
        for c in 0..<n {
            var best: Float = 0
            for i in 0..<k where abs(at(c, i)) > best { best = abs(at(c, i)) }
            scales[c] = SMMQuantizer.scale(maxAbs: best)
            for i in 0..<k { values[c * k + i] = SMMQuantizer.quantize(at(c, i), scale: scales[c]) }
        }
        return (values, scales)
    }

    /// Scale, 1 / scale and zero point of a row whose values lie in `lo ... hi` (lo <= 0 <= hi).
    @inline(__always)
    public static func rowParameters(lo: Float, hi: Float) -> (scale: Float, inverse: Float, zeroPoint: Float) {
        let range = hi - lo
        let scale: Float = range > 0 ? range / 255 : 1
        let inverse = 1 / scale
        let zeroPoint = roundEven(clamp255(-lo * inverse))
        return (scale, inverse, zeroPoint)
    }

    /// `v` clamped to 0 ... 255 (NaN stays NaN).
    @inline(__always)
    static func clamp255(_ v: Float) -> Float { v < 0 ? 0 : (v > 255 ? 255 : v) }

    /// Round half to even of a value in 0 ... 255.
    @inline(__always)
    static func roundEven(_ v: Float) -> Float { v.rounded(.toNearestOrEven) }

    /// A row's elements above `outlierRatio` times its root mean square are set apart...
    /// (5 and 16: on all-MiniLM-L6-v2 the worst embedding cosine to f32 goes from 0.9935 without
    /// outliers to 0.9965; ratio 4-6 and up to 8-32 outliers all land within 0.0005 of it).
    public static let outlierRatio: Float = 5
    /// ...when there are at most this many of them.
    public static let maxOutliers = 16

    /// The root mean square of `x`, summed in the documented lane order.
    public static func rootMeanSquare(_ x: [Float]) -> Float {
        let k = x.count, body = k - k % 16
        var lanes = [Float](repeating: 0, count: 16)
        for i in 0..<body { lanes[i % 16] += x[i] * x[i] }
        var tail: Float = 0
        for i in body..<k { tail += x[i] * x[i] }
        var sum = lanes[0]
        for j in 1..<16 { sum += lanes[j] }
        sum += tail
        return k == 0 ? 0 : (sum / Float(k)).squareRoot()
    }

    /// Quantizes one activation row: the bytes, the scale, the zero point and the outliers
    /// (index, value) computed in float.
    public static func quantizeRow(_ x: [Float])
        -> (values: [UInt8], scale: Float, zeroPoint: Int32, outliers: [(index: Int, value: Float)]) {
        let threshold = outlierRatio * rootMeanSquare(x)
        var outliers = x.indices.filter { abs(x[$0]) > threshold }.map { (index: $0, value: x[$0]) }
        if outliers.count > maxOutliers { outliers = [] }
        let excluded = Set(outliers.map(\.index))
        var lo: Float = 0, hi: Float = 0
        for (i, v) in x.enumerated() where !excluded.contains(i) {
            if v < lo { lo = v }
            if v > hi { hi = v }
        }
        let p = rowParameters(lo: lo, hi: hi)
        var values = x.map { UInt8(roundEven(clamp255($0 * p.inverse + p.zeroPoint))) }
        for o in outliers { values[o.index] = UInt8(p.zeroPoint) }
        return (values, p.scale, Int32(p.zeroPoint), outliers)
    }

    /// Raw accumulators acc[m][n] = sum_k a[m][k] * w[n][k]: `a` (M, K) bytes, `w` (N, K) int8.
    public static func gemm(_ a: [UInt8], _ w: [Int8], m: Int, n: Int, k: Int) -> [Int32] {
        var c = [Int32](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Int32 = 0
                for p in 0..<k { sum += Int32(a[i * k + p]) * Int32(w[j * k + p]) }
                c[i * n + j] = sum
            }
        }
        return c
    }

    /// One output value from its raw accumulator and its outlier part.
    @inline(__always)
    public static func output(accumulator: Int32, zeroPoint: Float, columnSum: Float, xScale: Float,
                              outlierPart: Float, wScale: Float, bias: Float?) -> Float {
        let y = ((Float(accumulator) - zeroPoint * columnSum) * xScale + outlierPart) * wScale
        return bias.map { y + $0 } ?? y
    }

    /// The whole int8 linear layer on float inputs: x (M, K), weights in `layout`, optional bias
    /// and activation; returns (M, N).
    public static func linear(_ x: [Float], rows m: Int, weights: [Float], outFeatures n: Int, inFeatures k: Int,
                              layout: LinearWeight.Layout, bias: [Float]?,
                              activation: Activations.Kind? = nil) -> [Float] {
        let (q, ws) = quantizeWeights(weights, outFeatures: n, inFeatures: k, layout: layout)
        var sums = [Int32](repeating: 0, count: n)
        for j in 0..<n { for p in 0..<k { sums[j] += Int32(q[j * k + p]) } }
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            let row = quantizeRow(Array(x[(i * k)..<((i + 1) * k)]))
            let acc = gemm(row.values, q, m: 1, n: n, k: k)
            for j in 0..<n {
                var part: Float = 0
                for o in row.outliers { part += o.value * Float(q[j * k + o.index]) }
                out[i * n + j] = output(accumulator: acc[j], zeroPoint: Float(row.zeroPoint), columnSum: Float(sums[j]),
                                        xScale: row.scale, outlierPart: part, wScale: ws[j], bias: bias?[j])
            }
            if let activation {
                out.withUnsafeMutableBufferPointer { Activations.applySerial(activation, $0.baseAddress! + i * n, count: n) }
            }
        }
        return out
    }
}
