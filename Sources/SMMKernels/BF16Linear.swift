// The bf16 linear layer: y = act(x W^T + b) with W packed bf16 (`BF16Matrix`) and x rounded to
// bf16 once per call, products exact in f32 and summed in f32.
//
//   1. round the rows of x to bf16 (nearest, ties to even), zero-padded to whole tiles;
//   2. products: AMX-BF16 tiles for several rows where the CPU has AMX, the AVX512_BF16 register
//      tiles otherwise (one row, or Zen 4), both from CMicroKernels; the bias is added in the kernel;
//   3. the activation, on each slice while it is in cache.
// Output panels are split over the worker pool as in the f32 and int8 paths. `BF16Reference`
// defines the result: the exact sum of the bf16 products, within the f32 accumulation bound.
// Models use this path only where a bf16 kernel runs (`BF16Linear.isAvailable`); elsewhere a bf16
// file's matrices are widened to f32 at load, as before.
import CMicroKernels
import SMMFormat

/// The bf16 matrix-multiply kernels behind `Linear.forward` for bf16 weights.
public enum BF16Linear {
    /// Which bf16 kernel runs.
    public enum Kernel: String, Sendable, CaseIterable {
        /// AMX-BF16 tiles (`tdpbf16ps`) for 2 rows or more (and rows of at most 32,767 bf16 values, the
        /// tiles' stride limit); the AVX512_BF16 tiles for one row (decode, bound by reading the weights).
        case amx = "amx-bf16"
        /// AVX512_BF16 (`vdpbf16ps`) register tiles.
        case avx512BF16 = "avx512-bf16"
        /// Plain Swift (any CPU; slow). For tests and for forcing, never chosen by itself.
        case portable
    }

    /// The kernels this CPU and OS can run, fastest first (`.portable` always last).
    public static var availableKernels: [Kernel] {
        var kernels: [Kernel] = []
        if smm_bf16_amx_available() != 0 { kernels.append(.amx) }
        if smm_bf16_avx512_available() != 0 { kernels.append(.avx512BF16) }
        return kernels + [.portable]
    }

    /// The kernel this process uses: the fastest available, unless `SMM_BF16_KERNEL` names
    /// another available one (`amx-bf16`, `avx512-bf16` or `portable`).
    public static let kernel: Kernel = KernelChoice.pick(availableKernels, variable: "SMM_BF16_KERNEL")

    /// Whether a bf16 kernel runs here, so that models keep bf16 matrices as bf16 (else they are
    /// widened to f32 at load and run on the f32 kernels). False when `SMM_BF16_KERNEL=portable`.
    public static var isAvailable: Bool { kernel != .portable }

    /// Fewest rows sent to the AMX kernel; fewer go to the AVX512_BF16 tiles.
    static let amxMinimumRows = 2

    // x: (rows, K), out: (rows, N)
    /// out = act(x W^T + b) for x: (rows, K) floats and W, b in `weight`.
    public static func forward(_ x: UnsafePointer<Float>, rows m: Int, weight w: BF16Matrix,
                               out: UnsafeMutablePointer<Float>, activation: Activations.Kind?,
                               pool: WorkerPool = .shared, kernel: Kernel = BF16Linear.kernel) {
        if m <= 0 { return }
        let k = w.inFeatures, lda = 2 * w.kPairs
        let workers = m * w.outFeatures * k < 1 << 18 ? 1 : min(pool.threadCount, w.panels)
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: m * lda) { buffer in
            let a = buffer.baseAddress!
            // 1. Round the rows.
            if m * k >= 1 << 15 && workers > 1 {
                pool.parallelFor(m, minimumPerWorker: max(1, 8192 / k)) { range, _ in
                    for r in range { roundRow(x + r * k, count: k, into: a + r * lda, stride: lda) }
                }
            } else {
                for r in 0..<m { roundRow(x + r * k, count: k, into: a + r * lda, stride: lda) }
            }
            let job = Job(a: UnsafePointer(a), lda: lda, weight: w, out: out, activation: activation,
                          kernel: kernel, m: m)
            // 2-3. Products, bias and activation, output panels split over the workers.
            if workers == 1 {
                job.run(panels: 0..<w.panels)
                return
            }
            pool.run { worker in
                guard worker < workers else { return }
                let range = WorkerPool.chunk(w.panels, parts: workers, index: worker)
                if !range.isEmpty { job.run(panels: range) }
            }
        }
    }

    /// Rounds `count` floats to bf16 bits (nearest, ties to even; NaN stays NaN), then zeros up
    /// to `stride`: `f32ToBF16Bits` on each, in AVX-512 where the CPU has it (the tests hold the two
    /// to the same bits), else in Swift.
    @inline(__always)
    static func roundRow(_ x: UnsafePointer<Float>, count k: Int, into a: UnsafeMutablePointer<UInt16>, stride: Int) {
        if hasVectorRounding {
            smm_bf16_round(x, k, a)
        } else {
            for i in 0..<k { a[i] = f32ToBF16Bits(x[i]) }
        }
        if stride > k { (a + k).update(repeating: 0, count: stride - k) }
    }

    /// Whether `smm_bf16_round` runs here.
    static let hasVectorRounding = smm_bf16_avx512_available() != 0

    /// One call's data, shared read-only by the workers.
    struct Job {
        let a: UnsafePointer<UInt16>
        let lda: Int
        let weight: BF16Matrix
        let out: UnsafeMutablePointer<Float>
        let activation: Activations.Kind?
        let kernel: Kernel
        let m: Int

        /// Output panels `panels` of every row, on the calling thread: for each block of rows whose
        /// activations fit in L2, for each block of up to 4 panels, one kernel call, then the
        /// activation on that slice.
        func run(panels: Range<Int>) {
            let w = weight, n = w.outFeatures
            let rowBlock = max(32, min(m, (512 * 1024 / (2 * lda)) / 32 * 32))
            var r0 = 0
            while r0 < m {
                let r1 = min(m, r0 + rowBlock)
                var p0 = panels.lowerBound
                while p0 < panels.upperBound {
                    let count = min(4, panels.upperBound - p0)
                    let n0 = p0 * 16, width = min(n, (p0 + count) * 16) - n0
                    let b = w.packed + p0 * w.kPairs * 32, bias = w.bias.map { $0 + n0 }
                    let o = out + r0 * n + n0
                    switch kernel {
                    case .amx where r1 - r0 >= BF16Linear.amxMinimumRows && 2 * lda <= 65_535:
                        smm_bf16_amx_gemm(a + r0 * lda, lda, Int32(r1 - r0), b, w.panelBytes, Int32(count),
                                          Int32(w.kPairs), bias, Int32(width), o, n)
                    case .amx, .avx512BF16:
                        smm_bf16_avx512_gemm(a + r0 * lda, lda, Int32(r1 - r0), b, w.panelBytes, Int32(count),
                                             Int32(w.kPairs), bias, Int32(width), o, n)
                    case .portable:
                        BF16Portable.gemm(a: a + r0 * lda, lda: lda, rows: r1 - r0, weight: w, columns: n0..<(n0 + width),
                                          out: o, ldo: n)
                    }
                    if let activation {
                        for i in r0..<r1 { Activations.applySerial(activation, out + i * n + n0, count: width) }
                    }
                    p0 += count
                }
                r0 = r1
            }
        }
    }
}

/// The portable bf16 kernel: products of the bf16 values in f32, summed in k order, plus the bias.
enum BF16Portable {
    static func gemm(a: UnsafePointer<UInt16>, lda: Int, rows: Int, weight w: BF16Matrix, columns: Range<Int>,
                     out: UnsafeMutablePointer<Float>, ldo: Int) {
        let k = w.inFeatures
        for i in 0..<rows {
            for (j, n) in columns.enumerated() {
                var sum: Float = 0
                for p in 0..<k { sum += BF16Reference.float(a[i * lda + p]) * BF16Reference.float(w.value(row: n, column: p)) }
                out[i * ldo + j] = sum + (w.bias?[n] ?? 0)
            }
        }
    }
}
