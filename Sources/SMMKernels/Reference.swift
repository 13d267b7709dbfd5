// Plain, obviously-correct versions of the fast kernels. They define what the fast paths must
// compute; tests compare against them, and they serve when no BLAS library can be found.

/// Reference kernels: simple loops, double accumulation, no tricks.
public enum Reference {
    /// Row-major C = alpha * op(A) * op(B) + beta * C.
    public static func sgemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                             alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k {
                    let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += Double(av) * Double(bv)
                }
                let old = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(sum) + old
            }
        }
    }

    /// Row-major y = alpha * op(A) * x + beta * y, A stored as `rows` x `cols`.
    public static func sgemv(_ trans: Transpose, rows: Int, cols: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                             beta: Float, y: UnsafeMutablePointer<Float>) {
        let outCount = trans == .none ? rows : cols
        let inCount = trans == .none ? cols : rows
        for i in 0..<outCount {
            var sum: Double = 0
            for p in 0..<inCount {
                let av = trans == .none ? a[i * lda + p] : a[p * lda + i]
                sum += Double(av) * Double(x[p])
            }
            let old = beta == 0 ? 0 : beta * y[i]
            y[i] = alpha * Float(sum) + old
        }
    }
}
