import CMicroKernels
import XCTest
@testable import SMMKernels

/// The int8 path against its plain Swift definition (`Int8Reference`): packing, activation
/// quantization, the C VNNI micro-kernels and the portable kernel bit for bit, then the whole
/// `Linear.forward` on int8 weights, and its error against f32.
final class QuantizedLinearTests: XCTestCase {
    /// Shapes with ragged edges: N and K not multiples of 16 and 4, tiny and large.
    let shapes: [(n: Int, k: Int)] = [(1, 1), (3, 5), (16, 4), (17, 7), (31, 33), (64, 64), (100, 77), (129, 130),
                                      (48, 768)]

    private func randomWeights(_ rng: inout SeededRandom, _ count: Int) -> [Float] {
        // Mixed magnitudes, an all-zero stretch and a few outliers, as real checkpoints have.
        var w = rng.floats(count, -0.2...0.2)
        for i in 0..<count where i % 37 == 5 { w[i] *= 10 }
        return w
    }

    private func vnniOrSkip() throws {
        guard smm_i8_vnni512_available() != 0 else { throw XCTSkip("this CPU has no AVX-512 VNNI") }
    }

    private func amxOrSkip() throws {
        guard smm_i8_amx_available() != 0 else {
            let f = CPUFeatures.current
            let missing = !f.flags.contains("amx_tile") ? "AMX-TILE" : !f.flags.contains("amx_int8") ? "AMX-INT8"
                : "the OS's AMX tile permission (arch_prctl ARCH_REQ_XCOMP_PERM)"
            throw XCTSkip("this CPU has no \(missing)")
        }
    }

    // MARK: - Packing and quantization

    func testPackedLayoutHoldsTheReferenceQuantizationInBothLayouts() {
        var rng = SeededRandom(seed: 11)
        for (n, k) in shapes {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                var w = randomWeights(&rng, n * k)
                if n > 2 { for i in 0..<k { w[layout == .outIn ? 2 * k + i : i * n + 2] = 0 } }  // an all-zero channel
                let matrix = w.withUnsafeBufferPointer {
                    QuantizedMatrix(quantizing: $0.baseAddress!, outFeatures: n, inFeatures: k, layout: layout)
                }
                let (values, scales) = Int8Reference.quantizeWeights(w, outFeatures: n, inFeatures: k, layout: layout)
                XCTAssertEqual(matrix.unpacked(), values, "\(n)x\(k) \(layout)")
                for c in 0..<(matrix.panels * 16) {
                    XCTAssertEqual(matrix.scale(c), c < n ? scales[c] : 0)
                    let sum = c < n ? values[(c * k)..<((c + 1) * k)].reduce(Int32(0)) { $0 + Int32($1) } : 0
                    XCTAssertEqual(matrix.columnSums[c], sum)
                    // Padding (columns past N, k past K) is zero.
                    for i in 0..<(matrix.kGroups * 4) where c >= n || i >= k {
                        XCTAssertEqual(matrix.value(row: c, column: i), 0)
                    }
                }
                if n > 2 { XCTAssertEqual(matrix.scale(2), 0) }
                // The packed buffer is 64-byte aligned and one panel is kGroups cache lines.
                XCTAssertEqual(Int(bitPattern: matrix.packed) % 64, 0)
                XCTAssertEqual(matrix.panelBytes, ((k + 3) / 4) * 64)
            }
        }
    }

    func testWeightQuantizationRoundsTiesAwayFromZeroAndClamps() {
        // max |w| = 127 gives scale 1: w is its own int8 value, halves round away from zero.
        let w: [Float] = [127, 2.5, -2.5, 0.49, -0.5, 1.5, -127, .nan]
        let (values, scales) = Int8Reference.quantizeWeights(w, outFeatures: 1, inFeatures: w.count, layout: .outIn)
        XCTAssertEqual(scales, [1])
        XCTAssertEqual(values, [127, 3, -3, 0, -1, 2, -127, 0])
        // The packers' SIMD paths (rows of 16 and more; columns of a (K, N) matrix) round the same way.
        let wide = Array((0..<5).map { i in w.map { $0 == 127 || $0 == -127 ? $0 : $0 + Float(i % 2) * 0.25 } }.joined())
        for (n, k, layout) in [(1, wide.count, LinearWeight.Layout.outIn), (wide.count, 1, .inOut),
                               (2, wide.count / 2, .outIn), (wide.count / 2, 2, .inOut)] {
            let expected = Int8Reference.quantizeWeights(wide, outFeatures: n, inFeatures: k, layout: layout)
            let matrix = wide.withUnsafeBufferPointer {
                QuantizedMatrix(quantizing: $0.baseAddress!, outFeatures: n, inFeatures: k, layout: layout)
            }
            XCTAssertEqual(matrix.unpacked(), expected.values, "\(n)x\(k) \(layout)")
            XCTAssertEqual((0..<n).map(matrix.scale), expected.scales)
        }
    }

    func testPrequantizedValuesPackLikeQuantizingInPlace() {
        var rng = SeededRandom(seed: 12)
        for (n, k) in shapes {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let w = randomWeights(&rng, n * k)
                let (values, scales) = Int8Reference.quantizeWeights(w, outFeatures: n, inFeatures: k, layout: layout)
                // Back to the stored layout.
                var stored = [Int8](repeating: 0, count: n * k)
                for c in 0..<n { for i in 0..<k { stored[layout == .outIn ? c * k + i : i * n + c] = values[c * k + i] } }
                let a = w.withUnsafeBufferPointer {
                    QuantizedMatrix(quantizing: $0.baseAddress!, outFeatures: n, inFeatures: k, layout: layout)
                }
                let b = QuantizedMatrix(values: stored, scales: scales, outFeatures: n, inFeatures: k, layout: layout)
                XCTAssertEqual(memcmp(a.packed, b.packed, a.panels * a.panelBytes), 0)
                XCTAssertEqual(memcmp(a.scales, b.scales, a.panels * 64), 0)
                XCTAssertEqual(memcmp(a.columnSums, b.columnSums, a.panels * 64), 0)
            }
        }
    }

    func testFastActivationQuantizationMatchesReference() {
        var rng = SeededRandom(seed: 13)
        var rows: [[Float]] = [[], [0], [0, 0, 0], [1, 2, 3], [-1, -2, -3], Array(repeating: 0, count: 40),
                               [0.5, -0.25, 3e-8, -7e-9, 1e6, -1e6]]
        for k in [1, 5, 15, 16, 17, 31, 64, 100, 384, 768, 1536, 3072] {
            rows.append(rng.floats(k, -3...3))
            rows.append(rng.floats(k, -0.17...5))          // GELU-like: skewed
            rows.append(rng.floats(k, 0...1))              // all positive: zero point 0
            rows.append(rng.floats(k, -1...0))             // all negative: zero point 255
            // Outlier channels (as BERT's LayerNorm outputs have), few and too many, in the SIMD
            // body and in the scalar tail.
            for spikes in [1, 3, Int8Reference.maxOutliers, Int8Reference.maxOutliers + 1] where spikes < k / 4 {
                var x = rng.floats(k, -1...1)
                for s in 0..<spikes { x[(s * 37 + k - 1) % k] = (s % 2 == 0 ? 30 : -25) + Float(s) }
                rows.append(x)
            }
        }
        var sawOutliers = false
        // Both paths: Swift's loops and, where the CPU has AVX-512, the C loops.
        let paths = QuantizedLinear.hasVectorQuantize ? [false, true] : [false]
        for vector in paths {
        for x in rows {
            let k = x.count
            let expected = Int8Reference.quantizeRow(x)
            let stride = (k + 3) / 4 * 4 + 4
            var bytes = [UInt8](repeating: 0xAA, count: stride)
            var scale: Float = 0, zeroPoint: Float = 0
            var indices = [Int32](repeating: -1, count: Int8Reference.maxOutliers)
            var values = [Float](repeating: .nan, count: Int8Reference.maxOutliers)
            let count = x.withUnsafeBufferPointer { xp in
                QuantizedLinear.quantizeRow(xp.baseAddress ?? UnsafePointer(bitPattern: 64)!, count: k, into: &bytes,
                                            stride: stride, scale: &scale, zeroPoint: &zeroPoint,
                                            outlierIndices: &indices, outlierValues: &values, vector: vector)
            }
            XCTAssertEqual(Array(bytes[0..<k]), expected.values, "\(x.prefix(4)) vector \(vector)")
            XCTAssertEqual(Array(bytes[k...]), Array(repeating: 0, count: stride - k))
            XCTAssertEqual(scale, expected.scale)
            XCTAssertEqual(Int32(zeroPoint), expected.zeroPoint)
            XCTAssertEqual(count, expected.outliers.count)
            XCTAssertEqual(Array(indices.prefix(count)).map(Int.init), expected.outliers.map(\.index))
            XCTAssertEqual(Array(values.prefix(count)), expected.outliers.map(\.value))
            sawOutliers = sawOutliers || count > 0
            // Zero is exact, and every value but the outliers dequantizes within half a step.
            let excluded = Set(expected.outliers.map(\.index))
            for (i, (v, u)) in zip(x, expected.values).enumerated() where !excluded.contains(i) {
                XCTAssertLessThanOrEqual(abs((Float(u) - zeroPoint) * scale - v), scale * 0.5001 + abs(v) * 1e-6)
            }
            for i in excluded { XCTAssertEqual(Float(expected.values[i]), zeroPoint) }
        }
        }
        XCTAssertTrue(sawOutliers)
    }

    func testOutliersAreSetApartOnlyWhenFew() {
        var x = [Float](repeating: 0.1, count: 1024)
        x[3] = -40
        x[1000] = 35
        var q = Int8Reference.quantizeRow(x)
        XCTAssertEqual(q.outliers.map(\.index), [3, 1000])
        XCTAssertEqual(q.outliers.map(\.value), [-40, 35])
        XCTAssertEqual(q.scale, 0.1 / 255)    // the range is 0 ... 0.1 without them
        XCTAssertEqual(q.values[3], UInt8(q.zeroPoint))
        // Up to maxOutliers are set apart; one more and the row keeps its full range.
        for i in 0..<(Int8Reference.maxOutliers - 2) { x[10 + i] = 20 }
        q = Int8Reference.quantizeRow(x)
        XCTAssertEqual(q.outliers.count, Int8Reference.maxOutliers)
        x[500] = 20
        q = Int8Reference.quantizeRow(x)
        XCTAssertEqual(q.outliers.count, 0, "too many: none set apart")
        XCTAssertEqual(q.scale, 75 / 255)
    }

    // MARK: - Integer kernels, bit-exact

    /// Random bytes and int8 weights, including the extremes (255 x ±127, and -128 from a file).
    private func integerCase(_ rng: inout SeededRandom, m: Int, n: Int, k: Int)
        -> (a: [UInt8], lda: Int, w: [Int8], matrix: QuantizedMatrix) {
        let lda = (k + 3) / 4 * 4
        var a = [UInt8](repeating: 0, count: m * lda)
        for i in 0..<m { for p in 0..<k { a[i * lda + p] = i == 0 ? 255 : UInt8(truncatingIfNeeded: rng.next()) } }
        var w = [Int8](repeating: 0, count: n * k)
        for j in 0..<n { for p in 0..<k { w[j * k + p] = j == 0 ? 127 : (j == 1 ? -128 : Int8(truncatingIfNeeded: rng.next())) } }
        let scales = [Float](repeating: 1, count: n)
        let matrix = QuantizedMatrix(values: w, scales: scales, outFeatures: n, inFeatures: k, layout: .outIn)
        return (a, lda, w, matrix)
    }

    private func dense(_ a: [UInt8], lda: Int, m: Int, k: Int) -> [UInt8] {
        (0..<m).flatMap { i in a[(i * lda)..<(i * lda + k)] }
    }

    func testVNNITileKernelEqualsReferenceBitExact() throws {
        try vnniOrSkip()
        var rng = SeededRandom(seed: 14)
        for k in [1, 3, 4, 5, 64, 67, 768] {
            for rows in 1...Int(SMM_I8_TILE_MAX_ROWS) {
                let n = 16 * Int(SMM_I8_TILE_MAX_PANELS) - 3
                let c = integerCase(&rng, m: rows, n: n, k: k)
                let expected = Int8Reference.gemm(dense(c.a, lda: c.lda, m: rows, k: k), c.w, m: rows, n: n, k: k)
                for panels in 1...Int(SMM_I8_TILE_MAX_PANELS) {
                    let ldc = 80
                    var out = [Int32](repeating: -1, count: rows * ldc)
                    smm_i8_vnni512_tile(c.a, c.lda, Int32(rows), c.matrix.packed, c.matrix.panelBytes, Int32(panels),
                                        Int32(c.matrix.kGroups), &out, ldc)
                    for i in 0..<rows {
                        for j in 0..<min(n, panels * 16) {
                            XCTAssertEqual(out[i * ldc + j], expected[i * n + j], "k \(k) tile \(rows)x\(panels) (\(i), \(j))")
                        }
                        if panels * 16 < ldc { XCTAssertEqual(out[i * ldc + panels * 16], -1, "wrote past the tile") }
                    }
                }
            }
        }
    }

    func testVNNIGemvKernelEqualsReferenceBitExact() throws {
        try vnniOrSkip()
        var rng = SeededRandom(seed: 15)
        for (n, k) in shapes + [(200, 3), (77, 1027)] {
            let c = integerCase(&rng, m: 1, n: n, k: k)
            let expected = Int8Reference.gemm(dense(c.a, lda: c.lda, m: 1, k: k), c.w, m: 1, n: n, k: k)
            var out = [Int32](repeating: -1, count: c.matrix.panels * 16 + 1)
            smm_i8_vnni512_gemv(c.a, c.matrix.packed, c.matrix.panelBytes, Int32(c.matrix.panels),
                                Int32(c.matrix.kGroups), &out)
            XCTAssertEqual(Array(out[0..<n]), expected, "\(n)x\(k)")
            XCTAssertEqual(out[c.matrix.panels * 16], -1, "wrote past the end")
        }
    }

    func testAMXKernelEqualsReferenceBitExact() throws {
        try amxOrSkip()
        var rng = SeededRandom(seed: 19)
        // Rows across the 16- and 32-row tile edges, odd panel counts, K of 1 to 48 tiles.
        let cases: [(m: Int, n: Int, k: Int)] = [(1, 1, 64), (2, 7, 64), (7, 33, 128), (15, 16, 64), (16, 17, 192),
                                                 (17, 48, 64), (31, 127, 128), (32, 32, 768), (33, 768, 64),
                                                 (127, 100, 256), (45, 3072, 64), (20, 40, 3072)]
        for (m, n, k) in cases {
            let c = integerCase(&rng, m: m, n: n, k: k)
            let expected = Int8Reference.gemm(dense(c.a, lda: c.lda, m: m, k: k), c.w, m: m, n: n, k: k)
            let ldc = c.matrix.panels * 16 + 5
            var out = [Int32](repeating: -1, count: m * ldc)
            smm_i8_amx_gemm(c.a, c.lda, Int32(m), c.matrix.packed, c.matrix.panelBytes, Int32(c.matrix.panels),
                            Int32(c.matrix.kGroups), &out, ldc)
            for i in 0..<m {
                XCTAssertEqual(Array(out[(i * ldc)..<(i * ldc + n)]), Array(expected[(i * n)..<((i + 1) * n)]),
                               "\(m)x\(n)x\(k) row \(i)")
                XCTAssertEqual(out[i * ldc + c.matrix.panels * 16], -1, "wrote past the row")
            }
        }
    }

    func testAMXKernelRefusesShapesItCannotTile() throws {
        try amxOrSkip()
        var rng = SeededRandom(seed: 20)
        // K = 100 is not a whole number of 64-byte tiles: the call must leave c alone (Swift sends
        // such shapes to the VNNI kernels, and the linear-layer test checks that they stay exact).
        let c = integerCase(&rng, m: 4, n: 16, k: 100)
        var out = [Int32](repeating: -1, count: 4 * 16)
        smm_i8_amx_gemm(c.a, c.lda, 4, c.matrix.packed, c.matrix.panelBytes, 1, Int32(c.matrix.kGroups), &out, 16)
        XCTAssertEqual(out, [Int32](repeating: -1, count: 64))
        XCTAssertFalse(QuantizedLinear.amxTakes(c.matrix))
        XCTAssertTrue(QuantizedLinear.amxTakes(integerCase(&rng, m: 1, n: 3, k: 768).matrix))
    }

    func testPortableKernelEqualsReferenceBitExact() {
        var rng = SeededRandom(seed: 16)
        for (n, k) in [(17, 7), (50, 33), (64, 130)] {
            for rows in [1, 4, 6] {
                let c = integerCase(&rng, m: rows, n: n, k: k)
                let expected = Int8Reference.gemm(dense(c.a, lda: c.lda, m: rows, k: k), c.w, m: rows, n: n, k: k)
                let ldc = c.matrix.panels * 16
                var out = [Int32](repeating: -1, count: rows * ldc)
                Int8Portable.tile(a: c.a, lda: c.lda, rows: rows, b: c.matrix.packed, panelBytes: c.matrix.panelBytes,
                                  panels: c.matrix.panels, kGroups: c.matrix.kGroups, c: &out, ldc: ldc)
                for i in 0..<rows { XCTAssertEqual(Array(out[(i * ldc)..<(i * ldc + n)]), Array(expected[(i * n)..<((i + 1) * n)])) }
            }
        }
    }

    // MARK: - The int8 linear layer

    private func int8Linear(_ x: [Float], rows: Int, w: [Float], bias: [Float]?, n: Int, k: Int,
                            layout: LinearWeight.Layout, activation: Activations.Kind?, pool: WorkerPool,
                            kernel: QuantizedLinear.Kernel) -> [Float] {
        var out = [Float](repeating: .nan, count: rows * n)
        w.withUnsafeBufferPointer { wp in
            let f32 = LinearWeight(weight: wp.baseAddress!, bias: nil, outFeatures: n, inFeatures: k, layout: layout,
                                   owner: nil)
            let q = f32.quantizedInt8(pool: pool)
            guard let matrix = q.quantized else { return XCTFail("not quantized") }
            if let bias {
                bias.withUnsafeBufferPointer { bp in
                    QuantizedLinear.forward(x, rows: rows, weight: matrix, bias: bp.baseAddress, out: &out,
                                            activation: activation, pool: pool, kernel: kernel)
                }
            } else {
                QuantizedLinear.forward(x, rows: rows, weight: matrix, bias: nil, out: &out, activation: activation,
                                        pool: pool, kernel: kernel)
            }
        }
        return out
    }

    func testInt8LinearEqualsReferenceBitExactForEveryKernelShapeAndLayout() {
        var rng = SeededRandom(seed: 17)
        let pools = [WorkerPool(threadCount: 1), WorkerPool(threadCount: 3)]
        let kernels = QuantizedLinear.availableKernels
        let cases: [(m: Int, n: Int, k: Int)] = [(1, 17, 7), (1, 100, 77), (1, 700, 64), (2, 31, 33), (5, 64, 64),
                                                 (7, 129, 130), (13, 48, 100), (40, 70, 200),
                                                 (64, 96, 768), (200, 20, 4000), (33, 127, 128), (130, 65, 3072),
                                                 (700, 40, 768)]
        var rowsWithOutliers = 0
        for (m, n, k) in cases {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let w = randomWeights(&rng, n * k)
                var x = rng.floats(m * k, -2...2)
                // Outlier channels in some rows, in the SIMD body and the tail of the row.
                for r in stride(from: 0, to: m, by: 2) where k >= 8 { x[r * k + 3] = 60; x[r * k + k - 1] = -55 }
                rowsWithOutliers += (0..<m).filter { !Int8Reference.quantizeRow(Array(x[($0 * k)..<(($0 + 1) * k)])).outliers.isEmpty }.count
                let bias = rng.floats(n)
                for activation in [nil, Activations.Kind.gelu] {
                    let useBias = activation != nil
                    let expected = Int8Reference.linear(x, rows: m, weights: w, outFeatures: n, inFeatures: k,
                                                        layout: layout, bias: useBias ? bias : nil, activation: activation)
                    for pool in pools {
                        for kernel in kernels {
                            let got = int8Linear(x, rows: m, w: w, bias: useBias ? bias : nil, n: n, k: k, layout: layout,
                                                 activation: activation, pool: pool, kernel: kernel)
                            XCTAssertEqual(got, expected, "\(m)x\(n)x\(k) \(layout) \(kernel) \(pool.threadCount) threads")
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(rowsWithOutliers, 50, "the outlier path was not exercised")
    }

    func testLinearForwardDispatchesInt8WeightsAndStaysCloseToF32() {
        var rng = SeededRandom(seed: 18)
        for (m, n, k) in [(1, 300, 256), (9, 96, 384), (64, 130, 70)] {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let w = rng.floats(n * k, -0.1...0.1), x = rng.floats(m * k, -1...1), bias = rng.floats(n)
                var f32 = [Float](repeating: 0, count: m * n), int8 = f32
                w.withUnsafeBufferPointer { wp in
                    bias.withUnsafeBufferPointer { bp in
                        let weight = LinearWeight(weight: wp.baseAddress!, bias: bp.baseAddress!, outFeatures: n,
                                                  inFeatures: k, layout: layout, owner: nil)
                        let quantized = weight.quantizedInt8()
                        XCTAssertNil(weight.quantized)
                        XCTAssertNotNil(quantized.quantized)
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: quantized.bias, count: n)), bias)
                        XCTAssertEqual(quantized.outFeatures, n)
                        XCTAssertEqual(quantized.inFeatures, k)
                        XCTAssertTrue(quantized.quantizedInt8().quantized === quantized.quantized, "int8 stays as it is")
                        Linear.forward(x, rows: m, weight: weight, out: &f32)
                        Linear.forward(x, rows: m, weight: quantized, out: &int8)
                    }
                }
                // Error of the products (not the bias) relative to their size: two 8-bit roundings.
                var err = 0.0, norm = 0.0
                for i in 0..<(m * n) {
                    let d = Double(int8[i] - f32[i]), y = Double(f32[i] - bias[i % n])
                    err += d * d
                    norm += y * y
                }
                let relative = (err / norm).squareRoot()
                XCTAssertLessThan(relative, 0.02, "\(m)x\(n)x\(k) \(layout)")
                XCTAssertGreaterThan(relative, 0, "int8 should not be bit-identical to f32")
            }
        }
    }

    func testKernelChoiceFollowsTheCPU() {
        if ProcessInfo.processInfo.environment["SMM_INT8_KERNEL"] == "portable" {
            XCTAssertEqual(QuantizedLinear.kernel, .portable)
        } else {
            let expected: QuantizedLinear.Kernel = smm_i8_amx_available() != 0 ? .amx
                : smm_i8_vnni512_available() != 0 ? .avx512VNNI : .portable
            if ProcessInfo.processInfo.environment["SMM_INT8_KERNEL"] == nil {
                XCTAssertEqual(QuantizedLinear.kernel, expected)
            }
            XCTAssertEqual(QuantizedLinear.availableKernels.first, expected)
            XCTAssertEqual(QuantizedLinear.availableKernels.last, .portable)
            #if arch(x86_64) && os(Linux)
            let f = CPUFeatures.current
            if smm_i8_amx_available() != 0 { XCTAssertTrue(f.hasAMX, "AMX kernel without amx_tile/amx_int8 flags") }
            XCTAssertEqual(smm_i8_vnni512_available() != 0,
                           f.hasAVX512 && f.flags.contains("avx512_vnni"), "cpuid and /proc/cpuinfo disagree")
            #endif
        }
    }
}
