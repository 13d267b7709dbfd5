import CMicroKernels
import SMMFormat
import XCTest
@testable import SMMKernels

/// The bf16 path against its definition (`BF16Reference`): packing and activation rounding bit
/// for bit, every bf16 kernel the CPU has within the reference's f32 accumulation bound, on odd
/// shapes, then `Linear.forward` on bf16 weights and its error against f32.
final class BF16LinearTests: XCTestCase {
    private func skipMessage(_ kernel: BF16Linear.Kernel) -> String {
        let f = CPUFeatures.current
        switch kernel {
        case .amx:
            if !f.flags.contains("amx_tile") { return "this CPU has no AMX-TILE" }
            if !f.flags.contains("amx_bf16") { return "this CPU has no AMX-BF16" }
            if !f.hasBF16 { return "this CPU has no AVX512_BF16" }
            return "the OS did not grant the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM)"
        case .avx512BF16:
            return f.hasAVX512 ? "this CPU has no AVX512_BF16" : "this CPU has no AVX-512"
        case .portable:
            return ""
        }
    }

    private func requireKernel(_ kernel: BF16Linear.Kernel) throws {
        guard BF16Linear.availableKernels.contains(kernel) else { throw XCTSkip(skipMessage(kernel)) }
    }

    /// Mixed magnitudes, exact bf16 ties and a few large values.
    private func randomWeights(_ rng: inout SeededRandom, _ count: Int) -> [Float] {
        var w = rng.floats(count, -0.2...0.2)
        for i in 0..<count where i % 29 == 3 { w[i] *= 12 }
        for i in 0..<count where i % 31 == 7 { w[i] = Float(bitPattern: 0x3f80_8000) }  // 1 + 2^-8: a tie
        return w
    }

    // MARK: - Packing and rounding

    func testPackedLayoutHoldsTheRoundedWeightsInBothLayoutsWithZeroPadding() {
        var rng = SeededRandom(seed: 41)
        for (n, k) in [(1, 1), (7, 33), (16, 32), (17, 7), (33, 127), (100, 768)] {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let w = randomWeights(&rng, n * k), bias = rng.floats(n)
                let m = w.withUnsafeBufferPointer { wp in
                    bias.withUnsafeBufferPointer { bp in
                        BF16Matrix(rounding: wp.baseAddress!, bias: bp.baseAddress, outFeatures: n, inFeatures: k,
                                   layout: layout)
                    }
                }
                XCTAssertEqual(m.kPairs, (k + 31) / 32 * 16)
                XCTAssertEqual(m.panels, (n + 15) / 16)
                for r in 0..<n {
                    for c in 0..<k {
                        let source = layout == .outIn ? w[r * k + c] : w[c * n + r]
                        XCTAssertEqual(m.value(row: r, column: c), f32ToBF16Bits(source), "\(n)x\(k) \(layout) (\(r), \(c))")
                    }
                }
                // Every element past N or K is zero: the packed total equals the stored values' count.
                let packed = UnsafeBufferPointer(start: m.packed, count: m.panels * m.panelBytes / 2)
                let nonzeroPacked = packed.filter { $0 & 0x7fff != 0 }.count
                let nonzeroSource = w.filter { f32ToBF16Bits($0) & 0x7fff != 0 }.count
                XCTAssertEqual(nonzeroPacked, nonzeroSource, "\(n)x\(k) \(layout): padding is not zero")
                XCTAssertEqual(Array(UnsafeBufferPointer(start: m.bias!, count: m.panels * 16)),
                               bias + [Float](repeating: 0, count: m.panels * 16 - n))
            }
        }
    }

    func testBitsPackAsTheyAreAndRoundingLeavesBF16ValuesAlone() {
        var rng = SeededRandom(seed: 42)
        let n = 20, k = 45
        let bits = (0..<(n * k)).map { _ in f32ToBF16Bits(rng.float(-3...3)) }
        let widened = bits.map(BF16Reference.float)
        let a = bits.withUnsafeBufferPointer {
            BF16Matrix(bits: $0.baseAddress!, bias: nil, outFeatures: n, inFeatures: k, layout: .outIn)
        }
        let b = widened.withUnsafeBufferPointer {
            BF16Matrix(rounding: $0.baseAddress!, bias: nil, outFeatures: n, inFeatures: k, layout: .outIn)
        }
        XCTAssertNil(a.bias)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.packed, count: a.panels * a.panelBytes / 2)),
                       Array(UnsafeBufferPointer(start: b.packed, count: b.panels * b.panelBytes / 2)))
        let unpacked = a.unpacked()
        let back = withExtendedLifetime(unpacked) { Array(UnsafeBufferPointer(start: unpacked.pointer, count: n * k)) }
        XCTAssertEqual(back.indices.filter { back[$0] != widened[$0] }.count, 0, "unpacked values differ")
    }

    func testActivationRoundingEqualsTheScalarRoundingIncludingTiesInfinitiesAndNaN() {
        var rng = SeededRandom(seed: 43)
        var x = rng.floats(203, -100...100)
        x[0] = Float(bitPattern: 0x3f80_8000)   // tie, even below: rounds down
        x[1] = Float(bitPattern: 0x3f81_8000)   // tie, odd below: rounds up
        x[2] = .infinity
        x[3] = -.infinity
        x[4] = .nan
        x[5] = Float(bitPattern: 0x7f80_0001)   // signalling NaN: must stay NaN
        x[6] = .greatestFiniteMagnitude          // rounds to infinity, as f32ToBF16Bits does
        x[7] = -0.0
        x[200] = .nan                            // in the scalar tail
        let stride = 224
        var out = [UInt16](repeating: 0xffff, count: stride)
        x.withUnsafeBufferPointer { BF16Linear.roundRow($0.baseAddress!, count: x.count, into: &out, stride: stride) }
        for i in 0..<x.count {
            XCTAssertEqual(out[i], f32ToBF16Bits(x[i]), "element \(i) (\(x[i]))")
        }
        XCTAssertTrue(BF16Reference.float(out[5]).isNaN)
        XCTAssertEqual(out[0], 0x3f80)
        XCTAssertEqual(out[1], 0x3f82)
        XCTAssertEqual(Array(out[x.count...]), [UInt16](repeating: 0, count: stride - x.count), "padding not zeroed")
    }

    // MARK: - Kernels against the reference

    /// Runs `kernel` through `BF16Linear.forward` and checks every value against the reference bound.
    private func check(_ kernel: BF16Linear.Kernel, m: Int, n: Int, k: Int, rng: inout SeededRandom,
                       pool: WorkerPool, layout: LinearWeight.Layout = .outIn, activation: Activations.Kind? = nil,
                       file: StaticString = #filePath, line: UInt = #line) {
        let w = randomWeights(&rng, n * k), x = rng.floats(m * k, -2...2), bias = rng.floats(n)
        let outIn: [Float] = layout == .outIn ? w : (0..<(n * k)).map { w[($0 % k) * n + $0 / k] }
        var (expected, bounds) = BF16Reference.linear(x, rows: m, weights: outIn, outFeatures: n, inFeatures: k, bias: bias)
        var got = [Float](repeating: .nan, count: m * n)
        w.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in
                let matrix = BF16Matrix(rounding: wp.baseAddress!, bias: bp.baseAddress, outFeatures: n, inFeatures: k,
                                        layout: layout, pool: pool)
                BF16Linear.forward(x, rows: m, weight: matrix, out: &got, activation: activation, pool: pool,
                                   kernel: kernel)
            }
        }
        if let activation {
            // The activation is applied to the kernel's sums: compare the pre-activation bound
            // through it (GELU's slope is at most about 1.13).
            Activations.applySerial(activation, &expected, count: expected.count)
            bounds = bounds.map { $0 * 1.2 + 1e-6 }
        }
        var worst: Float = 0
        for i in 0..<(m * n) {
            let error = abs(got[i] - expected[i])
            if !(error <= bounds[i]) {
                XCTFail("\(kernel) \(m)x\(n)x\(k) \(layout) [\(i / n), \(i % n)]: \(got[i]) vs \(expected[i]) "
                        + "(bound \(bounds[i]))", file: file, line: line)
                return
            }
            worst = max(worst, error)
        }
    }

    private let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (1, 7, 33), (1, 768, 127), (7, 33, 7), (7, 127, 768), (8, 16, 32), (33, 7, 127), (33, 768, 33),
        (127, 33, 768), (16, 17, 3072), (40, 3072, 7), (2, 100, 3072),
    ]

    func testAMXKernelMeetsTheReferenceBoundOnOddShapes() throws {
        try requireKernel(.amx)
        var rng = SeededRandom(seed: 44)
        for pool in [WorkerPool(threadCount: 1), WorkerPool(threadCount: 3)] {
            for s in shapes { check(.amx, m: s.m, n: s.n, k: s.k, rng: &rng, pool: pool) }
        }
        check(.amx, m: 700, n: 40, k: 768, rng: &rng, pool: .shared)  // two row blocks
        check(.amx, m: 3, n: 5, k: 33_000, rng: &rng, pool: .shared)  // rows past AMX's 64 KiB stride: AVX512_BF16
    }

    func testAVX512BF16KernelMeetsTheReferenceBoundOnOddShapes() throws {
        try requireKernel(.avx512BF16)
        var rng = SeededRandom(seed: 45)
        for pool in [WorkerPool(threadCount: 1), WorkerPool(threadCount: 3)] {
            for s in shapes { check(.avx512BF16, m: s.m, n: s.n, k: s.k, rng: &rng, pool: pool) }
        }
    }

    func testPortableKernelMeetsTheReferenceBound() {
        var rng = SeededRandom(seed: 46)
        for s in [(1, 7, 33), (7, 33, 7), (9, 20, 100)] {
            check(.portable, m: s.0, n: s.1, k: s.2, rng: &rng, pool: WorkerPool(threadCount: 1))
        }
    }

    func testEveryKernelTakesBothLayoutsAndTheActivation() {
        var rng = SeededRandom(seed: 47)
        for kernel in BF16Linear.availableKernels {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                check(kernel, m: 9, n: 50, k: 70, rng: &rng, pool: .shared, layout: layout, activation: .gelu)
                check(kernel, m: 1, n: 50, k: 70, rng: &rng, pool: .shared, layout: layout, activation: .gelu)
            }
        }
    }

    func testAMXTileKernelDirectlyOnFewRows() throws {
        // BF16Linear sends fewer than 8 rows to the AVX512_BF16 tiles; the AMX kernel must still be
        // right on them (its 16-row tiles configured shorter).
        try requireKernel(.amx)
        var rng = SeededRandom(seed: 48)
        for rows in [1, 2, 5, 15, 16, 17, 31, 32, 33] {
            let n = 37, k = 96
            let w = randomWeights(&rng, n * k), x = rng.floats(rows * k)
            let (expected, bounds) = BF16Reference.linear(x, rows: rows, weights: w, outFeatures: n, inFeatures: k, bias: nil)
            let matrix = w.withUnsafeBufferPointer {
                BF16Matrix(rounding: $0.baseAddress!, bias: nil, outFeatures: n, inFeatures: k, layout: .outIn)
            }
            let lda = 2 * matrix.kPairs, ldo = n + 3
            var a = [UInt16](repeating: 0, count: rows * lda)
            for r in 0..<rows { for c in 0..<k { a[r * lda + c] = f32ToBF16Bits(x[r * k + c]) } }
            var out = [Float](repeating: -7, count: rows * ldo)
            smm_bf16_amx_gemm(a, lda, Int32(rows), matrix.packed, matrix.panelBytes, Int32(matrix.panels),
                              Int32(matrix.kPairs), nil, Int32(n), &out, ldo)
            for r in 0..<rows {
                for j in 0..<n {
                    XCTAssertLessThanOrEqual(abs(out[r * ldo + j] - expected[r * n + j]), bounds[r * n + j], "rows \(rows) (\(r), \(j))")
                }
                XCTAssertEqual(Array(out[(r * ldo + n)..<(r * ldo + ldo)]), [-7, -7, -7], "wrote past the columns")
            }
        }
    }

    func testKernelsRefuseShapesOutsideTheirContract() throws {
        guard let kernel = BF16Linear.availableKernels.first, kernel != .portable else {
            throw XCTSkip(skipMessage(.avx512BF16))
        }
        // kPairs not a multiple of 16: nothing written.
        let a = [UInt16](repeating: 0x3f80, count: 64), b = [UInt16](repeating: 0x3f80, count: 16 * 32)
        var out = [Float](repeating: -1, count: 16)
        smm_bf16_avx512_gemm(a, 32, 1, b, 8 * 64, 1, 8, nil, 16, &out, 16)
        smm_bf16_amx_gemm(a, 32, 1, b, 8 * 64, 1, 8, nil, 16, &out, 16)
        XCTAssertEqual(out, [Float](repeating: -1, count: 16))
        // The same call with a whole tile does write: 32 products of 1 x 1.
        smm_bf16_avx512_gemm(a, 32, 1, b, 16 * 64, 1, 16, nil, 16, &out, 16)
        XCTAssertEqual(out, [Float](repeating: 32, count: 16))
    }

    // MARK: - Through Linear.forward

    func testLinearForwardDispatchesBF16WeightsAndStaysCloseToF32() throws {
        guard BF16Linear.isAvailable else { throw XCTSkip(skipMessage(.avx512BF16)) }
        var rng = SeededRandom(seed: 49)
        for (m, n, k) in [(1, 300, 256), (9, 96, 384), (128, 130, 70)] {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let w = rng.floats(n * k, -0.1...0.1), x = rng.floats(m * k), bias = rng.floats(n)
                var f32 = [Float](repeating: 0, count: m * n), bf16 = f32
                w.withUnsafeBufferPointer { wp in
                    bias.withUnsafeBufferPointer { bp in
                        let weight = LinearWeight(weight: wp.baseAddress!, bias: bp.baseAddress!, outFeatures: n,
                                                  inFeatures: k, layout: layout, owner: nil)
                        let packed = weight.packedBF16()
                        XCTAssertNil(weight.bf16)
                        XCTAssertNotNil(packed.bf16)
                        XCTAssertTrue(packed.packedBF16().bf16 === packed.bf16, "bf16 stays as it is")
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: packed.bias, count: n)), bias)
                        XCTAssertNotNil(packed.quantizedInt8().quantized, "a bf16 layer can still be quantized")
                        Linear.forward(x, rows: m, weight: weight, out: &f32)
                        Linear.forward(x, rows: m, weight: packed, out: &bf16)
                    }
                }
                var err = 0.0, norm = 0.0
                for i in 0..<(m * n) {
                    let d = Double(bf16[i] - f32[i]), y = Double(f32[i] - bias[i % n])
                    err += d * d
                    norm += y * y
                }
                let relative = (err / norm).squareRoot()
                XCTAssertLessThan(relative, 0.01, "\(m)x\(n)x\(k) \(layout): two 8-bit roundings")
                XCTAssertGreaterThan(relative, 0, "bf16 should not be bit-identical to f32")
            }
        }
    }

    func testKernelChoiceFollowsTheCPU() {
        let f = CPUFeatures.current
        let kernels = BF16Linear.availableKernels
        XCTAssertEqual(kernels.last, .portable)
        #if arch(x86_64) && os(Linux)
        XCTAssertEqual(kernels.contains(.avx512BF16), f.hasAVX512 && f.hasBF16, "cpuid and /proc/cpuinfo disagree")
        if kernels.contains(.amx) { XCTAssertTrue(f.flags.contains("amx_bf16") && f.flags.contains("amx_tile")) }
        #endif
        if ProcessInfo.processInfo.environment["SMM_BF16_KERNEL"] == nil {
            XCTAssertEqual(BF16Linear.kernel, kernels[0])
        }
    }
}
