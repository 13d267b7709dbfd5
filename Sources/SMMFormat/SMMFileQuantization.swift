// Symmetric per-channel int8 quantization of weights, as stored in `.smm` files:
//
//   scale[c] = max |w| over channel c / 127          (0 for an all-zero channel)
//   q        = clamp(round(w / scale[c]), -127, 127)  (ties away from zero; 0 when scale is 0)
//   w'       = Float(q) × scale[c]
//
// A channel is one index along `axis`, the tensor's output-channel axis: 0 for an `nn.Linear`
// weight (out, in) or an embedding table (rows), 1 for GPT-2's `Conv1D` weight (in, out).
// The same functions serve the converter (quantize), the reader (dequantize), quantization at load
// time (round trip) and the int8 kernels' packing (SMMKernels/Int8Packing.swift, Int8Reference.swift),
// so that all of them give bit-identical weights.

/// Per-channel symmetric int8 quantization.
public enum SMMQuantizer {
    /// (outer, channels, inner) of a row-major tensor viewed around `axis`: element (o, c, i) is at
    /// (o × channels + c) × inner + i.
    public static func geometry(shape: [Int], axis: Int) -> (outer: Int, channels: Int, inner: Int) {
        precondition(axis >= 0 && axis < shape.count, "quantization axis \(axis) outside rank \(shape.count)")
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    /// The scale of every channel of the float tensor at `src`.
    public static func int8Scales(_ src: UnsafePointer<Float>, shape: [Int], axis: Int) -> [Float] {
        let (outer, channels, inner) = geometry(shape: shape, axis: axis)
        var maxima = [Float](repeating: 0, count: channels)
        maxima.withUnsafeMutableBufferPointer { m in
            for o in 0..<outer {
                for c in 0..<channels {
                    let row = src + (o * channels + c) * inner
                    var best = m[c]
                    for i in 0..<inner {
                        let a = abs(row[i])
                        if a > best { best = a }      // NaN compares false: ignored
                    }
                    m[c] = best
                }
            }
        }
        return maxima.map(scale(maxAbs:))
    }

    /// The scale of a channel whose largest magnitude is `maxAbs` (0 for an all-zero or non-finite channel).
    /// The one statement of the rule: the kernels' int8 packing and reference use it too.
    @inline(__always)
    public static func scale(maxAbs: Float) -> Float {
        maxAbs.isFinite && maxAbs > 0 ? maxAbs / 127 : 0
    }

    /// The int8 value of `value` at `scale` (never traps: NaN and zero scales give 0).
    @inline(__always)
    public static func quantize(_ value: Float, scale: Float) -> Int8 {
        guard scale > 0, scale.isFinite else { return 0 }
        let v = (value / scale).rounded()
        if v.isNaN { return 0 }
        return Int8(max(-127, min(127, v)))
    }

    /// Quantizes the float tensor at `src` with per-channel `scales` (from `int8Scales`) into `dst`.
    public static func quantizeInt8(_ src: UnsafePointer<Float>, shape: [Int], axis: Int, scales: [Float],
                                    into dst: UnsafeMutablePointer<Int8>) {
        let (outer, channels, inner) = geometry(shape: shape, axis: axis)
        precondition(scales.count == channels, "\(scales.count) scales for \(channels) channels")
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                let scale = scales[c]
                for i in 0..<inner { dst[base + i] = quantize(src[base + i], scale: scale) }
            }
        }
    }

    /// Dequantizes the int8 tensor at `src` (any alignment) with the little-endian f32 `scales` (one per
    /// channel along `axis`) into `dst`.
    public static func dequantizeInt8(_ src: UnsafeRawPointer, shape: [Int], axis: Int, scales: UnsafeRawPointer,
                                      into dst: UnsafeMutablePointer<Float>) {
        let (outer, channels, inner) = geometry(shape: shape, axis: axis)
        let q = src.assumingMemoryBound(to: Int8.self)
        for o in 0..<outer {
            for c in 0..<channels {
                let scale = Float(bitPattern: UInt32(littleEndian: scales.loadUnaligned(fromByteOffset: 4 * c, as: UInt32.self)))
                let base = (o * channels + c) * inner
                for i in 0..<inner { dst[base + i] = Float(q[base + i]) * scale }
            }
        }
    }

    /// Replaces the float tensor at `values` by what storing it as `dtype` and reading it back gives:
    /// f16 / bf16 rounding, or int8 quantization along `axis` then dequantization. f32 leaves it as is.
    public static func roundTrip(_ values: UnsafeMutablePointer<Float>, shape: [Int], as dtype: ElementType, axis: Int) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        switch dtype {
        case .f16:
            for i in 0..<count { values[i] = Float(bitPattern: f16BitsToF32Bits(f32ToF16Bits(values[i]))) }
        case .bf16:
            for i in 0..<count { values[i] = Float(bitPattern: UInt32(f32ToBF16Bits(values[i])) << 16) }
        case .i8:
            let scales = int8Scales(values, shape: shape, axis: axis)
            let (outer, channels, inner) = geometry(shape: shape, axis: axis)
            for o in 0..<outer {
                for c in 0..<channels {
                    let base = (o * channels + c) * inner
                    let scale = scales[c]
                    for i in 0..<inner { values[base + i] = Float(quantize(values[base + i], scale: scale)) * scale }
                }
            }
        default:
            break
        }
    }
}
