import CMicroKernels
import SMMFormat
import XCTest
@testable import SMMKernels

/// The q4 path against its definitions: the block quantizer's codes and scales, the packing
/// (every code and scale of the format where the kernel reads it), the activation quantizer, the
/// reference kernel against the plain float sum it stands for, and the AVX-512 VNNI kernel bit for
/// bit against the reference on odd shapes and thread counts.
final class Q4LinearTests: XCTestCase {
    private func requireVNNI() throws {
        guard Q4Linear.availableKernels.contains(.vnni512) else {
            let f = CPUFeatures.current
            throw XCTSkip(f.hasAVX512 ? "this CPU has no AVX-512 VNNI: the q4 VNNI kernel is not tested here"
                : "this CPU has no AVX-512: the q4 VNNI kernel is not tested here")
        }
    }

    /// Gaussian-like weights with a few outliers and an all-zero block per matrix.
    private func weights(_ rng: inout SeededRandom, _ count: Int) -> [Float] {
        var w = (0..<count).map { _ in rng.float(-0.05...0.05) + rng.float(-0.05...0.05) }
        for i in 0..<count where i % 97 == 5 { w[i] *= 9 }
        for i in 0..<min(32, count) { w[i] = 0 }
        return w
    }

    // MARK: - Block quantizer (SMMQ4Blocks)

    func testBlockQuantizerStoresTheExtremeExactlyAndPacksCodesAsStated() {
        // Block: -8 ... 7 then sixteen values 0.5 apart; the extreme -8 gives d = f16(-8 / -8) = 1.
        var block = (0..<16).map { Float($0 - 8) }
        block += (0..<16).map { Float($0) * 0.5 }
        var values = [UInt8](repeating: 0, count: 16)
        var scales = [UInt16](repeating: 0, count: 1)
        XCTAssertNil(SMMQ4Blocks.quantize(block, shape: [1, 32], axis: 0, values: &values, scales: &scales))
        XCTAssertEqual(scales[0], f32ToF16Bits(1))
        for j in 0..<16 {
            XCTAssertEqual(values[j] & 0x0f, UInt8(j), "low nibble of byte \(j) is input \(j)")
            // 0.5 j rounds half away from zero; + 8, clamped to 15.
            XCTAssertEqual(values[j] >> 4, UInt8(min(15, Int((Float(j) * 0.5).rounded()) + 8)), "high nibble: input \(j + 16)")
        }
        // A positive extreme gives a negative scale and code 0 for it: 4 and 31 x (-0.5) -> d = -0.5
        // stores both exactly.
        var positive = [Float](repeating: -0.5, count: 32)
        positive[9] = 4
        XCTAssertNil(SMMQ4Blocks.quantize(positive, shape: [1, 32], axis: 0, values: &values, scales: &scales))
        XCTAssertEqual(scales[0], f32ToF16Bits(-0.5))
        XCTAssertEqual(values[9] & 0x0f, 0)
        XCTAssertEqual(SMMQ4Blocks.value(code: 0, scaleBits: scales[0]), 4)
        XCTAssertEqual(values[0] & 0x0f, 9, "-0.5 / -0.5 = 1: code 9")
        XCTAssertEqual(SMMQ4Blocks.code(0.25, scale: -0.5), 7, "0.25 / -0.5 = -0.5 rounds away from zero to -1: code 7")
        // An all-zero block: scale 0, every code 8, values 0.
        XCTAssertNil(SMMQ4Blocks.quantize([Float](repeating: 0, count: 32), shape: [1, 32], axis: 0, values: &values,
                                          scales: &scales))
        XCTAssertEqual(scales[0], 0)
        XCTAssertEqual(values, [UInt8](repeating: 0x88, count: 16))
        // A scale beyond f16 is reported, not stored as infinity.
        var huge = [Float](repeating: 1, count: 64)
        huge[40] = 6e5
        var v2 = [UInt8](repeating: 0, count: 32), s2 = [UInt16](repeating: 0, count: 2)
        let failed = SMMQ4Blocks.quantize(huge, shape: [1, 64], axis: 0, values: &v2, scales: &s2)
        XCTAssertEqual(failed?.output, 0)
        XCTAssertEqual(failed?.input, 32)
    }

    func testRoundTripErrorIsWithinOneStepAndBothAxesAgree() {
        var rng = SeededRandom(seed: 5)
        let n = 37, k = 96
        let w = weights(&rng, n * k)
        var back = w
        XCTAssertNil(back.withUnsafeMutableBufferPointer { SMMQ4Blocks.roundTrip($0.baseAddress!, shape: [n, k], axis: 0) })
        var values = [UInt8](repeating: 0, count: n * k / 2), scales = [UInt16](repeating: 0, count: n * k / 32)
        SMMQ4Blocks.quantize(w, shape: [n, k], axis: 0, values: &values, scales: &scales)
        var worstRelative: Float = 0
        for o in 0..<n {
            for b in 0..<(k / 32) {
                let d = abs(Float(bitPattern: f16BitsToF32Bits(scales[o * (k / 32) + b])))
                for j in 0..<32 {
                    let i = o * k + 32 * b + j
                    // Within half a step, except the values clamped at +7 steps: one step, and a
                    // little more where d was rounded down to f16 (|m / d| up to 8 (1 + 2^-11)).
                    XCTAssertLessThanOrEqual(abs(w[i] - back[i]), d * 1.005 + 1e-12, "(\(o), \(32 * b + j))")
                    if d > 0 { worstRelative = max(worstRelative, abs(w[i] - back[i]) / d) }
                }
            }
        }
        XCTAssertGreaterThan(worstRelative, 0.3, "the test data should exercise rounding")
        // Outputs along axis 1 ((in, out), GPT-2's Conv1D) quantize each column as axis 0 does each row.
        var transposed = [Float](repeating: 0, count: n * k)
        for o in 0..<n { for i in 0..<k { transposed[i * n + o] = w[o * k + i] } }
        var tv = [UInt8](repeating: 0, count: n * k / 2), ts = [UInt16](repeating: 0, count: n * k / 32)
        SMMQ4Blocks.quantize(transposed, shape: [k, n], axis: 1, values: &tv, scales: &ts)
        XCTAssertEqual(tv, values)
        XCTAssertEqual(ts, scales)
        var dequantized = [Float](repeating: 0, count: n * k)
        SMMQ4Blocks.dequantize(values: tv, scales: ts, shape: [k, n], axis: 1, into: &dequantized)
        for o in 0..<n { for i in 0..<k { XCTAssertEqual(dequantized[i * n + o], back[o * k + i]) } }
    }

    // MARK: - Packing

    func testPackedMatrixHoldsEveryCodeAndScaleOfTheFormat() throws {
        var rng = SeededRandom(seed: 9)
        for (n, k) in [(1, 32), (7, 64), (16, 32), (17, 96), (33, 128), (127, 768)] {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let w = weights(&rng, n * k)
                let m = try XCTUnwrap(w.withUnsafeBufferPointer {
                    Q4Matrix(quantizing: $0.baseAddress!, outFeatures: n, inFeatures: k, layout: layout)
                })
                let shape = layout == .outIn ? [n, k] : [k, n], axis = layout == .outIn ? 0 : 1
                var back = w
                back.withUnsafeMutableBufferPointer { _ = SMMQ4Blocks.roundTrip($0.baseAddress!, shape: shape, axis: axis) }
                XCTAssertEqual(m.panels, (n + 15) / 16)
                for o in 0..<n {
                    for i in 0..<k {
                        let expected = layout == .outIn ? back[o * k + i] : back[i * n + o]
                        XCTAssertEqual(m.value(output: o, input: i), expected, "\(n)x\(k) \(layout) (\(o), \(i))")
                    }
                }
                // Outputs past N: code 8 and scale 0.
                for o in n..<(m.panels * 16) {
                    for i in 0..<k { XCTAssertEqual(m.code(output: o, input: i), 8) }
                    for b in 0..<m.blocks { XCTAssertEqual(m.scaleBits(output: o, block: b), 0) }
                }
            }
        }
    }

    // MARK: - Activation quantization

    func testActivationsAreQuantizedPerBlockWithTheirSums() {
        var x = (0..<64).map { Float($0) - 20 }        // block 0: -20...11, block 1: 12...43
        x[40] = -100
        var q = [Int8](repeating: 0, count: 64), scales = [Float](repeating: 0, count: 2), sums = [Int32](repeating: 0, count: 2)
        Q4Linear.quantizeRow(x, count: 64, into: &q, scales: &scales, sums: &sums)
        XCTAssertEqual(scales[0], 20 / 127)
        XCTAssertEqual(scales[1], 100 / 127)
        XCTAssertEqual(q[0], -127)
        XCTAssertEqual(q[40], -127)
        XCTAssertEqual(q[10], Int8((Float(-10) * (127 / 20)).rounded()))
        XCTAssertEqual(sums[0], q[0..<32].reduce(Int32(0)) { $0 + Int32($1) })
        XCTAssertEqual(sums[1], q[32..<64].reduce(Int32(0)) { $0 + Int32($1) })
        // Zeros: scale 0, codes 0. A NaN or infinity: NaN scale, so the outputs are NaN (never a trap).
        var z = [Float](repeating: 0, count: 32)
        Q4Linear.quantizeRow(z, count: 32, into: &q, scales: &scales, sums: &sums)
        XCTAssertEqual(scales[0], 0)
        XCTAssertEqual(sums[0], 0)
        z[3] = .infinity
        Q4Linear.quantizeRow(z, count: 32, into: &q, scales: &scales, sums: &sums)
        XCTAssertTrue(scales[0].isNaN)
    }

    func testVectorActivationQuantizerGivesTheSwiftBits() throws {
        try requireVNNI()
        var rng = SeededRandom(seed: 29)
        for k in [32, 64, 768, 3072] {
            var x = rng.floats(k, -3...3)
            for i in 0..<k where i % 41 == 2 { x[i] *= 1000 }
            for i in 0..<k where i % 67 == 9 { x[i] = Float(Int(x[i] * 4)) / 4 }     // exact quarters: ties after scaling
            if k >= 768 {
                for i in 64..<96 { x[i] = 0 }                                          // an all-zero block
                x[100] = .nan
                x[140] = -.infinity
                x[200] = Float(bitPattern: 0x0001_1234)                                 // subnormal
            }
            var qs = [Int8](repeating: 1, count: k), ss = [Float](repeating: 1, count: k / 32), us = [Int32](repeating: 1, count: k / 32)
            var qc = qs, sc = ss, uc = us
            Q4Linear.quantizeRow(x, count: k, into: &qs, scales: &ss, sums: &us)
            smm_q4_quantize_row(x, Int32(k), &qc, &sc, &uc)
            XCTAssertEqual(qc, qs, "codes, k \(k)")
            XCTAssertEqual(sc.map(\.bitPattern), ss.map(\.bitPattern), "scales, k \(k)")
            XCTAssertEqual(uc, us, "sums, k \(k)")
        }
    }

    // MARK: - Kernels

    private struct Case {
        let matrix: Q4Matrix
        let x: [Float]
        let bias: [Float]
        let rows: Int
    }

    private func makeCase(_ rng: inout SeededRandom, rows: Int, n: Int, k: Int) throws -> Case {
        let w = weights(&rng, n * k)
        let matrix = try XCTUnwrap(w.withUnsafeBufferPointer {
            Q4Matrix(quantizing: $0.baseAddress!, outFeatures: n, inFeatures: k, layout: .outIn)
        })
        var x = rng.floats(rows * k, -2...2)
        for i in 0..<x.count where i % 53 == 1 { x[i] *= 20 }
        return Case(matrix: matrix, x: x, bias: rng.floats(n), rows: rows)
    }

    private func forward(_ c: Case, kernel: Q4Linear.Kernel, pool: WorkerPool = .shared, bias: Bool = true,
                         activation: Activations.Kind? = nil) -> [Float] {
        let n = c.matrix.outFeatures
        var out = [Float](repeating: .nan, count: c.rows * n)
        c.x.withUnsafeBufferPointer { xp in
            c.bias.withUnsafeBufferPointer { bp in
                Q4Linear.forward(xp.baseAddress!, rows: c.rows, weight: c.matrix, bias: bias ? bp.baseAddress : nil,
                                 out: &out, activation: activation, pool: pool, kernel: kernel)
            }
        }
        return out
    }

    func testReferenceComputesTheQuantizedProductItStandsFor() throws {
        var rng = SeededRandom(seed: 13)
        for (rows, n, k) in [(1, 7, 32), (3, 33, 96), (2, 127, 768)] {
            let c = try makeCase(&rng, rows: rows, n: n, k: k)
            let out = forward(c, kernel: .portable)
            for r in 0..<rows {
                // The activations as quantized, in double precision, against the dequantized weights.
                var q = [Int8](repeating: 0, count: k), s = [Float](repeating: 0, count: k / 32)
                var u = [Int32](repeating: 0, count: k / 32)
                c.x.withUnsafeBufferPointer { Q4Linear.quantizeRow($0.baseAddress! + r * k, count: k, into: &q, scales: &s, sums: &u) }
                for o in 0..<n {
                    var exact = Double(c.bias[o]), magnitude = abs(Double(c.bias[o]))
                    for i in 0..<k {
                        let term = Double(c.matrix.value(output: o, input: i)) * Double(q[i]) * Double(s[i / 32])
                        exact += term
                        magnitude += abs(term)
                    }
                    XCTAssertEqual(Double(out[r * n + o]), exact, accuracy: magnitude * 1e-6 + 1e-7, "(\(rows), \(n), \(k)) [\(r), \(o)]")
                }
            }
        }
    }

    func testVNNIKernelMatchesTheReferenceBitForBitOnOddShapes() throws {
        try requireVNNI()
        var rng = SeededRandom(seed: 17)
        let single = WorkerPool(threadCount: 1), three = WorkerPool(threadCount: 3)
        for (n, k) in [(1, 32), (7, 64), (33, 96), (127, 768), (768, 768), (3072, 32), (50, 3072)] {
            for rows in [1, 2, 3, 4, 5, 7, 9] {
                let c = try makeCase(&rng, rows: rows, n: n, k: k)
                let expected = forward(c, kernel: .portable, pool: single)
                for pool in [single, three] {
                    let got = forward(c, kernel: .vnni512, pool: pool)
                    XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern),
                                   "rows \(rows) n \(n) k \(k) threads \(pool.threadCount)")
                }
                if rows == 2 {
                    XCTAssertEqual(forward(c, kernel: .vnni512, bias: false).map(\.bitPattern),
                                   forward(c, kernel: .portable, bias: false).map(\.bitPattern), "no bias, n \(n) k \(k)")
                }
            }
        }
    }

    func testLinearForwardRunsQ4WeightsCloseToF32WithTheActivation() throws {
        var rng = SeededRandom(seed: 23)
        let n = 96, k = 128, rows = 5
        let w = weights(&rng, n * k), bias = rng.floats(n), x = rng.floats(rows * k)
        let (f32, q4) = w.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in
                let plain = LinearWeight(weight: wp.baseAddress!, bias: bp.baseAddress, outFeatures: n, inFeatures: k,
                                         layout: .outIn, owner: nil)
                return (plain, plain.quantizedQ4())
            }
        }
        XCTAssertNotNil(q4.q4)
        var a = [Float](repeating: 0, count: rows * n), b = a
        Linear.forward(x, rows: rows, weight: f32, out: &a, activation: .gelu)
        Linear.forward(x, rows: rows, weight: q4, out: &b, activation: .gelu)
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices { dot += Double(a[i] * b[i]); na += Double(a[i] * a[i]); nb += Double(b[i] * b[i]) }
        let cosine = dot / (na * nb).squareRoot()
        XCTAssertGreaterThan(cosine, 0.99, "q4 against f32 through GELU")
        XCTAssertLessThan(cosine, 0.999999, "q4 should not be exact: the weights are 4-bit")
        // A layer whose input count is not a multiple of 32 goes to int8 instead.
        let odd = w.withUnsafeBufferPointer {
            LinearWeight(weight: $0.baseAddress!, bias: nil, outFeatures: 4, inFeatures: 33, layout: .outIn, owner: nil)
                .quantizedQ4()
        }
        XCTAssertNil(odd.q4)
        XCTAssertNotNil(odd.quantized)
    }
}
