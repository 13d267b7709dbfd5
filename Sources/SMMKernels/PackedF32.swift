// f32 weights of a linear layer packed once, at load, into the panels the AVX-512 micro-kernel
// reads (Sources/CMicroKernels/F32AVX512.c). OpenBLAS packs the weight matrix again on every
// sgemm call, which costs BERT-base about a fifth of its time at sequence 128; this is the
// one-time version of that work (ONNX Runtime's MLAS prepacks the same way).
//
// Packed layout "f32 48-column panels" (checked by `value(output:input:)` in tests):
//   panels = ceil(N / 48); panel p is K rows of 48 floats:
//   packed[p * K * 48 + k * 48 + j] = W[48 p + j][k]     (0 where 48 p + j >= N)
//   The buffer is 64-byte aligned, and so is every panel row (48 floats = 3 cache lines).
//   The bias is copied and padded with zeros to panels * 48 floats.
//
// Result (the C kernel and `PackedF32Reference` agree bit for bit):
//   y[i][n] = fma(x[i][K-1], W[n][K-1], ... fma(x[i][0], W[n][0], bias[n] or 0))
import CMicroKernels
import Foundation
import SMMFormat

/// A linear layer's f32 weight matrix packed in 48-column panels for the AVX-512 kernel.
///
/// Immutable after creation and safe to share between threads and models.
public final class PackedMatrix: @unchecked Sendable {
    /// Output columns per panel (48: three 16-float AVX-512 registers): the `.smm` file's
    /// `SMMPanelLayout.columns`, which the C kernel's `SMM_F32_PANEL_COLUMNS` must equal (checked
    /// when the kernel is first asked for).
    public static let panelColumns = SMMPanelLayout.columns

    /// True when the AVX-512 kernel runs on this CPU and has not been turned off with
    /// `SMM_F32_KERNEL=blas`; otherwise f32 layers are not packed and OpenBLAS does their work.
    public static let isAvailable: Bool = {
        if ProcessInfo.processInfo.environment["SMM_F32_KERNEL"]?.lowercased() == "blas" { return false }
        precondition(Int(SMM_F32_PANEL_COLUMNS) == SMMPanelLayout.columns,
                     "the C kernel's panel width \(SMM_F32_PANEL_COLUMNS) differs from the file format's \(SMMPanelLayout.columns)")
        return smm_f32_avx512_available() != 0
    }()

    /// Number of outputs (N).
    public let outFeatures: Int
    /// Number of inputs (K).
    public let inFeatures: Int
    /// ceil(N / 48).
    public let panels: Int
    /// The packed weights, `panels * inFeatures * 48` floats, 64-byte aligned.
    public let packed: UnsafePointer<Float>
    /// The bias padded to `panels * 48` floats, or nil.
    public let bias: UnsafePointer<Float>?
    /// The bytes held by this matrix itself (0 when the panels live in a mapped file).
    public let byteCount: Int
    private let weightOwner: any Sendable
    private let biasStorage: FloatBuffer?

    /// Floats in one panel: `inFeatures * 48`.
    public var panelFloats: Int { inFeatures * Self.panelColumns }


    /// Packs `weight` (`outFeatures * inFeatures` floats in `layout` order) and copies `bias`.
    /// The panels are filled in parallel on `pool`.
    public init(packing weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures n: Int,
                inFeatures k: Int, layout: LinearWeight.Layout, pool: WorkerPool = .shared) {
        precondition(n > 0 && k > 0, "a packed matrix needs positive sizes, got \(n) x \(k)")
        let width = Self.panelColumns
        outFeatures = n
        inFeatures = k
        panels = (n + width - 1) / width
        let storage = PanelStorage(floats: panels * k * width)
        weightOwner = storage
        packed = UnsafePointer(storage.pointer)
        biasStorage = Self.paddedBias(bias, outFeatures: n, panels: panels)
        self.bias = biasStorage.map { UnsafePointer($0.pointer) }
        byteCount = (storage.floats + (biasStorage?.count ?? 0)) * 4
        let destination = storage.pointer
        pool.parallelFor(panels, minimumPerWorker: 4) { range, _ in
            for p in range {
                Self.packPanel(weight, outFeatures: n, inFeatures: k, layout: layout, panel: p,
                               into: destination + p * k * width)
            }
        }
    }

    /// Wraps panels already in this layout (for example in a mapped `.smm` file: `SMMPanelLayout`),
    /// which `owner` keeps alive; `outFeatures` must be a multiple of 48 (no padding) and `panels`
    /// 64-byte aligned. The bias is copied.
    public init(panels packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures n: Int, inFeatures k: Int,
                owner: any Sendable) {
        precondition(n > 0 && k > 0 && n % Self.panelColumns == 0, "stored panels need a multiple of 48 outputs, got \(n)")
        precondition(Int(bitPattern: packed) % 64 == 0, "stored panels must be 64-byte aligned")
        outFeatures = n
        inFeatures = k
        panels = n / Self.panelColumns
        self.packed = packed
        weightOwner = owner
        biasStorage = Self.paddedBias(bias, outFeatures: n, panels: panels)
        self.bias = biasStorage.map { UnsafePointer($0.pointer) }
        byteCount = (biasStorage?.count ?? 0) * 4
    }

    /// `bias` copied and padded with zeros to whole panels.
    private static func paddedBias(_ bias: UnsafePointer<Float>?, outFeatures n: Int, panels: Int) -> FloatBuffer? {
        guard let bias else { return nil }
        let padded = FloatBuffer(count: panels * panelColumns)   // zeroed: the padding stays 0
        padded.pointer.update(from: bias, count: n)
        return padded
    }

    /// The matrix read back in (out, in) order: `outFeatures * inFeatures` floats.
    public func unpacked() -> FloatBuffer {
        let plain = FloatBuffer(count: outFeatures * inFeatures)
        let width = Self.panelColumns
        for n in 0..<outFeatures {
            let column = packed + (n / width) * panelFloats + n % width
            let row = plain.pointer + n * inFeatures
            for k in 0..<inFeatures { row[k] = column[k * width] }
        }
        return plain
    }

    /// Fills panel `p` (every float of it, padding included).
    private static func packPanel(_ weight: UnsafePointer<Float>, outFeatures n: Int, inFeatures k: Int,
                                  layout: LinearWeight.Layout, panel p: Int, into panel: UnsafeMutablePointer<Float>) {
        let width = panelColumns
        let n0 = p * width, columns = min(width, n - n0)
        switch layout {
        case .outIn:
            // Blocks of 16 inputs: 48 source rows advance one cache line each while the block's
            // 16 x 48 destination floats (3 KB) stay in L1.
            var k0 = 0
            while k0 < k {
                let depth = min(16, k - k0)
                for j in 0..<columns {
                    let row = weight + (n0 + j) * k + k0
                    for i in 0..<depth { panel[(k0 + i) * width + j] = row[i] }
                }
                if columns < width {
                    for i in 0..<depth { (panel + (k0 + i) * width + columns).update(repeating: 0, count: width - columns) }
                }
                k0 += depth
            }
        case .inOut:
            for kk in 0..<k {
                let destination = panel + kk * width
                destination.update(from: weight + kk * n + n0, count: columns)
                if columns < width { (destination + columns).update(repeating: 0, count: width - columns) }
            }
        }
    }

    /// W[output][input], read back from the packed layout (for tests and tools).
    public func value(output: Int, input: Int) -> Float {
        precondition(output >= 0 && output < outFeatures && input >= 0 && input < inFeatures)
        let width = Self.panelColumns
        return packed[(output / width) * panelFloats + input * width + output % width]
    }
}

/// The plain Swift definition of the packed kernel's result; the tests hold the AVX-512 kernel to
/// it bit for bit.
public enum PackedF32Reference {
    // x: (rows, K) with row stride lda, out: (rows, N) with row stride ldo
    /// out[i][n] = fma(x[i][K-1], W[n][K-1], ... fma(x[i][0], W[n][0], bias[n] or 0)) for all
    /// rows i < rows and outputs n < N.
    public static func forward(_ x: UnsafePointer<Float>, lda: Int, rows: Int, weight: PackedMatrix,
                               out: UnsafeMutablePointer<Float>, ldo: Int) {
        let k = weight.inFeatures, width = PackedMatrix.panelColumns
        for i in 0..<rows {
            let xi = x + i * lda
            for n in 0..<weight.outFeatures {
                let column = weight.packed + (n / width) * weight.panelFloats + n % width
                var acc: Float = weight.bias?[n] ?? 0
                for kk in 0..<k { acc = acc.addingProduct(xi[kk], column[kk * width]) }
                out[i * ldo + n] = acc
            }
        }
    }
}

/// The packed panels' memory: 64-byte aligned and not zeroed (packing writes every float).
/// (Transparent huge pages were tried: on this VM the first huge-page faults of a new process
/// stall for compaction, 0.8 s for BERT-base, far more than the 4 KB faults they save.)
private final class PanelStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let floats: Int

    init(floats: Int) {
        self.floats = floats
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(64, floats * 4), alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(16, floats))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
