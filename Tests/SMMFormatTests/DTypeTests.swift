import XCTest
@testable import SMMFormat

final class DTypeTests: XCTestCase {

    /// Straightforward (slow) binary16 → binary32 decoding, written independently of the library's.
    private func referenceF16ToF32Bits(_ h: UInt16) -> UInt32 {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1f)
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 31 { return sign | 0x7f80_0000 | (mantissa << 13) }   // inf / nan, payload kept
        if exponent == 0 {
            // zero / subnormal: mantissa × 2^-24, exact in binary32
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign | magnitude.bitPattern
        }
        return sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13)
    }

    func testByteSizesAndNames() {
        XCTAssertEqual(ElementType.f32.byteSize, 4)
        XCTAssertEqual(ElementType.f16.byteSize, 2)
        XCTAssertEqual(ElementType.bf16.byteSize, 2)
        XCTAssertEqual(ElementType.i8.byteSize, 1)
        XCTAssertEqual(ElementType.i64.byteSize, 8)
        XCTAssertEqual(ElementType.bool.byteSize, 1)
        XCTAssertEqual(ElementType(safetensorsName: "BF16"), .bf16)
        XCTAssertEqual(ElementType(safetensorsName: "F8_E4M3"), .f8e4m3)
        XCTAssertEqual(ElementType(safetensorsName: "I64"), .i64)
        XCTAssertNil(ElementType(safetensorsName: "f32"), "names are case sensitive")
        XCTAssertNil(ElementType(safetensorsName: "Q4_0"))
        for dtype in ElementType.allCases {
            XCTAssertEqual(ElementType(safetensorsName: dtype.safetensorsName), dtype)
        }
        XCTAssertEqual(ElementType.allCases.filter(\.isConvertibleToF32), [.f32, .f16, .bf16, .f64])
    }

    func testF16ToF32ExhaustiveAgainstReference() {
        let all = (0...UInt16.max).map { $0 }
        var out = [Float](repeating: .nan, count: all.count)
        all.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                convertF16ToF32(src: src.baseAddress!, dst: dst.baseAddress!, count: all.count)
            }
        }
        var mismatches = 0
        for h in all {
            let expected = referenceF16ToF32Bits(h)
            let scalar = f16BitsToF32Bits(h)
            if out[Int(h)].bitPattern != expected || scalar != expected {
                mismatches += 1
                if mismatches < 5 {
                    XCTFail("f16 0x\(String(h, radix: 16)): got 0x\(String(out[Int(h)].bitPattern, radix: 16)), expected 0x\(String(expected, radix: 16))")
                }
            }
        }
        XCTAssertEqual(mismatches, 0)
        // Spot checks of well-known values.
        XCTAssertEqual(out[0x3c00], 1.0)
        XCTAssertEqual(out[0xc000], -2.0)
        XCTAssertEqual(out[0x7bff], 65504.0)
        XCTAssertEqual(out[0x0001], Float(sign: .plus, exponent: -24, significand: 1)) // smallest subnormal
        XCTAssertEqual(out[0x0400], Float(sign: .plus, exponent: -14, significand: 1)) // smallest normal
        XCTAssertEqual(out[0x7c00], .infinity)
        XCTAssertEqual(out[0xfc00], -.infinity)
        XCTAssertEqual(out[0x8000].bitPattern, 0x8000_0000) // -0
        XCTAssertTrue(out[0x7e00].isNaN)
        XCTAssertTrue(out[0x7d00].isSignalingNaN)
    }

    #if !(os(macOS) && arch(x86_64))
    func testF16ToF32ExhaustiveAgainstSwiftFloat16() {
        for h in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: h))
            let got = Float(bitPattern: f16BitsToF32Bits(h))
            if expected.isNaN {
                XCTAssertTrue(got.isNaN, "0x\(String(h, radix: 16))")
                XCTAssertEqual(got.sign, expected.sign)
            } else {
                XCTAssertEqual(got.bitPattern, expected.bitPattern, "0x\(String(h, radix: 16))")
            }
        }
    }

    func testF32ToF16MatchesSwiftFloat16() {
        var rng = SeededGenerator(seed: 0xF16)
        var inputs: [Float] = [0, -0, 1, -1, 65504, 65519.996, 65520, 65536, 1e10, .infinity, -.infinity,
                               .nan, -.nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                               Float(sign: .plus, exponent: -25, significand: 1),      // tie to 0
                               Float(sign: .plus, exponent: -25, significand: 1.5),    // rounds up to 2^-24
                               Float(sign: .plus, exponent: -14, significand: 1) * 0.99999]
        // Every binary16 value and every exact midpoint between neighbours (ties to even).
        for h in UInt16(0)..<0x7c00 {
            let value = Float(Float16(bitPattern: h))
            let next = Float(Float16(bitPattern: h + 1))
            inputs.append(value)
            inputs.append(-value)
            inputs.append((value + next) / 2)
            inputs.append(value.nextUp)
            inputs.append(next.nextDown)
        }
        for _ in 0..<300_000 { inputs.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))) }
        var out = [UInt16](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                convertF32ToF16(src: src.baseAddress!, dst: dst.baseAddress!, count: inputs.count)
            }
        }
        var mismatches = 0
        for (i, value) in inputs.enumerated() {
            let expected = Float16(value)
            let got = Float16(bitPattern: out[i])
            let ok = expected.isNaN ? (got.isNaN && got.sign == expected.sign) : got.bitPattern == expected.bitPattern
            if !ok {
                mismatches += 1
                if mismatches < 5 { XCTFail("\(value) (0x\(String(value.bitPattern, radix: 16))): got 0x\(String(got.bitPattern, radix: 16)), expected 0x\(String(expected.bitPattern, radix: 16))") }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }
    #endif

    func testBF16ToF32Exhaustive() {
        let all = (0...UInt16.max).map { $0 }
        var out = [Float](repeating: 0, count: all.count)
        all.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                convertBF16ToF32(src: src.baseAddress!, dst: dst.baseAddress!, count: all.count)
            }
        }
        for h in all {
            XCTAssertEqual(out[Int(h)].bitPattern, UInt32(h) << 16)
        }
        XCTAssertEqual(out[0x3f80], 1.0)
        XCTAssertEqual(out[0xc040], -3.0)
    }

    func testF32ToBF16RoundsToNearestEven() {
        XCTAssertEqual(f32ToBF16Bits(1.0), 0x3f80)
        // 1 + 2^-8 is exactly halfway between 1 (even) and 1 + 2^-7: ties to even → 1.
        XCTAssertEqual(f32ToBF16Bits(1 + 1.0 / 256), 0x3f80)
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even) → up.
        XCTAssertEqual(f32ToBF16Bits(1 + 3.0 / 256), 0x3f82)
        XCTAssertEqual(f32ToBF16Bits(1 + 1.0 / 256 + 1.0 / 65536), 0x3f81) // above half → up
        XCTAssertEqual(f32ToBF16Bits(.infinity), 0x7f80)
        XCTAssertEqual(f32ToBF16Bits(.greatestFiniteMagnitude), 0x7f80)     // rounds to inf
        XCTAssertTrue(Float(bitPattern: UInt32(f32ToBF16Bits(.nan)) << 16).isNaN)
        // NaN whose payload lives only in the low bits must not become infinity.
        XCTAssertTrue(Float(bitPattern: UInt32(f32ToBF16Bits(Float(bitPattern: 0x7f80_0001))) << 16).isNaN)
        // Random values: the result is one of the two neighbours, the nearer one.
        var rng = SeededGenerator(seed: 0xBF16)
        for _ in 0..<100_000 {
            let value = Float.random(in: -1e6...1e6, using: &rng)
            let rounded = Float(bitPattern: UInt32(f32ToBF16Bits(value)) << 16)
            let down = Float(bitPattern: value.bitPattern & 0xffff_0000)
            let up = Float(bitPattern: (value.bitPattern & 0xffff_0000) + 0x1_0000)
            XCTAssertTrue(rounded == down || rounded == up)
            XCTAssertLessThanOrEqual(abs(Double(rounded) - Double(value)),
                                     min(abs(Double(down) - Double(value)), abs(Double(up) - Double(value))))
        }
    }

    func testConversionsFromUnalignedSourceAndDispatch() {
        let values: [Float] = [1.5, -2.25, 0.125, 1000, -0.0, 3.0e-5]
        for dtype in [ElementType.f32, .f16, .bf16, .f64] {
            let encoded = SafetensorsTestWriter.encode(values, as: dtype)
            var shifted: [UInt8] = [0xAA]
            shifted += encoded
            var out = [Float](repeating: .nan, count: values.count)
            let ok = shifted.withUnsafeBytes { raw in
                out.withUnsafeMutableBufferPointer { dst in
                    convertToF32(dtype, src: raw.baseAddress! + 1, dst: dst.baseAddress!, count: values.count)
                }
            }
            XCTAssertTrue(ok)
            for (got, want) in zip(out, values) {
                // f16 / bf16 lose precision on 3e-5; compare with the precision of the type.
                let tolerance: Float = dtype == .bf16 ? abs(want) / 128 : (dtype == .f16 ? abs(want) / 1024 + 6e-8 : 0)
                XCTAssertEqual(got, want, accuracy: tolerance, "\(dtype)")
            }
            XCTAssertEqual(out[4].sign, .minus, "-0 keeps its sign in \(dtype)")
        }
        var out: [Float] = [7]
        let ok = [UInt8](repeating: 1, count: 8).withUnsafeBytes { raw in
            convertToF32(.i64, src: raw.baseAddress!, dst: &out, count: 1)
        }
        XCTAssertFalse(ok)
        XCTAssertEqual(out, [7], "nothing written for an unsupported dtype")
    }
}
