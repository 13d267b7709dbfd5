// Multi-head scaled dot-product attention over row-major activations, without transposes:
// head h of a (T, C) matrix is the (T, headDim) sub-matrix at column h*headDim with row stride
// C, which BLAS takes directly through its leading dimension. One (batch, head) pair is one job
// on the worker pool; each worker has its own (T, T) score scratch.

import CMicroKernels
import Foundation

/// Attention kernels.
public enum Attention {
    /// Whether bidirectional attention runs the fused AVX-512 kernel (`smm_attention_f32`: scores,
    /// softmax and value product per block of 8 queries, no s x s matrix, no BLAS call) for heads of
    /// 16, 32, 48 or 64 and key masks that are a run of padding at the end (or none). Off with
    /// `SMM_ATTENTION=blas`, and on CPUs without AVX-512 (OpenBLAS products then, as before).
    public static let fusedIsAvailable: Bool = smm_attention_f32_available() != 0 && smm_gelu_available() != 0
        && ProcessInfo.processInfo.environment["SMM_ATTENTION"] != "blas"

    // q, k, v: (batch*seqLen, ld) with heads*headDim columns used; out: (batch*seqLen, ldo)
    // scratch: at least pool.threadCount * seqLen * seqLen floats
    /// Bidirectional self-attention with a key padding mask (BERT, DistilBERT).
    ///
    /// `keyValid[b * seqLen + j]` is nonzero when key j of sequence b is a real token; masked keys get
    /// zero weight (as `finfo.min` does in transformers). A query row whose keys are all masked gets
    /// uniform weights over all keys, as transformers does.
    public static func bidirectional(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                     ld: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                     batch: Int, seqLen: Int, heads: Int, headDim: Int,
                                     keyValid: UnsafePointer<Int32>?, scratch: UnsafeMutablePointer<Float>,
                                     pool: WorkerPool = .shared) {
        let scale = 1 / Float(headDim).squareRoot()
        let t = seqLen
        // The masked keys of each sequence, found once (not per head and query row): none for a
        // full sequence, the padding positions otherwise.
        var masked: [[Int]] = []
        if let keyValid {
            masked = (0..<batch).map { b in (0..<t).filter { keyValid[b * t + $0] == 0 } }
        }
        // The fused kernel takes keys 0 ..< valid: sequences whose masked keys are a run at the end
        // (batch padding) and are not all of them; the others go through BLAS below.
        let fused = fusedIsAvailable && headDim % 16 == 0 && headDim <= 64 && t > 0
        let validPrefix: [Int?] = (0..<batch).map { b in
            guard !masked.isEmpty else { return t }
            let m = masked[b]
            guard let first = m.first else { return t }
            return first > 0 && m.count == t - first ? first : nil
        }
        pool.parallelFor(batch * heads) { range, worker in
            let scores = scratch + worker * t * t
            for job in range {
                let b = job / heads, h = job % heads
                let rowBase = b * t
                let qh = q + rowBase * ld + h * headDim
                let kh = k + rowBase * ld + h * headDim
                let vh = v + rowBase * ld + h * headDim
                if fused, let validKeys = validPrefix[b] {
                    let oh = out + rowBase * ldo + h * headDim
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: smm_attention_f32_scratch(Int32(validKeys),
                                                                                                    Int32(headDim))) {
                        smm_attention_f32(qh, kh, vh, ld, oh, ldo, Int32(t), Int32(validKeys), Int32(headDim), scale,
                                          $0.baseAddress!)
                    }
                    continue
                }
                // scores = q_h k_h^T * scale   (T, T)
                BLAS.sgemm(.none, .transposed, m: t, n: t, k: headDim, alpha: scale, a: qh, lda: ld,
                           b: kh, ldb: ld, beta: 0, c: scores, ldc: t)
                if !masked.isEmpty, !masked[b].isEmpty {
                    if masked[b].count == t {
                        // Every key masked: transformers' finfo.min fill absorbs the scores, so the
                        // weights are uniform; equal scores give the same.
                        scores.update(repeating: 0, count: t * t)
                    } else {
                        for i in 0..<t {
                            let row = scores + i * t
                            for j in masked[b] { row[j] = -Float.greatestFiniteMagnitude }
                        }
                    }
                }
                for i in 0..<t { Softmax.row(scores + i * t, count: t) }
                // out_h = scores v_h   (T, headDim)
                BLAS.sgemm(.none, .none, m: t, n: headDim, k: t, alpha: 1, a: scores, lda: t,
                           b: vh, ldb: ld, beta: 0, c: out + rowBase * ldo + h * headDim, ldc: ldo)
            }
        }
    }

    // q: (queries, ld), kCache/vCache: (maxPositions, ldKV), out: (queries, ldo)
    // scratch: at least pool.threadCount * queries * (past + queries) floats
    /// Causal self-attention of `queries` new positions over a key/value cache (GPT-2).
    ///
    /// The new queries sit at positions `past ..< past + queries`; the caches hold keys and values for
    /// positions `0 ..< past + queries` (the new ones already written). Query i sees keys `0 ... past + i`.
    public static func causal(q: UnsafePointer<Float>, ld: Int, kCache: UnsafePointer<Float>,
                              vCache: UnsafePointer<Float>, ldKV: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                              queries: Int, past: Int, heads: Int, headDim: Int,
                              scratch: UnsafeMutablePointer<Float>, pool: WorkerPool = .shared) {
        let scale = 1 / Float(headDim).squareRoot()
        let total = past + queries
        pool.parallelFor(heads) { range, worker in
            let scores = scratch + worker * queries * total
            for h in range {
                let qh = q + h * headDim
                let kh = kCache + h * headDim
                let vh = vCache + h * headDim
                let oh = out + h * headDim
                if queries == 1 {
                    // One query: two matrix-vector products.
                    BLAS.sgemv(.none, rows: total, cols: headDim, alpha: scale, a: kh, lda: ldKV, x: qh,
                               beta: 0, y: scores)
                    Softmax.row(scores, count: total)
                    BLAS.sgemv(.transposed, rows: total, cols: headDim, alpha: 1, a: vh, lda: ldKV, x: scores,
                               beta: 0, y: oh)
                } else {
                    BLAS.sgemm(.none, .transposed, m: queries, n: total, k: headDim, alpha: scale, a: qh, lda: ld,
                               b: kh, ldb: ldKV, beta: 0, c: scores, ldc: total)
                    for i in 0..<queries {
                        Softmax.row(scores + i * total, count: total, validCount: past + i + 1)
                    }
                    BLAS.sgemm(.none, .none, m: queries, n: headDim, k: total, alpha: 1, a: scores, lda: total,
                               b: vh, ldb: ldKV, beta: 0, c: oh, ldc: ldo)
                }
            }
        }
    }
}
