// bf16 weights of a linear layer, packed once, at load, into the layout the bf16 micro-kernels
// read ("BF16 16x2", Sources/CMicroKernels/include/CMicroKernels.h):
//   kPairs = 16 * ceil(K / 32) (whole AMX tiles), panels = ceil(N / 16), panelBytes = kPairs * 64;
//   element  p * panelBytes / 2 + g * 32 + c * 2 + j   holds   bf16(w[16 p + c][2 g + j])
//   (zero where 16 p + c >= N or 2 g + j >= K), 64-byte aligned: each 64-byte group is one
//   `vdpbf16ps` operand for 16 columns and one row of an AMX B tile.
// The values are the weights rounded to nearest bf16, ties to even (`f32ToBF16Bits`): a bf16 file's
// matrices, widened to f32 on the way in, come back bit for bit. Beside them, the bias in f32,
// padded with zeros to panels * 16.
import SMMFormat

/// A linear layer's weight matrix (and bias) as packed bf16 for the bf16 kernels of `BF16Linear`.
///
/// Immutable after creation and safe to share between threads and models.
public final class BF16Matrix: @unchecked Sendable {
    /// Number of outputs (N).
    public let outFeatures: Int
    /// Number of inputs (K).
    public let inFeatures: Int
    /// Pairs of inputs per column, padded to whole tiles: 16 * ceil(K / 32).
    public let kPairs: Int
    /// ceil(N / 16): panels of 16 output columns.
    public let panels: Int
    /// Bytes of one panel: `kPairs * 64`.
    public var panelBytes: Int { kPairs * 64 }
    /// The packed bf16 bit patterns (`panels * panelBytes / 2` values, 64-byte aligned).
    public let packed: UnsafePointer<UInt16>
    /// The bias padded to `panels * 16` floats, or nil.
    public let bias: UnsafePointer<Float>?
    private let storage: UnsafeMutableRawPointer

    /// Bytes of the packed weights and the padded bias.
    public var byteCount: Int { panels * panelBytes + (bias == nil ? 0 : panels * 64) }

    /// Packs `outFeatures` x `inFeatures` weights given by `element(n, k)` (bf16 bits), and the bias.
    private init(outFeatures n: Int, inFeatures k: Int, bias: UnsafePointer<Float>?, pool: WorkerPool,
                 element: (Int, Int) -> UInt16) {
        precondition(n > 0 && k > 0, "a bf16 matrix needs positive sizes, got \(n) x \(k)")
        outFeatures = n
        inFeatures = k
        kPairs = (k + 31) / 32 * 16
        panels = (n + 15) / 16
        let halves = panels * kPairs * 32, biasFloats = bias == nil ? 0 : panels * 16
        storage = UnsafeMutableRawPointer.allocate(byteCount: halves * 2 + biasFloats * 4, alignment: 64)
        let weights = storage.bindMemory(to: UInt16.self, capacity: halves)
        weights.initialize(repeating: 0, count: halves)
        let panelHalves = kPairs * 32, kp = kPairs, panelCount = panels
        withoutActuallyEscaping(element) { element in
            let fill = { (p: Int) in
                let dst = weights + p * panelHalves
                for c in 0..<min(16, n - 16 * p) {
                    let column = 16 * p + c
                    for g in 0..<((k + 1) / 2) where g < kp {
                        dst[g * 32 + c * 2] = element(column, 2 * g)
                        if 2 * g + 1 < k { dst[g * 32 + c * 2 + 1] = element(column, 2 * g + 1) }
                    }
                }
            }
            if n * k >= 1 << 16 && pool.threadCount > 1 {
                pool.parallelFor(panelCount, minimumPerWorker: 1) { range, _ in for p in range { fill(p) } }
            } else {
                for p in 0..<panelCount { fill(p) }
            }
        }
        packed = UnsafePointer(weights)
        if let bias {
            let b = (storage + halves * 2).bindMemory(to: Float.self, capacity: biasFloats)
            b.initialize(repeating: 0, count: biasFloats)
            b.update(from: bias, count: n)
            self.bias = UnsafePointer(b)
        } else {
            self.bias = nil
        }
    }

    /// Rounds f32 weights (in `layout` order) to bf16 and packs them; the bias is copied as f32.
    public convenience init(rounding w: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures n: Int,
                            inFeatures k: Int, layout: LinearWeight.Layout, pool: WorkerPool = .shared) {
        switch layout {
        case .outIn: self.init(outFeatures: n, inFeatures: k, bias: bias, pool: pool) { f32ToBF16Bits(w[$0 * k + $1]) }
        case .inOut: self.init(outFeatures: n, inFeatures: k, bias: bias, pool: pool) { f32ToBF16Bits(w[$1 * n + $0]) }
        }
    }

    /// Packs bf16 bit patterns (a bf16 file's tensor, in `layout` order) as they are.
    public convenience init(bits: UnsafePointer<UInt16>, bias: UnsafePointer<Float>?, outFeatures n: Int,
                            inFeatures k: Int, layout: LinearWeight.Layout, pool: WorkerPool = .shared) {
        switch layout {
        case .outIn: self.init(outFeatures: n, inFeatures: k, bias: bias, pool: pool) { bits[$0 * k + $1] }
        case .inOut: self.init(outFeatures: n, inFeatures: k, bias: bias, pool: pool) { bits[$1 * n + $0] }
        }
    }

    deinit { storage.deallocate() }

    /// The bf16 bits of w[row][column], read back from the packed layout.
    public func value(row n: Int, column k: Int) -> UInt16 {
        precondition(n >= 0 && n < outFeatures && k >= 0 && k < inFeatures, "(\(n), \(k)) outside \(outFeatures) x \(inFeatures)")
        return packed[(n / 16) * kPairs * 32 + (k / 2) * 32 + (n % 16) * 2 + k % 2]
    }

    /// The matrix as f32 in (out, in) order (each value exactly its bf16).
    public func unpacked() -> FloatBuffer {
        let out = FloatBuffer(count: outFeatures * inFeatures)
        for n in 0..<outFeatures {
            for k in 0..<inFeatures { out.pointer[n * inFeatures + k] = Float(bitPattern: UInt32(value(row: n, column: k)) << 16) }
        }
        return out
    }
}
