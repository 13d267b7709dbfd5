// The one matrix-multiply entry point of the models: y = x W^T + b (optionally followed by an
// activation). It picks sgemv for a single row (5x faster than sgemm at M=1 with OpenBLAS) and
// sgemm otherwise, and splits the output features over the worker pool, each worker calling a
// single-threaded BLAS on its own column block and finishing that block (bias, activation)
// while it is still in cache. f32 weights packed at load (`PackedMatrix`, where the CPU has
// AVX-512) go to the packed-panel kernel instead (same split, bias inside the kernel), int8
// weights go to `QuantizedLinear` (same split, int8 kernels) and bf16 weights to `BF16Linear`.
import CMicroKernels
import Synchronization

/// A linear layer's weights, read-only. The storage lives in a mapped model file or in an owned
/// buffer (`owner` keeps either alive as long as the weight is used). The matrix is f32 (computed
/// with BLAS), f32 packed in 48-column panels (`PackedMatrix`, computed with the AVX-512 kernel),
/// or int8 per output channel (`QuantizedMatrix`, computed with the int8 kernels of
/// `QuantizedLinear`); `Linear.forward` runs any of them.
public struct LinearWeight: @unchecked Sendable {
    /// How the matrix is stored.
    public enum Layout: Sendable {
        /// (out, in) row-major: PyTorch `nn.Linear.weight`.
        case outIn
        /// (in, out) row-major: GPT-2's `Conv1D.weight`.
        case inOut
    }

    /// The matrix's element storage.
    public enum Storage: @unchecked Sendable {
        /// `outFeatures * inFeatures` floats in `layout` order.
        case f32(UnsafePointer<Float>)
        /// f32 in the AVX-512 kernel's panels, with its own padded copy of the bias.
        case packedF32(PackedMatrix)
        /// int8 per output channel, packed for the int8 kernels (`layout` is the source's order).
        case int8(QuantizedMatrix)
        /// bf16 packed for the bf16 kernels (`BF16Linear`), with its own padded copy of the bias.
        case bf16(BF16Matrix)
        /// 4-bit blocks of 32 inputs with f16 scales, packed for the q4 kernels (`Q4Linear`).
        case q4(Q4Matrix)
    }

    /// The matrix.
    public let storage: Storage
    /// The bias, `outFeatures` floats, or nil.
    public let bias: UnsafePointer<Float>?
    /// Number of outputs (N).
    public let outFeatures: Int
    /// Number of inputs (K).
    public let inFeatures: Int
    /// Storage order of the f32 matrix (for packed and int8: of the matrix they were made from).
    public let layout: Layout
    /// Whatever owns the memory (a mapped file, a `FloatBuffer`).
    public let owner: (any Sendable)?

    private init(storage: Storage, bias: UnsafePointer<Float>?, outFeatures: Int, inFeatures: Int, layout: Layout,
                 owner: (any Sendable)?) {
        self.storage = storage
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.layout = layout
        self.owner = owner
    }

    /// Wraps existing f32 storage; nothing is copied.
    public init(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int, inFeatures: Int,
                layout: Layout, owner: (any Sendable)?) {
        self.init(storage: .f32(weight), bias: bias, outFeatures: outFeatures, inFeatures: inFeatures, layout: layout,
                  owner: owner)
    }

    /// Wraps a packed f32 matrix (which holds its own bias).
    public init(packed matrix: PackedMatrix, layout: Layout) {
        self.init(storage: .packedF32(matrix), bias: matrix.bias, outFeatures: matrix.outFeatures,
                  inFeatures: matrix.inFeatures, layout: layout, owner: matrix)
    }

    /// Wraps a packed bf16 matrix (which holds its own bias).
    public init(bf16 matrix: BF16Matrix, layout: Layout) {
        self.init(storage: .bf16(matrix), bias: matrix.bias, outFeatures: matrix.outFeatures,
                  inFeatures: matrix.inFeatures, layout: layout, owner: matrix)
    }

    /// Wraps a q4 matrix and an f32 bias (kept alive by `owner`).
    public init(q4 matrix: Q4Matrix, bias: UnsafePointer<Float>?, layout: Layout = .outIn, owner: (any Sendable)?) {
        self.init(storage: .q4(matrix), bias: bias, outFeatures: matrix.outFeatures, inFeatures: matrix.inFeatures,
                  layout: layout, owner: owner)
    }

    /// Wraps an int8 matrix and an f32 bias (kept alive by `owner`).
    public init(quantized matrix: QuantizedMatrix, bias: UnsafePointer<Float>?, layout: Layout = .outIn,
                owner: (any Sendable)?) {
        self.init(storage: .int8(matrix), bias: bias, outFeatures: matrix.outFeatures, inFeatures: matrix.inFeatures,
                  layout: layout, owner: owner)
    }

    /// This f32 layer with its matrix and bias packed in 48-column panels for the AVX-512 kernel
    /// (the copy OpenBLAS would make on every call, made once); the plain matrix is no longer
    /// referenced. Returned unchanged for packed and int8 weights and where the kernel does not run
    /// (`PackedMatrix.isAvailable`).
    public func packedF32(pool: WorkerPool = .shared) -> LinearWeight {
        guard PackedMatrix.isAvailable, case .f32(let pointer) = storage, outFeatures > 0, inFeatures > 0 else {
            return self
        }
        let matrix = withExtendedLifetime(owner) {
            PackedMatrix(packing: pointer, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures,
                         layout: layout, pool: pool)
        }
        return LinearWeight(packed: matrix, layout: layout)
    }

    /// This layer with its matrix rounded to bf16 (nearest, ties to even: a bf16 file's values come
    /// back exactly) and packed for the bf16 kernels, the bias copied. Returned unchanged for int8
    /// and bf16 weights and where no bf16 kernel runs (`BF16Linear.isAvailable`).
    public func packedBF16(pool: WorkerPool = .shared) -> LinearWeight {
        guard BF16Linear.isAvailable, outFeatures > 0, inFeatures > 0 else { return self }
        let matrix: BF16Matrix
        switch storage {
        case .int8, .bf16, .q4:
            return self
        case .f32(let pointer):
            matrix = withExtendedLifetime(owner) {
                BF16Matrix(rounding: pointer, bias: bias, outFeatures: outFeatures, inFeatures: inFeatures,
                           layout: layout, pool: pool)
            }
        case .packedF32(let packed):
            let plain = packed.unpacked()
            matrix = withExtendedLifetime(plain) {
                BF16Matrix(rounding: plain.pointer, bias: packed.bias, outFeatures: outFeatures,
                           inFeatures: inFeatures, layout: .outIn, pool: pool)
            }
        }
        return LinearWeight(bf16: matrix, layout: layout)
    }

    /// The plain f32 matrix, `outFeatures * inFeatures` floats in `layout` order. Only for `.f32`
    /// storage: check `storage` first; reading it from a packed or int8 weight stops the program.
    public var weight: UnsafePointer<Float> {
        guard case .f32(let pointer) = storage else {
            preconditionFailure("LinearWeight.weight read on a packed or int8 weight; switch over `storage`")
        }
        return pointer
    }

    /// The packed f32 matrix, or nil for other storage.
    public var packed: PackedMatrix? {
        if case .packedF32(let matrix) = storage { return matrix }
        return nil
    }

    /// The bf16 matrix, or nil for other storage.
    public var bf16: BF16Matrix? {
        if case .bf16(let matrix) = storage { return matrix }
        return nil
    }

    /// The q4 matrix, or nil for other storage.
    public var q4: Q4Matrix? {
        if case .q4(let matrix) = storage { return matrix }
        return nil
    }

    /// The int8 matrix, or nil for other storage.
    public var quantized: QuantizedMatrix? {
        if case .int8(let matrix) = storage { return matrix }
        return nil
    }

    /// This layer with its matrix quantized to int8 per output channel (symmetric, scale =
    /// max |w_row| / 127) and packed for the int8 kernels; the bias stays f32 (copied, so that the
    /// new weight does not keep the f32 matrix's owner alive). An int8 or q4 weight is returned as it is,
    /// and so is a layer with more than `QuantizedMatrix.maxInFeatures` inputs (its int32
    /// accumulators could overflow).
    public func quantizedInt8(pool: WorkerPool = .shared) -> LinearWeight {
        guard inFeatures <= QuantizedMatrix.maxInFeatures, outFeatures > 0, inFeatures > 0 else { return self }
        let matrix: QuantizedMatrix
        switch storage {
        case .int8, .q4:
            return self
        case .f32(let pointer):
            matrix = withExtendedLifetime(owner) {
                QuantizedMatrix(quantizing: pointer, outFeatures: outFeatures, inFeatures: inFeatures, layout: layout,
                                pool: pool)
            }
        case .packedF32(let packed):
            // Per output channel, so the (out, in) order read back from the panels gives the same integers.
            let plain = packed.unpacked()
            matrix = withExtendedLifetime(plain) {
                QuantizedMatrix(quantizing: plain.pointer, outFeatures: outFeatures, inFeatures: inFeatures,
                                layout: .outIn, pool: pool)
            }
        case .bf16(let packed):
            let plain = packed.unpacked()
            matrix = withExtendedLifetime(plain) {
                QuantizedMatrix(quantizing: plain.pointer, outFeatures: outFeatures, inFeatures: inFeatures,
                                layout: .outIn, pool: pool)
            }
        }
        var biasCopy: FloatBuffer?
        if let bias {
            let copy = FloatBuffer(count: outFeatures)
            withExtendedLifetime(owner) { copy.pointer.update(from: bias, count: outFeatures) }
            biasCopy = copy
        }
        return LinearWeight(quantized: matrix, bias: biasCopy.map { UnsafePointer($0.pointer) }, layout: layout,
                            owner: biasCopy)
    }
}

/// Linear-layer kernels.
public enum Linear {
    // x: (rows, K), out: (rows, N)
    /// out = x W^T + b, then `activation` if given.
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, weight w: LinearWeight,
                               out: UnsafeMutablePointer<Float>, activation: Activations.Kind? = nil,
                               pool: WorkerPool = .shared) {
        if case .int8(let matrix) = w.storage {
            QuantizedLinear.forward(x, rows: rows, weight: matrix, bias: w.bias, out: out, activation: activation,
                                    pool: pool)
            return
        }
        if case .q4(let matrix) = w.storage {
            Q4Linear.forward(x, rows: rows, weight: matrix, bias: w.bias, out: out, activation: activation, pool: pool)
            return
        }
        if case .bf16(let matrix) = w.storage {
            BF16Linear.forward(x, rows: rows, weight: matrix, out: out, activation: activation, pool: pool)
            return
        }
        if let packed = w.packed {
            packedForward(x, rows: rows, weight: packed, out: out, activation: activation, pool: pool)
            return
        }
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

    // x: (rows, K), out: (rows, N)
    /// The packed path: the workers take panels (48 output columns) one at a time from a shared
    /// counter, so a worker slowed down by another process does not hold up the others; the bias
    /// is added inside the kernel and the activation right after each panel, while it is in cache.
    static func packedForward(_ x: UnsafePointer<Float>, rows: Int, weight p: PackedMatrix,
                              out: UnsafeMutablePointer<Float>, activation: Activations.Kind?, pool: WorkerPool) {
        let n = p.outFeatures, k = p.inFeatures, width = PackedMatrix.panelColumns
        // Rows are taken in blocks whose activations stay in a core's L2 while every panel passes
        // over them; otherwise a large batch would stream all of x from memory once per panel.
        let blockRows = rowBlock(rows: rows, inFeatures: k)
        let rowBlocks = (rows + blockRows - 1) / blockRows
        let tile = { (block: Int, q: Int) in
            let r0 = block * blockRows, count = min(blockRows, rows - r0)
            let n0 = q * width, columns = min(width, n - n0)
            smm_f32_avx512_panel(x + r0 * k, k, Int32(count), p.packed + q * p.panelFloats, Int32(k),
                                 p.bias.map { $0 + n0 }, out + r0 * n + n0, n, Int32(columns))
            if let activation {
                for r in r0..<(r0 + count) { Activations.applySerial(activation, out + r * n + n0, count: columns) }
            }
        }
        let flops = rows * n * k
        if flops < 1 << 17 || pool.threadCount == 1 || p.panels * rowBlocks == 1 {
            for block in 0..<rowBlocks { for q in 0..<p.panels { tile(block, q) } }
            return
        }
        // Work items are runs of consecutive panels of one row block, handed out from a shared
        // counter: a worker slowed by another process does not hold the others up, and each run keeps
        // the weight stream sequential for the hardware prefetcher. Eight runs per worker and row
        // block leave room to even out.
        let run = max(1, p.panels / (pool.threadCount * 8))
        let runsPerBlock = (p.panels + run - 1) / run
        let items = rowBlocks * runsPerBlock
        let next = Atomic<Int>(0)
        pool.run { _ in
            while true {
                let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard item < items else { return }
                let block = item / runsPerBlock, q0 = (item % runsPerBlock) * run
                for q in q0..<min(p.panels, q0 + run) { tile(block, q) }
            }
        }
    }

    /// Rows per block of the packed path: all of them while their activations fit in 1.5 MB of this
    /// CPU's 2 MB L2 beside the panel being read (BERT-base at sequence 128 runs unblocked, FFN
    /// output included), else even blocks of at most about 512 KB of activations, a multiple of the
    /// kernel's 8-row register block (batch 8 x 128 of BERT-base: about 8% faster than unblocked;
    /// 32 to 128 rows measured alike).
    static func rowBlock(rows: Int, inFeatures k: Int) -> Int {
        let bytes = rows * k * 4
        if bytes <= 3 << 19 { return max(1, rows) }
        let blocks = (bytes + (1 << 19) - 1) >> 19
        return min(rows, ((rows + blocks - 1) / blocks + 7) / 8 * 8)
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
