// 4-bit block quantization of weight matrices, as stored in `.smm` files (quantization code 3,
// format 1.2), in the manner of ggml's q4_0:
//
//   a block is 32 consecutive inputs k = 32b ..< 32b + 32 of one output n;
//   m        = the element of the block with the largest |w| (the first one on ties)
//   d        = f16(m / -8)                      (the block's scale, stored as IEEE binary16; 0 when m is 0)
//   q        = clamp(round_half_away(w / d) + 8, 0, 15)   (8, i.e. 0, when d is 0)
//   w'       = d × (q − 8)
//
// so the extreme value of a block is stored exactly as −8·d and the others land on 15 steps.
// Readers need only d and q (any d is valid). A search over scales (least squared error among
// m / −t for t in 8...11, each refitted by least squares) was tried: 5% less squared error on the
// weights, tiny-gpt2 logits worst cosine 0.890 -> 0.918 but top-1 20 -> 19 of 28, MiniLM against
// sentence-transformers 0.907 -> 0.904, and about twice the quantization time: not kept.
// Byte layout of a tensor with N outputs and K inputs (K a multiple of 32), whatever the order of
// the checkpoint's matrix: blocks output by output, 16 bytes each,
//
//   byte  (n · K/32 + b) · 16 + j   (j < 16)  = q(n, 32b + j) | q(n, 32b + 16 + j) << 4
//
// and the scales an f16 tensor of shape [N, K/32], scale (n, b) at index n · K/32 + b.
// The same functions serve the converter (quantize), the reader (dequantize), quantization at load
// time and the q4 kernels' packing (SMMKernels/Q4Matrix.swift), so all of them hold identical bits.

/// 4-bit block quantization ("q4", 32 weights per block, one f16 scale each).
public enum SMMQ4Blocks {
    /// Weights per block.
    public static let blockSize = 32
    /// Bytes per block of 4-bit values.
    public static let blockBytes = 16

    /// True when a tensor of `shape` with outputs along `axis` can be stored in q4 blocks: rank 2,
    /// axis 0 or 1, a positive number of outputs, and a positive multiple of 32 inputs.
    public static func accepts(shape: [Int], axis: Int) -> Bool {
        shape.count == 2 && (axis == 0 || axis == 1) && shape[axis] > 0 && shape[1 - axis] > 0
            && shape[1 - axis] % blockSize == 0
    }

    /// (outputs N, inputs K) of a rank-2 tensor with outputs along `axis`.
    public static func geometry(shape: [Int], axis: Int) -> (outputs: Int, inputs: Int) {
        precondition(shape.count == 2 && (axis == 0 || axis == 1), "q4 blocks need a rank-2 shape and axis 0 or 1")
        return (shape[axis], shape[1 - axis])
    }

    /// Bytes of the 4-bit values of a tensor of `shape` (half its element count).
    public static func valueBytes(shape: [Int]) -> Int { shape.reduce(1, *) / 2 }

    /// Shape of the scale tensor of a tensor of `shape` with outputs along `axis`: [N, K/32].
    public static func scaleShape(shape: [Int], axis: Int) -> [Int] {
        let (n, k) = geometry(shape: shape, axis: axis)
        return [n, k / blockSize]
    }

    /// The f16 bits of `f16(extreme / -8)`, the scale that stores a block's largest-magnitude element
    /// `extreme` exactly, or nil when that does not fit in f16 (|extreme| ≥ 8 × 65520).
    @inline(__always)
    public static func scaleBits(extreme: Float) -> UInt16? {
        let bits = f32ToF16Bits(extreme / -8)
        return bits & 0x7c00 == 0x7c00 ? nil : bits
    }

    /// The 4-bit code of `value` at the (decoded) scale `d`: clamp(round(value / d) + 8, 0, 15), 8 for
    /// a zero scale or a NaN.
    @inline(__always)
    public static func code(_ value: Float, scale d: Float) -> UInt8 {
        guard d != 0 else { return 8 }
        let v = (value / d).rounded()
        if v.isNaN { return 8 }
        return UInt8(max(0, min(15, v + 8)))
    }

    /// Quantizes output `n`'s `k` inputs, read at `src[i * stride]`, into `k / 2` bytes at `values`
    /// and `k / 32` scale bits at `scales`.
    /// - Returns: the input index of a block whose scale does not fit in f16, or nil when all do.
    public static func quantizeRow(_ src: UnsafePointer<Float>, stride: Int, count k: Int,
                                   values: UnsafeMutablePointer<UInt8>, scales: UnsafeMutablePointer<UInt16>) -> Int? {
        precondition(k % blockSize == 0, "q4 rows need a multiple of \(blockSize) inputs, not \(k)")
        var failed: Int?
        for b in 0..<(k / blockSize) {
            let base = src + b * blockSize * stride
            var extreme: Float = 0
            for j in 0..<blockSize {
                let x = base[j * stride]
                if abs(x) > abs(extreme) { extreme = x }     // NaN compares false: ignored
            }
            let bits: UInt16
            if extreme == 0 {
                bits = 0
            } else if let s = scaleBits(extreme: extreme) {
                bits = s
            } else {
                failed = failed ?? b * blockSize
                bits = 0
            }
            scales[b] = bits
            let d = Float(bitPattern: f16BitsToF32Bits(bits))
            let out = values + b * blockBytes
            for j in 0..<blockBytes {
                out[j] = code(base[j * stride], scale: d) | code(base[(j + blockBytes) * stride], scale: d) << 4
            }
        }
        return failed
    }

    /// Σ (x − value(code(x)))² of a block at scale bits `bits` (for measurements and tests).
    public static func squaredError(_ x: UnsafeBufferPointer<Float>, scaleBits bits: UInt16) -> Float {
        let d = Float(bitPattern: f16BitsToF32Bits(bits))
        var e: Float = 0
        for v in x {
            let r = v - d * Float(Int(code(v, scale: d)) - 8)
            e += r * r
        }
        return e
    }

    /// Quantizes the float tensor at `src` (row-major `shape`, outputs along `axis`) into `values`
    /// (`valueBytes(shape:)` bytes) and `scales` (N × K/32 f16 bits).
    /// - Returns: (output, input) of the first element of a block whose scale does not fit in f16
    ///   (values beyond ±524,000), or nil when the whole tensor was quantized.
    @discardableResult
    public static func quantize(_ src: UnsafePointer<Float>, shape: [Int], axis: Int,
                                values: UnsafeMutablePointer<UInt8>, scales: UnsafeMutablePointer<UInt16>)
        -> (output: Int, input: Int)? {
        precondition(accepts(shape: shape, axis: axis), "shape \(shape) axis \(axis) cannot be stored in q4 blocks")
        let (n, k) = geometry(shape: shape, axis: axis)
        let blocks = k / blockSize
        var failed: (Int, Int)?
        for o in 0..<n {
            let row = axis == 0 ? src + o * k : src + o
            let stride = axis == 0 ? 1 : n
            if let input = quantizeRow(row, stride: stride, count: k, values: values + o * blocks * blockBytes,
                                       scales: scales + o * blocks), failed == nil {
                failed = (o, input)
            }
        }
        return failed
    }

    /// The value of code `q` at scale bits `scale`: f16(scale) × (q − 8).
    @inline(__always)
    public static func value(code q: UInt8, scaleBits: UInt16) -> Float {
        Float(bitPattern: f16BitsToF32Bits(scaleBits)) * Float(Int(q) - 8)
    }

    /// Dequantizes output `n`'s `k` inputs from `values` / `scales` (any alignment, little-endian
    /// scales) to `dst[i * stride]`.
    public static func dequantizeRow(values: UnsafeRawPointer, scales: UnsafeRawPointer, count k: Int,
                                     into dst: UnsafeMutablePointer<Float>, stride: Int) {
        for b in 0..<(k / blockSize) {
            let bits = UInt16(littleEndian: scales.loadUnaligned(fromByteOffset: 2 * b, as: UInt16.self))
            let d = Float(bitPattern: f16BitsToF32Bits(bits))
            let bytes = values + b * blockBytes
            let out = dst + b * blockSize * stride
            for j in 0..<blockBytes {
                let byte = bytes.load(fromByteOffset: j, as: UInt8.self)
                out[j * stride] = d * Float(Int(byte & 0x0f) - 8)
                out[(j + blockBytes) * stride] = d * Float(Int(byte >> 4) - 8)
            }
        }
    }

    /// Dequantizes a whole q4 tensor (row-major `shape`, outputs along `axis`) into `dst`.
    public static func dequantize(values: UnsafeRawPointer, scales: UnsafeRawPointer, shape: [Int], axis: Int,
                                  into dst: UnsafeMutablePointer<Float>) {
        let (n, k) = geometry(shape: shape, axis: axis)
        let blocks = k / blockSize
        for o in 0..<n {
            dequantizeRow(values: values + o * blocks * blockBytes, scales: scales + 2 * o * blocks, count: k,
                          into: axis == 0 ? dst + o * k : dst + o, stride: axis == 0 ? 1 : n)
        }
    }

    /// Replaces the float tensor at `src` by what storing it in q4 blocks and reading it back gives.
    /// - Returns: as `quantize`: the first element whose block's scale overflows f16, else nil.
    @discardableResult
    public static func roundTrip(_ src: UnsafeMutablePointer<Float>, shape: [Int], axis: Int) -> (output: Int, input: Int)? {
        let (n, k) = geometry(shape: shape, axis: axis)
        let values = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, n * k / 2))
        let scales = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, n * k / blockSize))
        defer { values.deallocate(); scales.deallocate() }
        let failed = quantize(UnsafePointer(src), shape: shape, axis: axis, values: values, scales: scales)
        dequantize(values: values, scales: scales, shape: shape, axis: axis, into: src)
        return failed
    }
}
