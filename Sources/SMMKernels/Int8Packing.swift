// int8 weights of a linear layer, quantized per output channel and packed once, at load, into the
// layout the VNNI micro-kernels read (Sources/CMicroKernels/include/CMicroKernels.h).
//
// Weight quantization (symmetric, per output channel n; `SMMQuantizer.scale` and `.quantize` from
// SMMFormat, so that quantizing at load and reading an int8 `.smm` file give the same integers):
//   scale[n] = max_k |w[n][k]| / 127                  (0 for an all-zero or non-finite channel)
//   q[n][k]  = clamp(round(w[n][k] / scale[n]), -127, 127)   (ties away from zero; 0 when scale is 0)
//
// Packed layout "VNNI 16x4" (checked by `value(row:column:)` against the plain quantizer in tests):
//   kGroups = ceil(K / 4), panels = ceil(N / 16), panelBytes = kGroups * 64;
//   byte  p * panelBytes + g * 64 + c * 4 + j   holds   q[16 p + c][4 g + j]
//   (zero where 16 p + c >= N or 4 g + j >= K). The buffer is 64-byte aligned, so every group of
//   64 bytes (4 k-values of 16 columns: one `vpdpbusd` operand) is one aligned cache line.
// Beside it, per column (padded to panels * 16 with zeros): the scale and the column sum
// sum_k q[n][k] (int32, and as float), which the output stage needs to remove the activations'
// zero point.
import SMMFormat

/// A linear layer's weight matrix as packed int8 with one scale per output column.
///
/// Immutable after creation and safe to share between threads and models.
public final class QuantizedMatrix: @unchecked Sendable {
    /// Number of outputs (N).
    public let outFeatures: Int
    /// Number of inputs (K).
    public let inFeatures: Int
    /// ceil(K / 4): groups of 4 input values, one `vpdpbusd` step each.
    public let kGroups: Int
    /// ceil(N / 16): panels of 16 output columns.
    public let panels: Int
    /// Bytes of one panel: `kGroups * 64`.
    public var panelBytes: Int { kGroups * 64 }
    /// The packed int8 weights (`panels * panelBytes` bytes, 64-byte aligned).
    public let packed: UnsafePointer<Int8>
    /// Per-column scales, `panels * 16` (zero past N).
    public let scales: UnsafePointer<Float>
    /// Per-column sums of the int8 weights, `panels * 16` (zero past N).
    public let columnSums: UnsafePointer<Int32>
    /// The same sums as Float (exact: |sum| <= 127 * 65,536 < 2^24), for the output stage.
    public let columnSumsFloat: UnsafePointer<Float>
    private let storage: UnsafeMutableRawPointer

    /// Largest K accepted: with activations in 0...255 and weights in -127...127 the int32
    /// accumulators hold 255 * 127 * K without overflow up to K = 66,313 (and 255 * 128 * K, for
    /// -128 values read from a file, up to 65,793).
    public static let maxInFeatures = 65_536

    /// Bytes of the packed weights, scales and column sums.
    public var byteCount: Int { panels * panelBytes + panels * 16 * 12 }

    /// Allocates zeroed storage for an `outFeatures` x `inFeatures` matrix.
    private init(outFeatures n: Int, inFeatures k: Int) {
        precondition(n > 0 && k > 0, "an int8 matrix needs positive sizes, got \(n) x \(k)")
        precondition(k <= Self.maxInFeatures, "int8 matrices take at most \(Self.maxInFeatures) inputs, got \(k)")
        outFeatures = n
        inFeatures = k
        kGroups = (k + 3) / 4
        panels = (n + 15) / 16
        let weightBytes = panels * kGroups * 64
        let columns = panels * 16
        let total = weightBytes + columns * 12
        storage = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: total)
        packed = UnsafePointer(storage.bindMemory(to: Int8.self, capacity: weightBytes))
        scales = UnsafePointer((storage + weightBytes).bindMemory(to: Float.self, capacity: columns))
        columnSums = UnsafePointer((storage + weightBytes + columns * 4).bindMemory(to: Int32.self, capacity: columns))
        columnSumsFloat = UnsafePointer((storage + weightBytes + columns * 8).bindMemory(to: Float.self, capacity: columns))
    }

    /// Fills `columnSumsFloat` from `columnSums` (after packing).
    private func finishColumnSums() {
        let floats = UnsafeMutablePointer(mutating: columnSumsFloat)
        for c in 0..<(panels * 16) { floats[c] = Float(columnSums[c]) }
    }

    deinit { storage.deallocate() }

    /// Quantizes float weights (`layout` as in `LinearWeight`: (N, K) for `.outIn`, (K, N) for
    /// `.inOut`) per output channel and packs them. Panels are spread over `pool`.
    public convenience init(quantizing weights: UnsafePointer<Float>, outFeatures n: Int, inFeatures k: Int,
                            layout: LinearWeight.Layout, pool: WorkerPool = .shared) {
        self.init(outFeatures: n, inFeatures: k)
        pool.parallelFor(panels, minimumPerWorker: max(1, 65_536 / max(1, 16 * k))) { range, _ in
            for p in range {
                switch layout {
                case .outIn: self.quantizeRowsPanel(p, weights)
                case .inOut: self.quantizeColumnsPanel(p, weights)
                }
            }
        }
        finishColumnSums()
    }

    /// Packs weights that are already int8 (an int8 `.smm` tensor used in place): `values` in
    /// `layout` ((N, K) for `.outIn`, (K, N) for `.inOut`), `scales` one per output channel.
    /// Values of -128 are kept as they are (the kernels accept the full int8 range).
    public convenience init(values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, outFeatures n: Int,
                            inFeatures k: Int, layout: LinearWeight.Layout, pool: WorkerPool = .shared) {
        self.init(outFeatures: n, inFeatures: k)
        UnsafeMutablePointer(mutating: self.scales).update(from: scales, count: n)
        pool.parallelFor(panels, minimumPerWorker: max(1, 65_536 / max(1, 16 * k))) { range, _ in
            for p in range {
                switch layout {
                case .outIn: self.copyRowsPanel(p, values)
                case .inOut: self.copyColumnsPanel(p, values)
                }
            }
        }
        finishColumnSums()
    }

    /// Panel `p` from int8 rows (N, K): 4 consecutive k of a row are one 32-bit word of a group.
    private func copyRowsPanel(_ p: Int, _ values: UnsafePointer<Int8>) {
        let n = outFeatures, k = inFeatures, whole = k / 4
        let base = UnsafeMutableRawPointer(mutating: packed) + p * panelBytes
        let sums = UnsafeMutablePointer(mutating: columnSums)
        for c in (16 * p)..<min(n, 16 * p + 16) {
            let row = values + c * k, lane = base + (c - 16 * p) * 4
            var sum: Int32 = 0
            for i in 0..<k { sum &+= Int32(row[i]) }
            for g in 0..<whole {
                lane.storeBytes(of: UnsafeRawPointer(row + 4 * g).loadUnaligned(as: UInt32.self),
                                toByteOffset: g * 64, as: UInt32.self)
            }
            for i in (4 * whole)..<k { lane.storeBytes(of: row[i], toByteOffset: whole * 64 + (i & 3), as: Int8.self) }
            sums[c] = sum
        }
    }

    /// Panel `p` from int8 columns (K, N): 16 consecutive columns of each row k.
    private func copyColumnsPanel(_ p: Int, _ values: UnsafePointer<Int8>) {
        let n = outFeatures, k = inFeatures, c0 = 16 * p, width = min(16, n - c0)
        let base = UnsafeMutableRawPointer(mutating: packed) + p * panelBytes
        var sum16 = SIMD16<Int32>(repeating: 0)
        for i in 0..<k {
            let row = values + i * n + c0, group = base + (i >> 2) * 64 + (i & 3)
            for c in 0..<width {
                group.storeBytes(of: row[c], toByteOffset: c * 4, as: Int8.self)
                sum16[c] &+= Int32(row[c])
            }
        }
        let sums = UnsafeMutablePointer(mutating: columnSums)
        for c in 0..<width { sums[c0 + c] = sum16[c] }
    }

    /// round(v), ties away from zero, of values already in -127 ... 127 (or NaN, which gives 0),
    /// clamped to -127 ... 127: exactly `SMMQuantizer.quantize` after its division. Only adds,
    /// compares and selects, which the baseline (SSE2) target vectorizes: round half to even with
    /// the 1.5 * 2^23 trick, then ties moved away from zero.
    @inline(__always)
    private static func roundAway(_ v: SIMD16<Float>) -> SIMD16<Int8> {
        let magic: Float = 12_582_912                       // 1.5 * 2^23
        var c = v.replacing(with: 0, where: v .!= v)        // NaN -> 0
        c = c.replacing(with: 200, where: c .> 200).replacing(with: -200, where: c .< -200)
        var r = (c + magic) - magic                         // round half to even (exact for |c| < 2^22)
        let d = c - r                                       // exact
        r = r.replacing(with: r + 1, where: (d .== 0.5) .& (c .> 0))
        r = r.replacing(with: r - 1, where: (d .== -0.5) .& (c .< 0))
        r = r.replacing(with: 127, where: r .> 127).replacing(with: -127, where: r .< -127)
        let bits = unsafeBitCast(r + magic, to: SIMD16<UInt32>.self) &- magic.bitPattern
        return SIMD16<Int8>(truncatingIfNeeded: bits)
    }

    /// Panel `p` of an (N, K) matrix: each of its 16 outputs is one contiguous row of K floats.
    private func quantizeRowsPanel(_ p: Int, _ w: UnsafePointer<Float>) {
        let n = outFeatures, k = inFeatures, body = k - k % 16
        let base = UnsafeMutableRawPointer(mutating: packed) + p * panelBytes
        let scaleOut = UnsafeMutablePointer(mutating: scales), sums = UnsafeMutablePointer(mutating: columnSums)
        for c in (16 * p)..<min(n, 16 * p + 16) {
            let row = w + c * k, raw = UnsafeRawPointer(row)
            var best16 = SIMD16<Float>(repeating: 0)
            var i = 0
            while i < body {
                let a = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                let m = a.replacing(with: -a, where: a .< 0)
                best16 = best16.replacing(with: m, where: m .> best16)     // NaN compares false: ignored
                i += 16
            }
            var best = best16.max()
            while i < k {
                let a = abs(row[i])
                if a > best { best = a }
                i += 1
            }
            let scale = SMMQuantizer.scale(maxAbs: best)
            scaleOut[c] = scale
            guard scale > 0 else { continue }                            // all zero: storage is zero
            let lane = base + (c - 16 * p) * 4
            let s16 = SIMD16<Float>(repeating: scale)
            var sum16 = SIMD16<Int32>(repeating: 0)
            i = 0
            while i < body {
                let q = Self.roundAway(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) / s16)
                sum16 &+= SIMD16<Int32>(truncatingIfNeeded: q)
                // k = i ..< i + 16 is 4 groups of 4: one 32-bit store into each group.
                let words = unsafeBitCast(q, to: SIMD4<UInt32>.self)
                for e in 0..<4 { lane.storeBytes(of: words[e], toByteOffset: ((i >> 2) + e) * 64, as: UInt32.self) }
                i += 16
            }
            var sum = sum16.wrappedSum()
            while i < k {
                let v = SMMQuantizer.quantize(row[i], scale: scale)
                lane.storeBytes(of: v, toByteOffset: (i >> 2) * 64 + (i & 3), as: Int8.self)
                sum += Int32(v)
                i += 1
            }
            sums[c] = sum
        }
    }

    /// Panel `p` of a (K, N) matrix: its 16 outputs are 16 contiguous floats of every row k.
    private func quantizeColumnsPanel(_ p: Int, _ w: UnsafePointer<Float>) {
        let n = outFeatures, k = inFeatures, c0 = 16 * p, width = min(16, n - c0)
        let base = UnsafeMutableRawPointer(mutating: packed) + p * panelBytes
        let scaleOut = UnsafeMutablePointer(mutating: scales), sums = UnsafeMutablePointer(mutating: columnSums)
        // The 16 columns of input row i (zeros past N).
        func load(_ i: Int) -> SIMD16<Float> {
            if width == 16 { return UnsafeRawPointer(w + i * n + c0).loadUnaligned(as: SIMD16<Float>.self) }
            var v = SIMD16<Float>(repeating: 0)
            for c in 0..<width { v[c] = w[i * n + c0 + c] }
            return v
        }
        var best = SIMD16<Float>(repeating: 0)
        for i in 0..<k {
            let a = load(i)
            let m = a.replacing(with: -a, where: a .< 0)
            best = best.replacing(with: m, where: m .> best)
        }
        var s16 = SIMD16<Float>(repeating: 0)
        for c in 0..<width {
            s16[c] = SMMQuantizer.scale(maxAbs: best[c])
            scaleOut[c0 + c] = s16[c]
        }
        // A zero scale quantizes everything to 0 (the reference's rule): divide by 1 there, then mask.
        let zeroScale = s16 .== 0
        let divisor = s16.replacing(with: 1, where: zeroScale)
        var sum16 = SIMD16<Int32>(repeating: 0)
        var g = 0
        while g * 4 < k {
            var word = SIMD16<UInt32>(repeating: 0)
            for j in 0..<4 where g * 4 + j < k {
                var q = SIMD16<Int32>(truncatingIfNeeded: Self.roundAway(load(g * 4 + j) / divisor))
                q = q.replacing(with: 0, where: zeroScale)
                sum16 &+= q
                word |= (SIMD16<UInt32>(truncatingIfNeeded: q) & 0xFF) &<< UInt32(8 * j)
            }
            // Byte c * 4 + j of group g is column c0 + c, input 4g + j.
            base.storeBytes(of: word, toByteOffset: g * 64, as: SIMD16<UInt32>.self)
            g += 1
        }
        for c in 0..<width { sums[c0 + c] = sum16[c] }
    }

    /// The int8 weight of output `row` (n) and input `column` (k), read back from the packed layout
    /// by the documented formula (tests check the packing with it).
    public func value(row n: Int, column k: Int) -> Int8 {
        precondition(n >= 0 && n < panels * 16 && k >= 0 && k < kGroups * 4)
        return packed[(n / 16) * panelBytes + (k / 4) * 64 + (n % 16) * 4 + k % 4]
    }

    /// The scale of output `n`.
    public func scale(_ n: Int) -> Float { scales[n] }

    /// The int8 weights as a plain (N, K) row-major array (unpacked; for tests and debugging).
    public func unpacked() -> [Int8] {
        var out = [Int8](repeating: 0, count: outFeatures * inFeatures)
        for n in 0..<outFeatures { for k in 0..<inFeatures { out[n * inFeatures + k] = value(row: n, column: k) } }
        return out
    }
}
