// The int8 linear layer: y = act(x W^T + b) with W int8 per output channel (`QuantizedMatrix`)
// and x quantized per row on the fly (asymmetric uint8, see `Int8Reference` for the exact
// arithmetic every path follows).
//
//   1. quantize the rows of x to bytes (SIMD Swift; rows spread over the pool when there are many);
//   2. int32 dot products on the packed weights: AMX tiles from CMicroKernels for several rows
//      when the CPU has AMX and K is a multiple of 64, the AVX-512 VNNI micro-kernels for one row
//      and other shapes, else the portable Swift kernel below (the same integers on every path);
//   3. output stage per tile while it is in registers / L1: remove the zero point (zp * columnSum),
//      add the outliers' part, scale, bias; then the activation.
// Output columns are split over the worker pool in panels of 16, like the f32 path. One row
// (decode) runs a GEMV kernel that streams the weights once; more rows run 6 x 64 register tiles
// over column blocks that stay in cache while all row tiles pass over them.
//
// The output stage (step 3 without the activation) runs inside the C micro-kernel, on the
// accumulators while they are in registers: Swift code compiles for baseline x86-64 (SSE2, no
// per-function target attributes and no unsafeFlags), where it measured 0.5-0.7 ns per output
// (19% of a 128x768x3072 layer) against almost nothing in AVX-512, and the outlier columns need
// byte shuffles of the packed weights. Its arithmetic is defined by `Int8Reference.output` and the
// tests hold the C stage to it bit for bit; the portable path runs the same stage in Swift.
import CMicroKernels

/// The int8 matrix-multiply kernels behind `Linear.forward` for int8 weights.
public enum QuantizedLinear {
    /// Which integer kernel runs.
    public enum Kernel: String, Sendable {
        /// AMX tiles (`tdpbusd`) for several rows at once where K is a multiple of 64, the VNNI
        /// kernels for one row (decode) and other shapes; in C.
        case amx = "amx-int8"
        /// AVX-512 VNNI (`vpdpbusd`) micro-kernels in C.
        case avx512VNNI = "avx512-vnni"
        /// The portable Swift kernel (any CPU; much slower than f32 BLAS, correct everywhere).
        case portable
    }

    /// The kernels this CPU and OS can run, fastest first (`.portable` always last).
    public static var availableKernels: [Kernel] {
        var kernels: [Kernel] = []
        if smm_i8_amx_available() != 0 { kernels.append(.amx) }
        if smm_i8_vnni512_available() != 0 { kernels.append(.avx512VNNI) }
        return kernels + [.portable]
    }

    /// The kernel this process uses: the fastest of `availableKernels`, unless `SMM_INT8_KERNEL`
    /// names another available one (`amx-int8`, `avx512-vnni` or `portable`; a kernel the CPU
    /// lacks is ignored, so the answer is always one that runs here).
    public static let kernel: Kernel = KernelChoice.pick(availableKernels, variable: "SMM_INT8_KERNEL")

    /// Whether int8 layers run on a fast kernel here. When false they still give the same results,
    /// from the portable Swift kernel, but slower than f32 BLAS: quantize for memory, not speed.
    public static var isAccelerated: Bool { kernel != .portable }

    /// Whether the AMX kernel takes this matrix: K a whole number of 64-byte tiles.
    static func amxTakes(_ q: QuantizedMatrix) -> Bool { q.kGroups % 16 == 0 && q.kGroups * 4 <= 65_535 }

    /// Rows of one register tile (the C kernel's maximum).
    static let tileRows = Int(SMM_I8_TILE_MAX_ROWS)
    /// Panels (16 columns each) of one register tile.
    static let tilePanels = Int(SMM_I8_TILE_MAX_PANELS)

    /// out = act(x W^T + b) for x: (rows, K) floats, W: `weight` (N x K int8), out: (rows, N).
    public static func forward(_ x: UnsafePointer<Float>, rows m: Int, weight q: QuantizedMatrix,
                               bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>,
                               activation: Activations.Kind?, pool: WorkerPool = .shared,
                               kernel: Kernel = QuantizedLinear.kernel) {
        if m <= 0 { return }
        let k = q.inFeatures, lda = q.kGroups * 4, cap = Int8Reference.maxOutliers
        let ops = m * q.outFeatures * k
        let workers = ops < 1 << 18 ? 1 : min(pool.threadCount, q.panels)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: m * lda) { aBuffer in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: m * (2 + cap)) { floats in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: m * (1 + cap)) { ints in
                    let rows = QuantizedRows(a: aBuffer.baseAddress!, lda: lda, floats: floats.baseAddress!,
                                             ints: ints.baseAddress!, count: m)
                    // 1. Quantize the rows.
                    if m * k >= 1 << 15 && workers > 1 {
                        pool.parallelFor(m, minimumPerWorker: max(1, 8192 / k)) { range, _ in
                            for r in range { rows.quantize(row: r, from: x + r * k, count: k) }
                        }
                    } else {
                        for r in 0..<m { rows.quantize(row: r, from: x + r * k, count: k) }
                    }
                    let job = Job(rows: rows, weight: q, bias: bias, out: out, activation: activation, kernel: kernel, m: m)
                    // 2-3. Products and epilogue, output panels split over the workers.
                    if workers == 1 {
                        job.run(panels: 0..<q.panels)
                        return
                    }
                    pool.run { worker in
                        guard worker < workers else { return }
                        let range = WorkerPool.chunk(q.panels, parts: workers, index: worker)
                        if !range.isEmpty { job.run(panels: range) }
                    }
                }
            }
        }
    }

    // MARK: - Activation quantization

    /// Quantizes `count` floats at `x` into bytes at `a` (then zeros up to `stride`), with the row's
    /// scale and zero point, and its outliers (indices and values, at most `Int8Reference.maxOutliers`;
    /// their number is returned), exactly as `Int8Reference.quantizeRow`.
    ///
    /// Written for what the Swift compiler vectorizes well at the baseline x86-64 target (SSE2):
    /// four SIMD4 accumulators (the reference's 16 lanes) and plain loops for the rest; SIMD16 code
    /// measured 1.5-2x slower here.
    /// `vector` (the default where the CPU has AVX-512) runs the three loops in C
    /// (`smm_i8_row_stats`, `smm_i8_row_outliers`, `smm_i8_row_bytes`: the same operations in the
    /// same order, 16 lanes at a time).
    @inline(__always)
    static func quantizeRow(_ x: UnsafePointer<Float>, count k: Int, into a: UnsafeMutablePointer<UInt8>, stride: Int,
                            scale: UnsafeMutablePointer<Float>, zeroPoint: UnsafeMutablePointer<Float>,
                            outlierIndices: UnsafeMutablePointer<Int32>, outlierValues: UnsafeMutablePointer<Float>,
                            vector: Bool = QuantizedLinear.hasVectorQuantize) -> Int {
        if vector {
            return quantizeRowVector(x, count: k, into: a, stride: stride, scale: scale, zeroPoint: zeroPoint,
                                     outlierIndices: outlierIndices, outlierValues: outlierValues)
        }
        let raw = UnsafeRawPointer(x)
        let body = k - k % 16
        // Pass 1: range and sum of squares (lane j of sN is the reference's lane 4N + j).
        var lo0 = SIMD4<Float>(repeating: 0), hi0 = lo0, s0 = lo0, lo1 = lo0, hi1 = lo0, s1 = lo0
        var lo2 = lo0, hi2 = lo0, s2 = lo0, lo3 = lo0, hi3 = lo0, s3 = lo0
        var i = 0
        while i < body {
            let v0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self)
            let v1 = raw.loadUnaligned(fromByteOffset: i * 4 + 16, as: SIMD4<Float>.self)
            let v2 = raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD4<Float>.self)
            let v3 = raw.loadUnaligned(fromByteOffset: i * 4 + 48, as: SIMD4<Float>.self)
            lo0 = lo0.replacing(with: v0, where: v0 .< lo0); hi0 = hi0.replacing(with: v0, where: v0 .> hi0); s0 += v0 * v0
            lo1 = lo1.replacing(with: v1, where: v1 .< lo1); hi1 = hi1.replacing(with: v1, where: v1 .> hi1); s1 += v1 * v1
            lo2 = lo2.replacing(with: v2, where: v2 .< lo2); hi2 = hi2.replacing(with: v2, where: v2 .> hi2); s2 += v2 * v2
            lo3 = lo3.replacing(with: v3, where: v3 .< lo3); hi3 = hi3.replacing(with: v3, where: v3 .> hi3); s3 += v3 * v3
            i += 16
        }
        lo0 = lo0.replacing(with: lo1, where: lo1 .< lo0); lo2 = lo2.replacing(with: lo3, where: lo3 .< lo2)
        hi0 = hi0.replacing(with: hi1, where: hi1 .> hi0); hi2 = hi2.replacing(with: hi3, where: hi3 .> hi2)
        lo0 = lo0.replacing(with: lo2, where: lo2 .< lo0); hi0 = hi0.replacing(with: hi2, where: hi2 .> hi0)
        var lo = Self.lowest(lo0), hi = Self.highest(hi0)
        var tail: Float = 0
        while i < k {
            let v = x[i]
            if v < lo { lo = v }
            if v > hi { hi = v }
            tail += v * v
            i += 1
        }
        var sum = s0[0]
        for j in 1..<4 { sum += s0[j] }
        for j in 0..<4 { sum += s1[j] }
        for j in 0..<4 { sum += s2[j] }
        for j in 0..<4 { sum += s3[j] }
        sum += tail
        let threshold = k == 0 ? 0 : Int8Reference.outlierRatio * (sum / Float(k)).squareRoot()
        // Pass 2 (LayerNorm outputs of BERT-family models: most rows): outliers, in index order,
        // and the range without them.
        var outliers = 0
        if hi > threshold || -lo > threshold {
            let t = SIMD4<Float>(repeating: threshold), cap = Int8Reference.maxOutliers
            var lo0 = SIMD4<Float>(repeating: 0), hi0 = lo0, lo1 = lo0, hi1 = lo0
            i = 0
            while i < body {
                var v0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self)
                var v1 = raw.loadUnaligned(fromByteOffset: i * 4 + 16, as: SIMD4<Float>.self)
                var v2 = raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD4<Float>.self)
                var v3 = raw.loadUnaligned(fromByteOffset: i * 4 + 48, as: SIMD4<Float>.self)
                let b0 = (v0 .> t) .| (v0 .< -t), b1 = (v1 .> t) .| (v1 .< -t)
                let b2 = (v2 .> t) .| (v2 .< -t), b3 = (v3 .> t) .| (v3 .< -t)
                if any(b0 .| b1 .| b2 .| b3) {
                    for j in i..<(i + 16) where abs(x[j]) > threshold {
                        if outliers < cap {
                            outlierIndices[outliers] = Int32(j)
                            outlierValues[outliers] = x[j]
                        }
                        outliers += 1
                    }
                    v0 = v0.replacing(with: 0, where: b0)
                    v1 = v1.replacing(with: 0, where: b1)
                    v2 = v2.replacing(with: 0, where: b2)
                    v3 = v3.replacing(with: 0, where: b3)
                }
                lo0 = lo0.replacing(with: v0, where: v0 .< lo0); hi0 = hi0.replacing(with: v0, where: v0 .> hi0)
                lo1 = lo1.replacing(with: v1, where: v1 .< lo1); hi1 = hi1.replacing(with: v1, where: v1 .> hi1)
                lo0 = lo0.replacing(with: v2, where: v2 .< lo0); hi0 = hi0.replacing(with: v2, where: v2 .> hi0)
                lo1 = lo1.replacing(with: v3, where: v3 .< lo1); hi1 = hi1.replacing(with: v3, where: v3 .> hi1)
                i += 16
            }
            lo0 = lo0.replacing(with: lo1, where: lo1 .< lo0); hi0 = hi0.replacing(with: hi1, where: hi1 .> hi0)
            var lo2 = Self.lowest(lo0), hi2 = Self.highest(hi0)
            while i < k {
                var v = x[i]
                if abs(v) > threshold {
                    if outliers < cap {
                        outlierIndices[outliers] = Int32(i)
                        outlierValues[outliers] = v
                    }
                    outliers += 1
                    v = 0
                }
                if v < lo2 { lo2 = v }
                if v > hi2 { hi2 = v }
                i += 1
            }
            // Too many: none set apart, the row keeps its full range.
            if outliers > cap {
                outliers = 0
            } else {
                lo = lo2
                hi = hi2
            }
        }
        let p = Int8Reference.rowParameters(lo: lo, hi: hi)
        scale.pointee = p.scale
        zeroPoint.pointee = p.zeroPoint
        // u = roundEven(clamp(x * inv + zp, 0, 255)); adding 1.5 * 2^23 rounds a value in 0 ... 255
        // half-to-even into the low mantissa byte (the FPU's default rounding), without a trapping
        // float-to-int conversion.
        let magic: Float = 12_582_912, inverse = p.inverse, zp = p.zeroPoint
        for j in 0..<k {
            let v = Int8Reference.clamp255(x[j] * inverse + zp)
            a[j] = UInt8(truncatingIfNeeded: (v + magic).bitPattern)
        }
        for o in 0..<outliers { a[Int(outlierIndices[o])] = UInt8(zp) }
        if stride > k { (a + k).update(repeating: 0, count: stride - k) }
        return outliers
    }

    /// Whether the AVX-512 quantization loops run here.
    static let hasVectorQuantize = smm_i8_quantize_available() != 0

    /// `quantizeRow` with its loops in C (AVX-512); the steps between them as in Swift's path.
    @inline(__always)
    static func quantizeRowVector(_ x: UnsafePointer<Float>, count k: Int, into a: UnsafeMutablePointer<UInt8>,
                                  stride: Int, scale: UnsafeMutablePointer<Float>, zeroPoint: UnsafeMutablePointer<Float>,
                                  outlierIndices: UnsafeMutablePointer<Int32>,
                                  outlierValues: UnsafeMutablePointer<Float>) -> Int {
        var lo: Float = 0, hi: Float = 0, sum: Float = 0
        smm_i8_row_stats(x, Int32(k), &lo, &hi, &sum)
        let threshold = k == 0 ? 0 : Int8Reference.outlierRatio * (sum / Float(k)).squareRoot()
        var outliers = 0
        if hi > threshold || -lo > threshold {
            var lo2: Float = 0, hi2: Float = 0
            let cap = Int8Reference.maxOutliers
            outliers = Int(smm_i8_row_outliers(x, Int32(k), threshold, Int32(cap), outlierIndices, outlierValues,
                                               &lo2, &hi2))
            if outliers > cap {
                outliers = 0
            } else {
                lo = lo2
                hi = hi2
            }
        }
        let p = Int8Reference.rowParameters(lo: lo, hi: hi)
        scale.pointee = p.scale
        zeroPoint.pointee = p.zeroPoint
        smm_i8_row_bytes(x, Int32(k), p.inverse, p.zeroPoint, a)
        for o in 0..<outliers { a[Int(outlierIndices[o])] = UInt8(p.zeroPoint) }
        if stride > k { (a + k).update(repeating: 0, count: stride - k) }
        return outliers
    }

    /// The smallest lane (the generic `SIMD.min()` is not inlined at this target).
    @inline(__always)
    static func lowest(_ v: SIMD4<Float>) -> Float { Swift.min(Swift.min(v[0], v[1]), Swift.min(v[2], v[3])) }

    /// The largest lane.
    @inline(__always)
    static func highest(_ v: SIMD4<Float>) -> Float { Swift.max(Swift.max(v[0], v[1]), Swift.max(v[2], v[3])) }

    /// The quantized rows of one call: bytes (row r at a + r * lda) and, per row, scale, zero point
    /// and outliers.
    struct QuantizedRows {
        let a: UnsafeMutablePointer<UInt8>
        let lda: Int
        let scales: UnsafeMutablePointer<Float>           // [count]
        let zeroPoints: UnsafeMutablePointer<Float>       // [count]
        let outlierCounts: UnsafeMutablePointer<Int32>    // [count]
        let outlierIndices: UnsafeMutablePointer<Int32>   // [count][maxOutliers]
        let outlierValues: UnsafeMutablePointer<Float>    // [count][maxOutliers]

        /// Carves the per-row arrays out of `floats` (count * (2 + cap)) and `ints` (count * (1 + cap)).
        init(a: UnsafeMutablePointer<UInt8>, lda: Int, floats: UnsafeMutablePointer<Float>,
             ints: UnsafeMutablePointer<Int32>, count: Int) {
            self.a = a
            self.lda = lda
            scales = floats
            zeroPoints = floats + count
            outlierValues = floats + 2 * count
            outlierCounts = ints
            outlierIndices = ints + count
        }

        @inline(__always)
        func quantize(row r: Int, from x: UnsafePointer<Float>, count k: Int) {
            let cap = Int8Reference.maxOutliers
            let n = QuantizedLinear.quantizeRow(x, count: k, into: a + r * lda, stride: lda, scale: scales + r,
                                                zeroPoint: zeroPoints + r, outlierIndices: outlierIndices + r * cap,
                                                outlierValues: outlierValues + r * cap)
            outlierCounts[r] = Int32(n)
        }
    }

    // MARK: - Products and output stage

    /// One call's data, shared read-only by the workers.
    struct Job {
        let rows: QuantizedRows
        let weight: QuantizedMatrix
        let bias: UnsafePointer<Float>?
        let out: UnsafeMutablePointer<Float>
        let activation: Activations.Kind?
        let kernel: Kernel
        /// Number of rows (M).
        let m: Int
        var a: UnsafePointer<UInt8> { UnsafePointer(rows.a) }
        var lda: Int { rows.lda }

        /// Computes output panels `panels` of every row on the calling thread.
        func run(panels: Range<Int>) {
            if m == 1 {
                gemv(panels: panels)
            } else if kernel == .amx && QuantizedLinear.amxTakes(weight) {
                amxGemm(panels: panels)
            } else {
                gemm(panels: panels)
            }
        }

        /// Several rows on AMX tiles: for each block of rows that fits in L2, for each block of
        /// up to 4 panels, one kernel call over all the block's rows (32 x 32 tiles inside, output
        /// stage included), then the activation on that slice while it is in cache.
        func amxGemm(panels: Range<Int>) {
            let q = weight, n = q.outFeatures, chunk = QuantizedLinear.tilePanels
            let rowBlock = max(32, min(m, (512 * 1024 / lda) / 32 * 32))
            var r0 = 0
            while r0 < m {
                let r1 = min(m, r0 + rowBlock)
                var p0 = panels.lowerBound
                while p0 < panels.upperBound {
                    let count = min(chunk, panels.upperBound - p0)
                    var o = outputStage(rows: r0..<r1, firstPanel: p0, panels: count)
                    smm_i8_amx_gemm_output(a + r0 * lda, lda, Int32(r1 - r0), q.packed + p0 * q.panelBytes,
                                           q.panelBytes, Int32(count), Int32(q.kGroups), &o)
                    if let activation {
                        let n0 = p0 * 16, width = min(n, (p0 + count) * 16) - n0
                        for i in r0..<r1 { Activations.applySerial(activation, out + i * n + n0, count: width) }
                    }
                    p0 += count
                }
                r0 = r1
            }
        }

        /// The C output stage for rows `rows`, from panel `firstPanel` on, `panels` panels.
        @inline(__always)
        func outputStage(rows r: Range<Int>, firstPanel: Int, panels: Int) -> smm_i8_output {
            let q = weight, n0 = firstPanel * 16
            return smm_i8_output(rowScale: rows.scales + r.lowerBound, rowZeroPoint: rows.zeroPoints + r.lowerBound,
                                 outlierCount: rows.outlierCounts + r.lowerBound,
                                 outlierIndex: rows.outlierIndices + r.lowerBound * Int8Reference.maxOutliers,
                                 outlierValue: rows.outlierValues + r.lowerBound * Int8Reference.maxOutliers,
                                 outlierStride: Int32(Int8Reference.maxOutliers),
                                 columnSum: q.columnSumsFloat + n0, columnScale: q.scales + n0,
                                 bias: bias.map { $0 + n0 },
                                 columns: Int32(min(q.outFeatures, (firstPanel + panels) * 16) - n0),
                                 out: out + r.lowerBound * q.outFeatures + n0, ldo: q.outFeatures)
        }

        /// One row: the weights of `panels` streamed once (GEMV kernel), then the activation.
        func gemv(panels: Range<Int>) {
            let q = weight, n0 = panels.lowerBound * 16, n1 = min(q.outFeatures, panels.upperBound * 16)
            let b = q.packed + panels.lowerBound * q.panelBytes
            switch kernel {
            case .avx512VNNI, .amx:
                var o = outputStage(rows: 0..<1, firstPanel: panels.lowerBound, panels: panels.count)
                smm_i8_vnni512_gemv_output(a, b, q.panelBytes, Int32(panels.count), Int32(q.kGroups), &o)
            case .portable:
                let chunk = 32
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: chunk * 16) { buffer in
                    var p0 = panels.lowerBound
                    while p0 < panels.upperBound {
                        let count = min(chunk, panels.upperBound - p0)
                        Int8Portable.tile(a: a, lda: lda, rows: 1, b: q.packed + p0 * q.panelBytes,
                                          panelBytes: q.panelBytes, panels: count, kGroups: q.kGroups,
                                          c: buffer.baseAddress!, ldc: count * 16)
                        Int8Portable.output(buffer.baseAddress!, ldc: count * 16, job: self, rows: 0..<1,
                                            firstPanel: p0, panels: count)
                        p0 += count
                    }
                }
            }
            if let activation { Activations.applySerial(activation, out + n0, count: n1 - n0) }
        }

        /// Several rows: for each block of rows that fits in L2, for each block of up to 4 panels,
        /// every 6-row tile of the block (the panels' weights stay in cache while the rows pass),
        /// each tile finished (output stage, activation) while it is in L1. A row block holds about
        /// 256 KB of activations, which leaves room in a 1 MB L2 (Zen 4) for 4 panels of K = 3072
        /// (192 KB): with 512 KB, 512 rows x 3072 x 768 ran at 47% of vpdpbusd's peak, with 256 KB
        /// at 84-86% (`smm bench-kernels`); K = 768 keeps all of s512's rows in one block either way.
        func gemm(panels: Range<Int>) {
            let q = weight, tileRows = QuantizedLinear.tileRows, tilePanels = QuantizedLinear.tilePanels
            let n = q.outFeatures
            let rowBlock = max(tileRows, min(m, (256 * 1024 / lda) / tileRows * tileRows))
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: kernel == .portable ? tileRows * tilePanels * 16 : 1) { buffer in
                var r0 = 0
                while r0 < m {
                    let r1 = min(m, r0 + rowBlock)
                    var p0 = panels.lowerBound
                    while p0 < panels.upperBound {
                        let count = min(tilePanels, panels.upperBound - p0)
                        let b = q.packed + p0 * q.panelBytes
                        let n0 = p0 * 16, width = min(n, (p0 + count) * 16) - n0
                        var r = r0
                        while r < r1 {
                            let height = min(tileRows, r1 - r)
                            switch kernel {
                            case .avx512VNNI, .amx:
                                var o = outputStage(rows: r..<(r + height), firstPanel: p0, panels: count)
                                smm_i8_vnni512_tile_output(a + r * lda, lda, Int32(height), b, q.panelBytes,
                                                           Int32(count), Int32(q.kGroups), &o)
                            case .portable:
                                let c = buffer.baseAddress!
                                Int8Portable.tile(a: a + r * lda, lda: lda, rows: height, b: b, panelBytes: q.panelBytes,
                                                  panels: count, kGroups: q.kGroups, c: c, ldc: tilePanels * 16)
                                Int8Portable.output(c, ldc: tilePanels * 16, job: self, rows: r..<(r + height),
                                                    firstPanel: p0, panels: count)
                            }
                            if let activation {
                                for i in r..<(r + height) { Activations.applySerial(activation, out + i * n + n0, count: width) }
                            }
                            r += height
                        }
                        p0 += count
                    }
                    r0 = r1
                }
            }
        }
    }
}

/// The portable int8 kernel: the same tiles as the C micro-kernel, in plain Swift over the packed
/// layout. It serves CPUs without AVX-512 VNNI; it is exact but several times slower than f32 BLAS.
enum Int8Portable {
    /// c[i][16 q + col] = sum_k a[i][k] * w[16 (first panel + q) + col][k] for i < rows, q < panels.
    static func tile(a: UnsafePointer<UInt8>, lda: Int, rows: Int, b: UnsafePointer<Int8>, panelBytes: Int,
                     panels: Int, kGroups: Int, c: UnsafeMutablePointer<Int32>, ldc: Int) {
        for i in 0..<rows {
            let x = a + i * lda
            for p in 0..<panels {
                let w = b + p * panelBytes
                var acc = SIMD16<Int32>(repeating: 0)
                for g in 0..<kGroups {
                    let group = UnsafeRawPointer(w + g * 64)
                    for j in 0..<4 {
                        // Lane col of the group holds w[col][4g + j] at byte col * 4 + j.
                        var column = SIMD16<Int32>()
                        for col in 0..<16 { column[col] = Int32(group.load(fromByteOffset: col * 4 + j, as: Int8.self)) }
                        acc &+= column &* SIMD16<Int32>(repeating: Int32(x[g * 4 + j]))
                    }
                }
                UnsafeMutableRawPointer(c + i * ldc + p * 16).storeBytes(of: acc, toByteOffset: 0, as: SIMD16<Int32>.self)
            }
        }
    }

    /// The output stage in Swift (`Int8Reference.output`) for raw accumulators at c (tile row i =
    /// r - rows.lowerBound at c + i * ldc): rows `rows`, columns of panels firstPanel ..< firstPanel + panels.
    static func output(_ c: UnsafePointer<Int32>, ldc: Int, job: QuantizedLinear.Job, rows: Range<Int>,
                       firstPanel: Int, panels: Int) {
        let q = job.weight, n = q.outFeatures, cap = Int8Reference.maxOutliers
        let n0 = firstPanel * 16, n1 = min(n, (firstPanel + panels) * 16)
        for r in rows {
            let acc = c + (r - rows.lowerBound) * ldc
            let count = Int(job.rows.outlierCounts[r])
            let indices = job.rows.outlierIndices + r * cap, values = job.rows.outlierValues + r * cap
            for j in n0..<n1 {
                var part: Float = 0
                for o in 0..<count { part += values[o] * Float(q.value(row: j, column: Int(indices[o]))) }
                job.out[r * n + j] = Int8Reference.output(accumulator: acc[j - n0], zeroPoint: job.rows.zeroPoints[r],
                                                          columnSum: q.columnSumsFloat[j], xScale: job.rows.scales[r],
                                                          outlierPart: part, wScale: q.scales[j], bias: job.bias?[j])
            }
        }
    }
}
