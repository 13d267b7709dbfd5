// The definition of the q4 layer's result, in plain Swift: the activations quantized per block of
// 32 (`Q4Linear.quantizeRow`), then for each output the blocks' integer dot products scaled and
// summed in order with fused multiply-adds, exactly as the C kernel does (include/CMicroKernels.h).
// It is also the kernel of CPUs without AVX-512 VNNI (slow: scalar).
import SMMFormat

/// Plain Swift q4 kernel: defines the result the fast kernel must match bit for bit.
public enum Q4Reference {
    // a: (rows, K) int8, aScale / aSum: (rows, blocks); out: (rows, ldo)
    /// Outputs `outputs` of `rows` quantized activation rows against `w`: for each output n,
    /// acc = fma(Float(dot_b − 8·aSum_b), Float(scale(n, b)) · aScale_b, acc) over the blocks b in
    /// order, then out = acc + bias[n].
    public static func gemm(_ a: UnsafePointer<Int8>, lda: Int, aScale: UnsafePointer<Float>, aSum: UnsafePointer<Int32>,
                            lds: Int, rows: Int, weight w: Q4Matrix, outputs: Range<Int>, bias: UnsafePointer<Float>?,
                            out: UnsafeMutablePointer<Float>, ldo: Int) {
        for i in 0..<rows {
            let x = a + i * lda
            for n in outputs {
                var acc: Float = 0
                for b in 0..<w.blocks {
                    var dot: Int32 = 0
                    for j in 0..<32 {
                        dot &+= Int32(w.code(output: n, input: 32 * b + j)) &* Int32(x[32 * b + j])
                    }
                    dot &-= 8 &* aSum[i * lds + b]
                    let d = Float(bitPattern: f16BitsToF32Bits(w.scaleBits(output: n, block: b)))
                    acc.addProduct(Float(dot), d * aScale[i * lds + b])
                }
                out[i * ldo + n] = bias.map { acc + $0[n] } ?? acc
            }
        }
    }
}
