/// Element types of stored tensors: every dtype the safetensors format defines.
///
/// The raw value is the lower-case short name (`"f32"`, `"bf16"`); `safetensorsName` is the
/// spelling used in safetensors headers (`"F32"`, `"BF16"`). Only the floating-point types
/// `f32`, `f16`, `bf16` and `f64` can be converted to `Float`; the others can be listed in a file and
/// read as raw bytes.
public enum ElementType: String, Sendable, Codable, CaseIterable, Hashable {
    /// IEEE 754 binary32.
    case f32
    /// IEEE 754 binary16 (half precision).
    case f16
    /// bfloat16: the upper 16 bits of a binary32.
    case bf16
    /// IEEE 754 binary64.
    case f64
    /// 8-bit float, 4 exponent bits, 3 mantissa bits.
    case f8e4m3
    /// 8-bit float, 5 exponent bits, 2 mantissa bits.
    case f8e5m2
    /// Signed integers.
    case i8, i16, i32, i64
    /// Unsigned integers.
    case u8, u16, u32, u64
    /// Booleans, one byte each.
    case bool

    /// Size of one element in bytes.
    public var byteSize: Int {
        switch self {
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: return 1
        case .f16, .bf16, .i16, .u16: return 2
        case .f32, .i32, .u32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// The name used in safetensors headers.
    public var safetensorsName: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .f8e4m3: return "F8_E4M3"
        case .f8e5m2: return "F8_E5M2"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .u8: return "U8"
        case .u16: return "U16"
        case .u32: return "U32"
        case .u64: return "U64"
        case .bool: return "BOOL"
        }
    }

    /// The dtype spelled `name` in a safetensors header (`"F32"`, `"BF16"`, ...), or nil.
    public init?(safetensorsName name: String) {
        guard let match = ElementType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
        self = match
    }

    /// True for the types `convertToF32` accepts: f32, f16, bf16 and f64.
    public var isConvertibleToF32: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64: return true
        default: return false
        }
    }
}

// MARK: - Conversions to Float32

/// Converts `count` little-endian IEEE binary16 values at `src` (any alignment) to `Float` at `dst`.
///
/// Bit exact for every input, subnormals, infinities and NaNs included (a NaN keeps its sign and
/// payload, its quiet bit unchanged). Branch-free so that the loop vectorises.
public func convertF16ToF32(src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    for i in 0..<count {
        let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
        dst[i] = Float(bitPattern: f16BitsToF32Bits(h))
    }
}

/// Converts `count` little-endian bfloat16 values at `src` (any alignment) to `Float` at `dst`.
/// Exact: a bfloat16 is the upper half of a binary32.
public func convertBF16ToF32(src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    for i in 0..<count {
        let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self))
        dst[i] = Float(bitPattern: UInt32(h) &<< 16)
    }
}

/// Copies `count` little-endian binary32 values at `src` (any alignment) to `dst`.
public func convertF32ToF32(src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    #if _endian(little)
    UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count &* 4)
    #else
    for i in 0..<count {
        dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self)))
    }
    #endif
}

/// Converts `count` little-endian binary64 values at `src` (any alignment) to `Float` at `dst`,
/// rounding to nearest.
public func convertF64ToF32(src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    for i in 0..<count {
        let bits = UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self))
        dst[i] = Float(Double(bitPattern: bits))
    }
}

/// Converts `count` elements of type `dtype` at `src` to `Float` at `dst`.
/// - Returns: false (and writes nothing) when `dtype` is not f32, f16, bf16 or f64.
@discardableResult
public func convertToF32(_ dtype: ElementType, src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) -> Bool {
    switch dtype {
    case .f32: convertF32ToF32(src: src, dst: dst, count: count)
    case .f16: convertF16ToF32(src: src, dst: dst, count: count)
    case .bf16: convertBF16ToF32(src: src, dst: dst, count: count)
    case .f64: convertF64ToF32(src: src, dst: dst, count: count)
    default: return false
    }
    return true
}

/// The binary32 bit pattern of the binary16 value with bits `h` (exact, branch-free).
///
/// Exponent and mantissa are moved into place and the exponent rebiased; infinities and NaNs get the
/// all-ones exponent; zeros and subnormals are renormalised by a float subtraction that is exact
/// (its result, at least 2⁻²⁴ in magnitude, is a normal binary32 even with flush-to-zero on).
@inline(__always)
public func f16BitsToF32Bits(_ h: UInt16) -> UInt32 {
    let bits = UInt32(h)
    let sign = (bits & 0x8000) &<< 16
    let shifted = (bits & 0x7fff) &<< 13                 // exponent and mantissa in binary32 position
    let exponent = shifted & 0x0f80_0000                   // 0x7c00 << 13
    let normal = shifted &+ 0x3800_0000                    // rebias: (127 - 15) << 23
    let special = normal &+ 0x3800_0000                    // inf/nan: exponent all ones
    let tiny = Float(bitPattern: normal &+ 0x0080_0000) - Float(bitPattern: 0x3880_0000) // m * 2^-24
    var result = exponent == 0x0f80_0000 ? special : normal
    result = exponent == 0 ? tiny.bitPattern : result
    return result | sign
}

// MARK: - Conversions from Float32

/// Converts `count` floats at `src` to little-endian IEEE binary16 at `dst` (any alignment),
/// rounding to nearest, ties to even. Values too large become ±infinity; NaNs stay NaNs (quiet,
/// sign and upper payload bits kept).
public func convertF32ToF16(src: UnsafePointer<Float>, dst: UnsafeMutableRawPointer, count: Int) {
    guard count > 0 else { return }
    for i in 0..<count {
        dst.storeBytes(of: f32ToF16Bits(src[i]).littleEndian, toByteOffset: 2 &* i, as: UInt16.self)
    }
}

/// Converts `count` floats at `src` to little-endian bfloat16 at `dst` (any alignment), rounding to
/// nearest, ties to even (as PyTorch does). NaNs stay NaNs (quiet).
public func convertF32ToBF16(src: UnsafePointer<Float>, dst: UnsafeMutableRawPointer, count: Int) {
    guard count > 0 else { return }
    for i in 0..<count {
        dst.storeBytes(of: f32ToBF16Bits(src[i]).littleEndian, toByteOffset: 2 &* i, as: UInt16.self)
    }
}

/// The binary16 bit pattern nearest to `value` (round to nearest, ties to even).
public func f32ToF16Bits(_ value: Float) -> UInt16 {
    var bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits & 0x8000_0000) >> 16)
    bits &= 0x7fff_ffff
    let result: UInt32
    if bits >= 0x4780_0000 {                      // >= 65536 (2^16), or inf/nan
        if bits > 0x7f80_0000 {
            result = 0x7e00 | ((bits >> 13) & 0x03ff) // quiet NaN, upper payload kept
        } else {
            result = 0x7c00                       // overflow or infinity
        }
    } else if bits < 0x3880_0000 {                // below 2^-14: subnormal or zero in binary16
        // Adding 0.5 aligns the 10 mantissa bits at the bottom; the FPU rounds to nearest even.
        let magic = Float(bitPattern: 0x3f00_0000) // 0.5 = ((127 - 15) + (23 - 10) + 1) << 23
        let sum = Float(bitPattern: bits) + magic
        result = sum.bitPattern &- magic.bitPattern
    } else {
        let mantissaOdd = (bits >> 13) & 1
        var rounded = bits &+ 0xc800_0fff         // rebias ((15 - 127) << 23) and round (0xfff)
        rounded &+= mantissaOdd
        result = rounded >> 13
    }
    return UInt16(truncatingIfNeeded: result) | sign
}

/// The bfloat16 bit pattern nearest to `value` (round to nearest, ties to even).
public func f32ToBF16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN {
        return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
    }
    let rounding = 0x7fff &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}
