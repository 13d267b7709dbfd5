// The one matrix-multiply entry point of the models: y = x W^T + b (optionally followed by an
// activation). It picks sgemv for a single row (5x faster than sgemm at M=1 with OpenBLAS) and
// sgemm otherwise, and splits the output features over the worker pool, each worker calling a
// single-threaded BLAS on its own column block and finishing that block (bias, activation)
// while it is still in cache.

/// A linear layer's weights, read-only. The storage lives in a mapped model file or in an owned
/// buffer (`owner` keeps either alive as long as the weight is used).
public struct LinearWeight: @unchecked Sendable {
    /// How the matrix is stored.
    public enum Layout: Sendable {
        /// (out, in) row-major: PyTorch `nn.Linear.weight`.
        case outIn
        /// (in, out) row-major: GPT-2's `Conv1D.weight`.
        case inOut
    }

    /// The matrix, `outFeatures * inFeatures` floats.
    public let weight: UnsafePointer<Float>
    /// The bias, `outFeatures` floats, or nil.
    public let bias: UnsafePointer<Float>?
    /// Number of outputs (N).
    public let outFeatures: Int
    /// Number of inputs (K).
    public let inFeatures: Int
    /// Storage order of `weight`.
    public let layout: Layout
    /// Whatever owns the memory (a mapped file, a `FloatBuffer`).
    public let owner: (any Sendable)?

    /// Wraps existing storage; nothing is copied.
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int, inFeatures: Int,
                layout: Layout, owner: (any Sendable)?) {
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.layout = layout
        self.owner = owner
    }
}

/// Linear-layer kernels.
public enum Linear {
    /// out = x W^T + b, then `activation` if given.
    // x: (rows, K), out: (rows, N)
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, weight w: LinearWeight,
                               out: UnsafeMutablePointer<Float>, activation: Activations.Kind? = nil,
                               pool: WorkerPool = .shared) {
        let n = w.outFeatures, k = w.inFeatures
        // Work per worker should stay large enough to amortise a dispatch (~1 us).
        let blocks = (n + 15) / 16
        let flops = rows * n * k
        let workers = flops < 1 << 17 ? 1 : min(pool.threadCount, blocks)
        if workers == 1 {
            block(x, rows: rows, w, out: out, columns: 0..<n, activation: activation)
            return
        }
        pool.run { worker in
            guard worker < workers else { return }
            let range = WorkerPool.chunk(blocks, parts: workers, index: worker)
            let columns = (range.lowerBound * 16)..<min(n, range.upperBound * 16)
            if !columns.isEmpty { block(x, rows: rows, w, out: out, columns: columns, activation: activation) }
        }
    }

    /// Computes output columns `columns` of all rows on the calling thread.
    @inline(__always)
    static func block(_ x: UnsafePointer<Float>, rows: Int, _ w: LinearWeight, out: UnsafeMutablePointer<Float>,
                      columns: Range<Int>, activation: Activations.Kind?) {
        let n = w.outFeatures, k = w.inFeatures
        let n0 = columns.lowerBound, width = columns.count
        if rows == 1 {
            switch w.layout {
            case .outIn:
                BLAS.sgemv(.none, rows: width, cols: k, alpha: 1, a: w.weight + n0 * k, lda: k, x: x, beta: 0, y: out + n0)
            case .inOut:
                BLAS.sgemv(.transposed, rows: k, cols: width, alpha: 1, a: w.weight + n0, lda: n, x: x, beta: 0, y: out + n0)
            }
        } else {
            switch w.layout {
            case .outIn:
                BLAS.sgemm(.none, .transposed, m: rows, n: width, k: k, alpha: 1, a: x, lda: k,
                           b: w.weight + n0 * k, ldb: k, beta: 0, c: out + n0, ldc: n)
            case .inOut:
                BLAS.sgemm(.none, .none, m: rows, n: width, k: k, alpha: 1, a: x, lda: k,
                           b: w.weight + n0, ldb: n, beta: 0, c: out + n0, ldc: n)
            }
        }
        for r in 0..<rows {
            let row = out + r * n + n0
            if let bias = w.bias {
                let b = bias + n0
                for j in 0..<width { row[j] += b[j] }
            }
            if let activation { Activations.applySerial(activation, row, count: width) }
        }
    }
}
