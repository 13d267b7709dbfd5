// LayerNorm over the last dimension, optionally fused with the residual add before it
// (BERT: LayerNorm(x + sublayer(x))). Two passes per row (mean, then variance) for accuracy.

/// Layer normalisation kernels.
public enum LayerNorm {
    // x: (rows, cols), weight/bias: (cols)
    /// out[r] = (x[r] - mean) / sqrt(var + eps) * weight + bias, for each of `rows` rows of `cols` floats.
    /// `out` may alias `x`. With `residual`, x[r] + residual[r] is normalised (and written back to `x`
    /// when `out` differs, so the sum is available as the next residual).
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>,
                               residual: UnsafePointer<Float>? = nil,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               rows: Int, cols: Int, eps: Float, pool: WorkerPool = .shared) {
        pool.parallelFor(rows, minimumPerWorker: max(1, 16384 / max(cols, 1))) { range, _ in
            for r in range {
                let row = x + r * cols
                if let residual {
                    let res = residual + r * cols
                    for c in 0..<cols { row[c] += res[c] }
                }
                normalizeRow(out: out + r * cols, x: row, weight: weight, bias: bias, cols: cols, eps: eps)
            }
        }
    }

    @inline(__always)
    static func normalizeRow(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                             weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cols: Int, eps: Float) {
        let xr = UnsafeRawPointer(x)
        var acc = Float8()
        var c = 0
        while c + 8 <= cols { acc += xr.loadUnaligned(fromByteOffset: c * 4, as: Float8.self); c += 8 }
        var sum = acc.sum()
        while c < cols { sum += x[c]; c += 1 }
        let mean = sum / Float(cols)
        var vacc = Float8()
        c = 0
        while c + 8 <= cols {
            let d = xr.loadUnaligned(fromByteOffset: c * 4, as: Float8.self) - mean
            vacc += d * d
            c += 8
        }
        var variance = vacc.sum()
        while c < cols { let d = x[c] - mean; variance += d * d; c += 1 }
        variance /= Float(cols)
        let inv = 1 / (variance + eps).squareRoot()
        for i in 0..<cols { out[i] = (x[i] - mean) * inv * weight[i] + bias[i] }
    }
}
