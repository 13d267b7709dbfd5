import CMicroKernels
import XCTest
@testable import SMMKernels

/// The f32 packed-panel path against its plain Swift definition (`PackedF32Reference`): the packed
/// layout in both source orders, the AVX-512 kernel bit for bit on ragged shapes, and the whole
/// `Linear.forward` (split over workers, bias and activation) against the OpenBLAS path.
final class PackedF32Tests: XCTestCase {
    /// N and K around the 48-column panels and the 8-row and 4-step blocks of the kernel.
    let shapes: [(n: Int, k: Int)] = [(1, 1), (3, 5), (47, 7), (48, 48), (49, 33), (96, 64), (100, 77), (130, 129),
                                      (384, 384)]
    let rowCounts = [1, 2, 7, 8, 9, 17, 33]

    private func kernelOrSkip() throws {
        guard PackedMatrix.isAvailable else { throw XCTSkip("this CPU has no AVX-512F (or SMM_F32_KERNEL=blas)") }
    }

    /// A's row stride is wider than K, and out's wider than N, to catch stride mix-ups.
    private func run(n: Int, k: Int, rows: Int, layout: LinearWeight.Layout, bias hasBias: Bool,
                     rng: inout SeededRandom) -> (kernel: [Float], reference: [Float], sentinel: Float) {
        let w = rng.floats(n * k, -0.5...0.5)
        let b = rng.floats(n, -1...1)
        let lda = k + 3, ldo = n + 5
        let x = rng.floats(rows * lda, -2...2)
        let matrix = w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                PackedMatrix(packing: wp.baseAddress!, bias: hasBias ? bp.baseAddress : nil, outFeatures: n,
                             inFeatures: k, layout: layout)
            }
        }
        let sentinel: Float = -12345
        var kernel = [Float](repeating: sentinel, count: rows * ldo)
        var reference = kernel
        x.withUnsafeBufferPointer { xp in
            kernel.withUnsafeMutableBufferPointer { op in
                for q in 0..<matrix.panels {
                    let n0 = q * PackedMatrix.panelColumns
                    smm_f32_avx512_panel(xp.baseAddress!, lda, Int32(rows), matrix.packed + q * matrix.panelFloats,
                                         Int32(k), matrix.bias.map { $0 + n0 }, op.baseAddress! + n0, ldo,
                                         Int32(min(PackedMatrix.panelColumns, n - n0)))
                }
            }
            reference.withUnsafeMutableBufferPointer { op in
                PackedF32Reference.forward(xp.baseAddress!, lda: lda, rows: rows, weight: matrix,
                                           out: op.baseAddress!, ldo: ldo)
            }
        }
        return (kernel, reference, sentinel)
    }

    func testPackedLayoutHoldsTheMatrixInBothSourceOrders() {
        var rng = SeededRandom(seed: 5)
        for (n, k) in shapes {
            let w = rng.floats(n * k, -1...1)
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let matrix = w.withUnsafeBufferPointer {
                    PackedMatrix(packing: $0.baseAddress!, bias: nil, outFeatures: n, inFeatures: k, layout: layout)
                }
                XCTAssertEqual(matrix.panels, (n + 47) / 48)
                XCTAssertEqual(Int(bitPattern: matrix.packed) % 64, 0)
                for o in 0..<n {
                    for i in 0..<k {
                        let expected = layout == .outIn ? w[o * k + i] : w[i * n + o]
                        XCTAssertEqual(matrix.value(output: o, input: i), expected, "\(n)x\(k) \(layout) [\(o)][\(i)]")
                    }
                }
                // The padding columns of the last panel are zero.
                let last = matrix.packed + (matrix.panels - 1) * matrix.panelFloats
                for i in 0..<k {
                    for j in (n - (matrix.panels - 1) * 48)..<48 { XCTAssertEqual(last[i * 48 + j], 0) }
                }
            }
        }
    }

    func testKernelMatchesTheSwiftReferenceBitForBit() throws {
        try kernelOrSkip()
        var rng = SeededRandom(seed: 6)
        for (n, k) in shapes {
            for rows in rowCounts {
                for (layout, bias) in [(LinearWeight.Layout.outIn, true), (.inOut, false)] {
                    let r = run(n: n, k: k, rows: rows, layout: layout, bias: bias, rng: &rng)
                    let ldo = n + 5
                    for i in 0..<rows {
                        for j in 0..<ldo {
                            let index = i * ldo + j
                            if j < n {
                                XCTAssertEqual(r.kernel[index].bitPattern, r.reference[index].bitPattern,
                                               "\(n)x\(k) rows \(rows) [\(i)][\(j)]: \(r.kernel[index]) vs \(r.reference[index])")
                            } else {
                                // Nothing is written past column N.
                                XCTAssertEqual(r.kernel[index], r.sentinel, "\(n)x\(k) rows \(rows) wrote column \(j)")
                            }
                        }
                    }
                }
            }
        }
    }

    func testReferenceIsTheMatrixProduct() {
        // 2 x 3 times (3 -> 2) with a bias, small integers: exact in float.
        let w: [Float] = [1, 2, 3, -1, 0, 4]   // (out 2, in 3)
        let b: [Float] = [10, -10]
        let x: [Float] = [1, 1, 1, 2, -1, 0.5]
        let matrix = w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                PackedMatrix(packing: wp.baseAddress!, bias: bp.baseAddress, outFeatures: 2, inFeatures: 3, layout: .outIn)
            }
        }
        var out = [Float](repeating: 0, count: 4)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer {
                PackedF32Reference.forward(xp.baseAddress!, lda: 3, rows: 2, weight: matrix, out: $0.baseAddress!, ldo: 2)
            }
        }
        XCTAssertEqual(out, [16, -7, 11.5, -10])
    }

    /// `Linear.forward` on a packed weight (parallel panels, bias in the kernel, activation after)
    /// agrees with the OpenBLAS path on the same unpacked weight.
    func testLinearForwardPackedAgreesWithBLAS() throws {
        try kernelOrSkip()
        var rng = SeededRandom(seed: 7)
        let pool = WorkerPool(threadCount: 2)
        // (96, 1024, 500): 2 MB of activations, so rows run in 4 blocks of 128 (128, 128, 128, 116).
        XCTAssertEqual(Linear.rowBlock(rows: 500, inFeatures: 1024), 128)
        XCTAssertEqual(Linear.rowBlock(rows: 128, inFeatures: 3072), 128)
        XCTAssertEqual(Linear.rowBlock(rows: 4096, inFeatures: 768), 176)   // 12 MB: 24 blocks
        for (n, k, rows) in [(768, 768, 128), (3072, 768, 9), (100, 77, 1), (2304, 768, 1), (49, 130, 33), (96, 1024, 500)] {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                for activation in [nil, Activations.Kind.gelu] {
                    let w = rng.floats(n * k, -0.1...0.1), b = rng.floats(n, -1...1), x = rng.floats(rows * k, -1...1)
                    var plainOut = [Float](repeating: 0, count: rows * n), packedOut = plainOut
                    w.withUnsafeBufferPointer { wp in
                        b.withUnsafeBufferPointer { bp in
                            let plain = LinearWeight(weight: wp.baseAddress!, bias: bp.baseAddress, outFeatures: n,
                                                     inFeatures: k, layout: layout, owner: nil)
                            let packed = plain.packedF32(pool: pool)
                            XCTAssertNotNil(packed.packed)
                            x.withUnsafeBufferPointer { xp in
                                plainOut.withUnsafeMutableBufferPointer {
                                    Linear.block(xp.baseAddress!, rows: rows, plain, out: $0.baseAddress!, columns: 0..<n,
                                                 activation: activation)
                                }
                                packedOut.withUnsafeMutableBufferPointer {
                                    Linear.forward(xp.baseAddress!, rows: rows, weight: packed, out: $0.baseAddress!,
                                                   activation: activation, pool: pool)
                                }
                            }
                        }
                    }
                    var worst: Float = 0
                    for i in 0..<plainOut.count { worst = max(worst, abs(plainOut[i] - packedOut[i])) }
                    XCTAssertLessThan(worst, 2e-5, "\(n)x\(k) rows \(rows) \(layout) \(String(describing: activation))")
                }
            }
        }
    }
}
