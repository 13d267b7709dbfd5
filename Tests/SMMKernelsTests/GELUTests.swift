import CMicroKernels
import Foundation
import XCTest
@testable import SMMKernels

/// The AVX-512 GELU loops (CMicroKernels/GELU.c) give the same bits as Swift's Float8 loops, and
/// both stay within 1e-6 of the exact functions.
final class GELUTests: XCTestCase {
    private func inputs() -> [Float] {
        var rng = SeededRandom(seed: 61)
        var x = rng.floats(5000, -12...12) + rng.floats(3000, -0.01...0.01) + rng.floats(2000, -200...200)
        x += [0, -0.0, 4, -4, 9, -9, 4.0001, -4.0001, 88.5, -88.5, 1e-30, -1e-30, .infinity, -.infinity,
              .greatestFiniteMagnitude, -.greatestFiniteMagnitude, Float(bitPattern: 1), .nan]
        return x + [1.5, -2.5, 3.25]   // a length that leaves a partial vector
    }

    func testVectorGELUEqualsSwiftGELUBitForBit() throws {
        guard Activations.hasVectorGELU else { throw XCTSkip("this CPU has no AVX-512 (F, BW, VL)") }
        for (name, swift, vector) in [
            ("gelu", { (p: UnsafeMutablePointer<Float>, n: Int) in Activations.geluErf(p, count: n, vector: false) },
             { (p: UnsafeMutablePointer<Float>, n: Int) in Activations.geluErf(p, count: n, vector: true) }),
            ("gelu_new", { (p: UnsafeMutablePointer<Float>, n: Int) in Activations.geluTanh(p, count: n, vector: false) },
             { (p: UnsafeMutablePointer<Float>, n: Int) in Activations.geluTanh(p, count: n, vector: true) }),
        ] {
            for count in [0, 1, 15, 16, 17, inputs().count] {
                var a = Array(inputs().prefix(count)), b = a
                swift(&a, count)
                vector(&b, count)
                let differing = (0..<count).filter { a[$0].bitPattern != b[$0].bitPattern && !(a[$0].isNaN && b[$0].isNaN) }
                XCTAssertEqual(differing.count, 0, "\(name) count \(count): first at \(differing.first.map { "\(inputs()[$0]): \(a[$0]) vs \(b[$0])" } ?? "")")
            }
        }
    }

    func testGELUStaysCloseToTheExactFunctions() {
        let x = inputs().filter { $0.isFinite && abs($0) < 50 }
        var erfForm = x, tanhForm = x
        Activations.applySerial(.gelu, &erfForm, count: x.count)
        Activations.applySerial(.geluNew, &tanhForm, count: x.count)
        for (i, v) in x.enumerated() {
            let d = Double(v)
            let exact = 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot()))
            let exactTanh = 0.5 * d * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
            XCTAssertEqual(Double(erfForm[i]), exact, accuracy: 1e-6 * max(1, abs(exact)), "gelu(\(v))")
            XCTAssertEqual(Double(tanhForm[i]), exactTanh, accuracy: 1e-6 * max(1, abs(exactTanh)), "gelu_new(\(v))")
        }
        // NaN in, NaN out; the infinities go to their limits.
        var special: [Float] = [.nan, .infinity, -.infinity]
        Activations.applySerial(.gelu, &special, count: 3)
        XCTAssertTrue(special[0].isNaN)
        XCTAssertEqual(special[1], .infinity)
        XCTAssertTrue(special[2] == 0 || special[2].isNaN, "\(special[2])")
    }
}
