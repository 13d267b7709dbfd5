import Foundation
import XCTest
@testable import SMMKernels

/// Seeded random floats for kernel tests.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float(_ range: ClosedRange<Float> = -1...1) -> Float {
        let unit = Float(next() >> 40) / Float(1 << 24)
        return range.lowerBound + unit * (range.upperBound - range.lowerBound)
    }
    mutating func floats(_ n: Int, _ range: ClosedRange<Float> = -1...1) -> [Float] { (0..<n).map { _ in float(range) } }
}

final class KernelsTests: XCTestCase {
    func testOpenBLASRunsTheCoreChosenForThisCPU() throws {
        #if os(Linux)
        XCTAssertTrue(BLAS.isAccelerated, BLAS.backendDescription)
        let name = try XCTUnwrap(BLAS.openBLASCoreName)
        if let expected = CPUFeatures.current.openBLASCoreType,
           ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil {
            XCTAssertEqual(name.lowercased(), expected.lowercased())
        }
        #endif
    }

    func testSgemmAndSgemvMatchReferenceInAllTranspositions() {
        var rng = SeededRandom(seed: 1)
        let m = 7, n = 13, k = 19
        let a = rng.floats(m * k), b = rng.floats(k * n)
        for ta in [Transpose.none, .transposed] {
            for tb in [Transpose.none, .transposed] {
                var fast = [Float](repeating: 0.5, count: m * n), slow = fast
                let lda = ta == .none ? k : m, ldb = tb == .none ? n : k
                BLAS.sgemm(ta, tb, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb, beta: 0.3, c: &fast, ldc: n)
                Reference.sgemm(ta, tb, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb, beta: 0.3, c: &slow, ldc: n)
                for i in 0..<(m * n) { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-5) }
            }
        }
        let x = rng.floats(k)
        var y1 = [Float](repeating: 0, count: n), y2 = y1
        // b is (k, n): op = transposed gives n outputs.
        BLAS.sgemv(.transposed, rows: k, cols: n, alpha: 1, a: b, lda: n, x: x, beta: 0, y: &y1)
        Reference.sgemv(.transposed, rows: k, cols: n, alpha: 1, a: b, lda: n, x: x, beta: 0, y: &y2)
        for i in 0..<n { XCTAssertEqual(y1[i], y2[i], accuracy: 1e-5) }
    }

    func testFastExpErfTanhAgainstLibm() {
        var worstExp: Float = 0, worstErf: Float = 0, worstTanh: Float = 0
        var x: Float = -87
        while x < 88 {
            let got = FastMath.exp(Float8(repeating: x))[0]
            let want = Float(Foundation.exp(Double(x)))
            worstExp = max(worstExp, abs(got - want) / want)
            x += 0.0137
        }
        x = -6
        while x < 6 {
            worstErf = max(worstErf, abs(FastMath.erf(Float8(repeating: x))[0] - Float(Foundation.erf(Double(x)))))
            worstTanh = max(worstTanh, abs(FastMath.tanh(Float8(repeating: x))[0] - Float(Foundation.tanh(Double(x)))))
            x += 0.00071
        }
        XCTAssertLessThan(worstExp, 3e-7)
        XCTAssertLessThan(worstErf, 5e-7)
        XCTAssertLessThan(worstTanh, 1e-6)
        XCTAssertEqual(FastMath.exp(Float8(repeating: -200))[0], 0, accuracy: 1e-37)
    }

    func testLinearMatchesReferenceForBothLayoutsAndRowCounts() {
        var rng = SeededRandom(seed: 2)
        let pool = WorkerPool(threadCount: 3)
        for rows in [1, 5, 64] {
            for layout in [LinearWeight.Layout.outIn, .inOut] {
                let n = 200, k = 96
                let w = rng.floats(n * k), b = rng.floats(n), x = rng.floats(rows * k)
                var got = [Float](repeating: 0, count: rows * n)
                w.withUnsafeBufferPointer { wp in
                    b.withUnsafeBufferPointer { bp in
                        let weight = LinearWeight(weight: wp.baseAddress!, bias: bp.baseAddress!, outFeatures: n,
                                                  inFeatures: k, layout: layout, owner: nil)
                        Linear.forward(x, rows: rows, weight: weight, out: &got, activation: .gelu, pool: pool)
                    }
                }
                for r in 0..<rows {
                    for j in 0..<n {
                        var s: Double = Double(b[j])
                        for p in 0..<k {
                            s += Double(x[r * k + p]) * Double(layout == .outIn ? w[j * k + p] : w[p * n + j])
                        }
                        let gelu = 0.5 * s * (1 + Foundation.erf(s / 2.0.squareRoot()))
                        XCTAssertEqual(Double(got[r * n + j]), gelu, accuracy: 1e-4, "rows \(rows) \(layout)")
                    }
                }
            }
        }
    }

    /// Softmax rows against a Double reference: lengths around the 8-lane blocks, the maximum in
    /// the lanes and in the tail, masked tails (`validCount`), large offsets and -inf entries.
    func testSoftmaxRowMatchesDoubleReference() {
        var rng = SeededRandom(seed: 4)
        for count in [1, 2, 7, 8, 9, 15, 16, 17, 33, 128] {
            for valid in Set([count, max(1, count / 2), 1]) {
                for shift: Float in [0, 80, -80] {
                    var x = rng.floats(count, -6...6).map { $0 + shift }
                    if count > 3 { x[count - 1] += 9 }            // the maximum in the scalar tail
                    if count > 10 { x[3] = -.infinity }            // exp(-inf) = 0
                    let input = x
                    var swift = x
                    x.withUnsafeMutableBufferPointer { Softmax.row($0.baseAddress!, count: count, validCount: valid) }
                    swift.withUnsafeMutableBufferPointer { Softmax.swiftRow($0.baseAddress!, count: count, validCount: valid) }
                    let m = input[0..<valid].map(Double.init).max()!
                    let e = input[0..<valid].map { exp(Double($0) - m) }
                    let sum = e.reduce(0, +)
                    for i in 0..<count {
                        let want = i < valid ? e[i] / sum : 0
                        XCTAssertEqual(Double(x[i]), want, accuracy: 2e-6, "count \(count) valid \(valid) shift \(shift) [\(i)]")
                        XCTAssertEqual(Double(swift[i]), want, accuracy: 2e-6, "Swift loop: count \(count) valid \(valid) [\(i)]")
                        // The AVX-512 row and the Swift loop differ only in the order of the sum.
                        XCTAssertEqual(x[i], swift[i], accuracy: 4 * swift[i].ulp, "paths: count \(count) valid \(valid) [\(i)]")
                    }
                }
            }
        }
    }

    func testSoftmaxOfAFullyMaskedRowIsZero() {
        for count in [1, 5, 16, 40] {
            var x = [Float](repeating: 3, count: count), y = x
            x.withUnsafeMutableBufferPointer { Softmax.row($0.baseAddress!, count: count, validCount: 0) }
            y.withUnsafeMutableBufferPointer { Softmax.swiftRow($0.baseAddress!, count: count, validCount: 0) }
            XCTAssertEqual(x, [Float](repeating: 0, count: count))
            XCTAssertEqual(y, x)
        }
    }

    func testLayerNormWithResidual() {
        var rng = SeededRandom(seed: 3)
        let rows = 3, cols = 37
        var x = rng.floats(rows * cols, -3...3)
        let res = rng.floats(rows * cols), w = rng.floats(cols), b = rng.floats(cols)
        let original = x
        var out = [Float](repeating: 0, count: rows * cols)
        LayerNorm.forward(out: &out, x: &x, residual: res, weight: w, bias: b, rows: rows, cols: cols, eps: 1e-5)
        for r in 0..<rows {
            let v = (0..<cols).map { Double(original[r * cols + $0] + res[r * cols + $0]) }
            let mean = v.reduce(0, +) / Double(cols)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            for c in 0..<cols {
                let want = (v[c] - mean) / (variance + 1e-5).squareRoot() * Double(w[c]) + Double(b[c])
                XCTAssertEqual(Double(out[r * cols + c]), want, accuracy: 1e-5)
                XCTAssertEqual(x[r * cols + c], original[r * cols + c] + res[r * cols + c])
            }
        }
    }

    /// Naive attention for one (batch, head): softmax(q k^T / sqrt(d) + mask) v.
    private func naiveAttention(q: [Float], k: [Float], v: [Float], t: Int, d: Int, ld: Int, offset: Int,
                                allowed: (Int, Int) -> Bool) -> [Double] {
        var out = [Double](repeating: 0, count: t * d)
        for i in 0..<t {
            var s = [Double](repeating: -Double.infinity, count: t)
            for j in 0..<t where allowed(i, j) {
                var dot = 0.0
                for p in 0..<d { dot += Double(q[i * ld + offset + p]) * Double(k[j * ld + offset + p]) }
                s[j] = dot / Double(d).squareRoot()
            }
            let m = s.max()!
            let e = s.map { $0 == -Double.infinity ? 0 : Foundation.exp($0 - m) }
            let z = e.reduce(0, +)
            for p in 0..<d {
                out[i * d + p] = (0..<t).reduce(0.0) { $0 + e[$1] / z * Double(v[$1 * ld + offset + p]) }
            }
        }
        return out
    }

    func testBidirectionalAttentionWithPaddingMask() {
        var rng = SeededRandom(seed: 4)
        let batch = 2, t = 6, heads = 3, d = 4, ld = heads * d
        let q = rng.floats(batch * t * ld), k = rng.floats(batch * t * ld), v = rng.floats(batch * t * ld)
        let valid: [Int32] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
        var out = [Float](repeating: 0, count: batch * t * ld)
        let pool = WorkerPool(threadCount: 2)
        let scratch = FloatBuffer(count: pool.threadCount * t * t)
        Attention.bidirectional(q: q, k: k, v: v, ld: ld, out: &out, ldo: ld, batch: batch, seqLen: t, heads: heads,
                                headDim: d, keyValid: valid, scratch: scratch.pointer, pool: pool)
        for b in 0..<batch {
            for h in 0..<heads {
                let slice = { (a: [Float]) in Array(a[(b * t * ld)..<((b + 1) * t * ld)]) }
                let want = naiveAttention(q: slice(q), k: slice(k), v: slice(v), t: t, d: d, ld: ld, offset: h * d) { _, j in
                    valid[b * t + j] != 0
                }
                for i in 0..<t {
                    for p in 0..<d {
                        XCTAssertEqual(Double(out[(b * t + i) * ld + h * d + p]), want[i * d + p], accuracy: 1e-5)
                    }
                }
            }
        }
    }

    func testFusedBidirectionalAttentionMatchesTheReferenceOnOddShapes() throws {
        guard Attention.fusedIsAvailable else {
            throw XCTSkip(CPUFeatures.current.hasAVX512 ? "SMM_ATTENTION=blas turns the fused kernel off"
                : "this CPU has no AVX-512: the fused attention kernel is not tested here")
        }
        var rng = SeededRandom(seed: 8)
        for (t, d, heads) in [(1, 16, 1), (7, 32, 2), (33, 64, 2), (127, 16, 3), (200, 64, 1)] {
            let batch = 2, ld = heads * d + 5          // a row stride wider than the heads
            let q = rng.floats(batch * t * ld, -2...2), k = rng.floats(batch * t * ld, -2...2), v = rng.floats(batch * t * ld)
            // Sequence 0 full; sequence 1 padded after (t + 1) / 2 keys.
            let length1 = (t + 1) / 2
            let valid: [Int32] = (0..<(batch * t)).map { $0 < t || $0 - t < length1 ? 1 : 0 }
            var out = [Float](repeating: .nan, count: batch * t * ld)
            let scratch = FloatBuffer(count: WorkerPool.shared.threadCount * t * t)
            Attention.bidirectional(q: q, k: k, v: v, ld: ld, out: &out, ldo: ld, batch: batch, seqLen: t, heads: heads,
                                    headDim: d, keyValid: valid, scratch: scratch.pointer)
            for b in 0..<batch {
                let slice = { (a: [Float]) in Array(a[(b * t * ld)..<((b + 1) * t * ld)]) }
                for h in 0..<heads {
                    let want = naiveAttention(q: slice(q), k: slice(k), v: slice(v), t: t, d: d, ld: ld, offset: h * d) { _, j in
                        valid[b * t + j] != 0
                    }
                    for i in 0..<t {
                        for p in 0..<d {
                            XCTAssertEqual(Double(out[(b * t + i) * ld + h * d + p]), want[i * d + p], accuracy: 1e-5,
                                           "t \(t) d \(d) b \(b) h \(h) [\(i), \(p)]")
                        }
                    }
                }
            }
        }
    }

    func testBidirectionalAttentionWithEveryKeyMaskedAveragesTheValues() {
        var rng = SeededRandom(seed: 6)
        let t = 5, heads = 2, d = 4, ld = heads * d
        let q = rng.floats(t * ld), k = rng.floats(t * ld), v = rng.floats(t * ld)
        let valid = [Int32](repeating: 0, count: t)
        var out = [Float](repeating: .nan, count: t * ld)
        let scratch = FloatBuffer(count: WorkerPool.shared.threadCount * t * t)
        Attention.bidirectional(q: q, k: k, v: v, ld: ld, out: &out, ldo: ld, batch: 1, seqLen: t, heads: heads,
                                headDim: d, keyValid: valid, scratch: scratch.pointer)
        // transformers: finfo.min + score is finfo.min for every key, so the weights are uniform.
        for i in 0..<t {
            for c in 0..<ld {
                let mean = (0..<t).reduce(0.0) { $0 + Double(v[$1 * ld + c]) } / Double(t)
                XCTAssertEqual(Double(out[i * ld + c]), mean, accuracy: 1e-5)
            }
        }
    }

    func testCausalAttentionPromptThenIncrementalMatchesFullPass() {
        var rng = SeededRandom(seed: 5)
        let t = 9, heads = 2, d = 8, ld = heads * d
        let q = rng.floats(t * ld), k = rng.floats(t * ld), v = rng.floats(t * ld)
        let scratch = FloatBuffer(count: 4 * t * t)
        var full = [Float](repeating: 0, count: t * ld)
        Attention.causal(q: q, ld: ld, kCache: k, vCache: v, ldKV: ld, out: &full, ldo: ld, queries: t, past: 0,
                         heads: heads, headDim: d, scratch: scratch.pointer)
        for h in 0..<heads {
            let want = naiveAttention(q: q, k: k, v: v, t: t, d: d, ld: ld, offset: h * d) { i, j in j <= i }
            for i in 0..<t { for p in 0..<d { XCTAssertEqual(Double(full[i * ld + h * d + p]), want[i * d + p], accuracy: 1e-5) } }
        }
        // Last position alone, with the first t-1 as the past.
        var step = [Float](repeating: 0, count: ld)
        Array(q[((t - 1) * ld)...]).withUnsafeBufferPointer { qp in
            Attention.causal(q: qp.baseAddress!, ld: ld, kCache: k, vCache: v, ldKV: ld, out: &step, ldo: ld,
                             queries: 1, past: t - 1, heads: heads, headDim: d, scratch: scratch.pointer)
        }
        for p in 0..<ld { XCTAssertEqual(step[p], full[(t - 1) * ld + p], accuracy: 1e-5) }
    }

    func testWorkerPoolCoversEveryIndexOnceAndRunsInlineWhenBusy() {
        let pool = WorkerPool(threadCount: 4)
        for count in [1, 3, 4, 17, 1000] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
            hits.initialize(repeating: 0, count: count)
            pool.parallelFor(count) { range, _ in for i in range { hits[i] += 1 } }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: hits, count: count)), [Int](repeating: 1, count: count))
            hits.deallocate()
        }
        // A nested call finds the pool busy and runs inline: still every index once.
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 4 * 10)
        total.initialize(repeating: 0, count: 40)
        pool.run { outer in
            pool.parallelFor(10) { range, _ in for i in range { total[outer * 10 + i] += 1 } }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: total, count: 40)), [Int](repeating: 1, count: 40))
        total.deallocate()
    }
}
