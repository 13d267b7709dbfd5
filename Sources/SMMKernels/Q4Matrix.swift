// A 4-bit block weight matrix packed for the q4 kernels: layout "Q4 16x32" of
// include/CMicroKernels.h, made from the `.smm` format's q4 blocks (`SMMQ4Blocks`: output by
// output, 16 bytes and one f16 scale per 32 inputs) by a permutation of nibbles, so the file's codes
// and scales are used exactly. Outputs past N in the last panel have code 8 and scale 0.
import SMMFormat

/// A (N, K) weight matrix in 4-bit blocks of 32 inputs, packed in panels of 16 outputs.
public final class Q4Matrix: @unchecked Sendable {
    /// Number of outputs (N).
    public let outFeatures: Int
    /// Number of inputs (K), a multiple of 32.
    public let inFeatures: Int
    /// Blocks of 32 inputs per output (K / 32).
    public let blocks: Int
    /// Panels of 16 outputs (ceil(N / 16)).
    public let panels: Int
    /// The packed codes: panel p at `codes + p * panelBytes`.
    public let codes: UnsafeMutablePointer<UInt8>
    /// The f16 scale bits: 16 per (panel, block), panel p at `scales + p * blocks * 16`.
    public let scales: UnsafeMutablePointer<UInt16>

    /// Outputs per panel.
    public static let panelOutputs = 16
    /// Bytes of one panel: 256 per block.
    public var panelBytes: Int { blocks * 256 }
    /// Bytes of weight data held (codes and scales).
    public var byteCount: Int { panels * panelBytes + panels * blocks * 32 }

    /// Packs N outputs from the format's q4 blocks: `values` (N·K/2 bytes, output by output) and
    /// `scaleBits` (N·K/32 f16 bit patterns, native byte order); see `SMMQ4Blocks`.
    public init(values: UnsafePointer<UInt8>, scaleBits: UnsafePointer<UInt16>, outFeatures n: Int, inFeatures k: Int,
                pool: WorkerPool = .shared) {
        precondition(n > 0 && k > 0 && k % SMMQ4Blocks.blockSize == 0, "q4 matrix \(n)x\(k): K must be a positive multiple of 32")
        outFeatures = n
        inFeatures = k
        blocks = k / SMMQ4Blocks.blockSize
        panels = (n + 15) / 16
        let blocks = self.blocks, panelBytes = blocks * 256
        codes = UnsafeMutableRawPointer.allocate(byteCount: max(64, panels * panelBytes), alignment: 64)
            .bindMemory(to: UInt8.self, capacity: panels * panelBytes)
        codes.initialize(repeating: 0x88, count: panels * panelBytes)     // code 8 (= 0) in both nibbles
        scales = UnsafeMutableRawPointer.allocate(byteCount: max(64, panels * blocks * 32), alignment: 64)
            .bindMemory(to: UInt16.self, capacity: panels * blocks * 16)
        scales.initialize(repeating: 0, count: panels * blocks * 16)
        let codes = self.codes, scales = self.scales
        pool.parallelFor(panels, minimumPerWorker: 64) { range, _ in
            for p in range {
                for c in 0..<min(16, n - 16 * p) {
                    let row = 16 * p + c
                    let src = values + row * blocks * 16
                    for b in 0..<blocks {
                        scales[(p * blocks + b) * 16 + c] = scaleBits[row * blocks + b]
                        let out = codes + p * panelBytes + b * 256 + c * 4
                        for h in 0..<4 {
                            for t in 0..<4 {
                                let lo = Self.code(src + b * 16, index: 8 * h + t)
                                let hi = Self.code(src + b * 16, index: 8 * h + 4 + t)
                                out[h * 64 + t] = lo | hi << 4
                            }
                        }
                    }
                }
            }
        }
    }

    /// Quantizes f32 weights (`n` x `k` in `layout` order) to q4 blocks (`SMMQ4Blocks.quantize`: the
    /// codes and scales a converted file holds) and packs them.
    /// - Returns: nil when a block's scale does not fit in f16 (weights beyond ±524,000).
    public convenience init?(quantizing weights: UnsafePointer<Float>, outFeatures n: Int, inFeatures k: Int,
                             layout: LinearWeight.Layout, pool: WorkerPool = .shared) {
        let shape = layout == .outIn ? [n, k] : [k, n], axis = layout == .outIn ? 0 : 1
        let values = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, n * k / 2))
        let scaleBits = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, n * k / 32))
        defer { values.deallocate(); scaleBits.deallocate() }
        guard SMMQ4Blocks.quantize(weights, shape: shape, axis: axis, values: values, scales: scaleBits) == nil else {
            return nil
        }
        self.init(values: values, scaleBits: scaleBits, outFeatures: n, inFeatures: k, pool: pool)
    }

    deinit {
        UnsafeMutableRawPointer(codes).deallocate()
        UnsafeMutableRawPointer(scales).deallocate()
    }

    /// Code i (0 ..< 32) of a format block of 16 bytes (low nibbles: inputs 0-15, high: 16-31).
    @inline(__always)
    static func code(_ block: UnsafePointer<UInt8>, index i: Int) -> UInt8 {
        i < 16 ? block[i] & 0x0f : block[i - 16] >> 4
    }

    /// The code of output `n`, input `k` (for the reference kernel and tests).
    @inline(__always)
    public func code(output n: Int, input k: Int) -> UInt8 {
        let p = n / 16, c = n % 16, b = k / 32, r = k % 32, h = r / 8, t = r % 8
        let byte = codes[p * panelBytes + b * 256 + h * 64 + c * 4 + t % 4]
        return t < 4 ? byte & 0x0f : byte >> 4
    }

    /// The f16 scale bits of output `n`, block `b`.
    @inline(__always)
    public func scaleBits(output n: Int, block b: Int) -> UInt16 {
        scales[((n / 16) * blocks + b) * 16 + n % 16]
    }

    /// The dequantized weight of output `n`, input `k`: f16(scale) × (code − 8).
    public func value(output n: Int, input k: Int) -> Float {
        SMMQ4Blocks.value(code: code(output: n, input: k), scaleBits: scaleBits(output: n, block: k / 32))
    }

    /// The matrix dequantized to f32, (N, K) row-major.
    public func unpacked() -> FloatBuffer {
        let out = FloatBuffer(count: outFeatures * inFeatures)
        for n in 0..<outFeatures {
            for k in 0..<inFeatures { out.pointer[n * inFeatures + k] = value(output: n, input: k) }
        }
        return out
    }
}

extension LinearWeight {
    /// This layer with its matrix in q4 blocks (`SMMQ4Blocks`: the codes and scales a converted q4
    /// file holds) packed for the q4 kernels; the bias stays f32 (copied). Layers whose input count
    /// is not a multiple of 32, or whose weights are too large for f16 block scales, go to int8
    /// instead (as `smm-convert --dtype q4` stores them); int8 and q4 weights are returned as they are.
    public func quantizedQ4(pool: WorkerPool = .shared) -> LinearWeight {
        guard outFeatures > 0, inFeatures > 0, inFeatures % 32 == 0 else { return quantizedInt8(pool: pool) }
        let matrix: Q4Matrix?
        switch storage {
        case .int8, .q4:
            return self
        case .f32(let pointer):
            matrix = withExtendedLifetime(owner) {
                Q4Matrix(quantizing: pointer, outFeatures: outFeatures, inFeatures: inFeatures, layout: layout, pool: pool)
            }
        case .packedF32(let packed):
            let plain = packed.unpacked()
            matrix = withExtendedLifetime(plain) {
                Q4Matrix(quantizing: plain.pointer, outFeatures: outFeatures, inFeatures: inFeatures, layout: .outIn,
                         pool: pool)
            }
        case .bf16(let packed):
            let plain = packed.unpacked()
            matrix = withExtendedLifetime(plain) {
                Q4Matrix(quantizing: plain.pointer, outFeatures: outFeatures, inFeatures: inFeatures, layout: .outIn,
                         pool: pool)
            }
        }
        guard let matrix else { return quantizedInt8(pool: pool) }
        var biasCopy: FloatBuffer?
        if let bias {
            let copy = FloatBuffer(count: outFeatures)
            withExtendedLifetime(owner) { copy.pointer.update(from: bias, count: outFeatures) }
            biasCopy = copy
        }
        return LinearWeight(q4: matrix, bias: biasCopy.map { UnsafePointer($0.pointer) }, layout: layout, owner: biasCopy)
    }
}
