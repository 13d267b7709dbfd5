// The q4 linear layer: y = act(x W^T + b) with W in 4-bit blocks (`Q4Matrix`).
//
//   1. quantize each row of x per block of 32 inputs: d = max|x| / 127, q = round(x / d) in
//      −127...127, and the block's sum of q (for the codes' offset of 8);
//   2. products: the AVX-512 VNNI kernel (CMicroKernels/Q4VNNI.c) where the CPU has it, else
//      `Q4Reference`, which defines the result bit for bit; the bias is added in the kernel;
//   3. the activation, on each slice while it is in cache.
// Output panels are split over the worker pool in runs handed out from a shared counter, as in the
// f32 path. Decode (one row) is bound by reading the weights: 4.5 bits per weight instead of int8's 8.
import CMicroKernels
import Synchronization

/// The q4 matrix-multiply kernels behind `Linear.forward` for q4 weights.
public enum Q4Linear {
    /// Which q4 kernel runs.
    public enum Kernel: String, Sendable, CaseIterable {
        /// AVX-512 VNNI (`vpdpbusd` on the 4-bit codes).
        case vnni512 = "avx512-vnni"
        /// Plain Swift (`Q4Reference`): any CPU, slow.
        case portable
    }

    /// The kernels this CPU runs, fastest first (`.portable` always last).
    public static var availableKernels: [Kernel] {
        (smm_q4_vnni512_available() != 0 ? [.vnni512] : []) + [.portable]
    }

    /// The kernel this process uses: the fastest available, unless `SMM_Q4_KERNEL` names another
    /// available one (`avx512-vnni` or `portable`).
    public static let kernel: Kernel = KernelChoice.pick(availableKernels, variable: "SMM_Q4_KERNEL")

    /// Whether a fast q4 kernel runs here (the manager offers q4 only then).
    public static var isFast: Bool { kernel != .portable }

    // x: (rows, K), out: (rows, N)
    /// out = act(x W^T + b) for x: (rows, K) floats.
    public static func forward(_ x: UnsafePointer<Float>, rows m: Int, weight w: Q4Matrix, bias: UnsafePointer<Float>?,
                               out: UnsafeMutablePointer<Float>, activation: Activations.Kind?,
                               pool: WorkerPool = .shared, kernel: Kernel = Q4Linear.kernel) {
        guard m > 0 else { return }
        let k = w.inFeatures, blocks = w.blocks
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: m * k) { qa in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: m * blocks) { scales in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: m * blocks) { sums in
                    let a = qa.baseAddress!, s = scales.baseAddress!, u = sums.baseAddress!
                    // 1. Quantize the rows.
                    for r in 0..<m {
                        if kernel == .vnni512 {
                            smm_q4_quantize_row(x + r * k, Int32(k), a + r * k, s + r * blocks, u + r * blocks)
                        } else {
                            quantizeRow(x + r * k, count: k, into: a + r * k, scales: s + r * blocks, sums: u + r * blocks)
                        }
                    }
                    let job = Job(a: UnsafePointer(a), scales: UnsafePointer(s), sums: UnsafePointer(u), rows: m, weight: w,
                                  bias: bias, out: out, activation: activation, kernel: kernel)
                    // 2-3. Products, bias, activation; runs of panels from a shared counter.
                    let work = m * w.outFeatures * k
                    if work < 1 << 17 || pool.threadCount == 1 || w.panels == 1 {
                        job.run(panels: 0..<w.panels)
                        return
                    }
                    let run = max(1, min(16, w.panels / (pool.threadCount * 8)))
                    let runs = (w.panels + run - 1) / run
                    let next = Atomic<Int>(0)
                    pool.run { _ in
                        while true {
                            let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                            guard item < runs else { return }
                            job.run(panels: (item * run)..<min(w.panels, (item + 1) * run))
                        }
                    }
                }
            }
        }
    }

    /// Quantizes `k` floats (a multiple of 32) per block of 32: scale d = max|x| / 127 (0 for an
    /// all-zero block), codes q = round(x × 127 / max|x|) (ties away from zero) in −127...127, and
    /// each block's sum of codes. Non-finite inputs give a NaN scale (a NaN output, never a trap).
    /// The definition of `smm_q4_quantize_row`, which the VNNI path runs (the tests hold them to the
    /// same bits).
    @inline(__always)
    public static func quantizeRow(_ x: UnsafePointer<Float>, count k: Int, into q: UnsafeMutablePointer<Int8>,
                                   scales: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Int32>) {
        for b in 0..<(k / 32) {
            let v = x + 32 * b
            var amax: Float = 0
            var finite = true
            for j in 0..<32 {
                amax = max(amax, abs(v[j]))
                finite = finite && v[j].isFinite
            }
            var sum: Int32 = 0
            if amax > 0 && finite {
                let inverse = 127 / amax
                for j in 0..<32 {
                    // Round half away from zero without a call to roundf (which the baseline x86-64
                    // target makes of `rounded()`): truncate, then step by the exact remainder.
                    let y = v[j] * inverse
                    let t = Int32(y)
                    let r = y - Float(t)
                    let c = max(-127, min(127, t &+ (r >= 0.5 ? 1 : 0) &- (r <= -0.5 ? 1 : 0)))
                    q[32 * b + j] = Int8(truncatingIfNeeded: c)
                    sum &+= c
                }
                scales[b] = amax / 127
            } else {
                for j in 0..<32 { q[32 * b + j] = 0 }
                scales[b] = finite ? 0 : .nan
            }
            sums[b] = sum
        }
    }

    /// One call's data, shared read-only by the workers.
    struct Job: @unchecked Sendable {
        let a: UnsafePointer<Int8>
        let scales: UnsafePointer<Float>
        let sums: UnsafePointer<Int32>
        let rows: Int
        let weight: Q4Matrix
        let bias: UnsafePointer<Float>?
        let out: UnsafeMutablePointer<Float>
        let activation: Activations.Kind?
        let kernel: Kernel

        /// Output panels `panels` of every row, on the calling thread, then the activation on them.
        func run(panels: Range<Int>) {
            let w = weight, n = w.outFeatures, k = w.inFeatures
            let n0 = panels.lowerBound * 16, n1 = min(n, panels.upperBound * 16)
            guard n1 > n0 else { return }
            switch kernel {
            case .vnni512:
                smm_q4_vnni512_gemm(a, k, scales, sums, w.blocks, Int32(rows),
                                    w.codes + panels.lowerBound * w.panelBytes,
                                    w.scales + panels.lowerBound * w.blocks * 16, Int32(w.blocks),
                                    Int32(panels.count), bias.map { $0 + n0 }, out + n0, n, Int32(n1 - n0))
            case .portable:
                Q4Reference.gemm(a, lda: k, aScale: scales, aSum: sums, lds: w.blocks, rows: rows, weight: w,
                                 outputs: n0..<n1, bias: bias, out: out, ldo: n)
            }
            if let activation {
                for r in 0..<rows { Activations.applySerial(activation, out + r * n + n0, count: n1 - n0) }
            }
        }
    }
}
