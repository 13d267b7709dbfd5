// Element-wise activations, in place: GELU (erf form, BERT/DistilBERT), GELU tanh form
// (`gelu_new`, GPT-2), ReLU. Rows are spread over the worker pool.
import CMicroKernels

/// Activation functions applied in place over a buffer.
public enum Activations {
    /// The activation functions SMM's models use, by their Hugging Face `hidden_act` names.
    public enum Kind: String, Sendable, Codable {
        /// 0.5 x (1 + erf(x / sqrt 2)): `gelu` in BERT and DistilBERT.
        case gelu
        /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): `gelu_new`, GPT-2's.
        case geluNew = "gelu_new"
        /// max(x, 0).
        case relu

        /// Parses a Hugging Face activation name (`gelu`, `gelu_new`, `gelu_pytorch_tanh`, `relu`).
        public init?(huggingFaceName name: String) {
            switch name {
            case "gelu": self = .gelu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluNew
            case "relu": self = .relu
            default: return nil
            }
        }
    }

    /// Applies `kind` to `count` floats at `x`, in place, on the worker pool.
    public static func apply(_ kind: Kind, _ x: UnsafeMutablePointer<Float>, count: Int,
                             pool: WorkerPool = .shared) {
        pool.parallelFor(count / 8, minimumPerWorker: 2048) { range, _ in
            let start = range.lowerBound * 8, end = range.upperBound * 8
            applySerial(kind, x + start, count: end - start)
        }
        let tail = (count / 8) * 8
        if tail < count { applySerial(kind, x + tail, count: count - tail) }
    }

    /// Applies `kind` on the calling thread.
    public static func applySerial(_ kind: Kind, _ x: UnsafeMutablePointer<Float>, count: Int) {
        switch kind {
        case .gelu: geluErf(x, count: count)
        case .geluNew: geluTanh(x, count: count)
        case .relu: relu(x, count: count)
        }
    }

    /// Whether the AVX-512 GELU loops (CMicroKernels/GELU.c: the same operations as below, 16
    /// lanes at a time, the same bits) run here. Swift's Float8 loops compile to SSE2 at the
    /// package's baseline target, where GELU measured about 10% of BERT-base int8 at s128.
    static let hasVectorGELU = smm_gelu_available() != 0

    static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int, vector: Bool = hasVectorGELU) {
        if vector {
            smm_gelu_erf(x, count)
            return
        }
        var i = 0
        let raw = UnsafeMutableRawPointer(x)
        while i + 8 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: Float8.self)
            let y = 0.5 * v * (1 + FastMath.erf(v * 0.70710678118654752))
            raw.storeBytes(of: y, toByteOffset: i * 4, as: Float8.self)
            i += 8
        }
        while i < count {
            let v = Float8(repeating: x[i])
            x[i] = (0.5 * v * (1 + FastMath.erf(v * 0.70710678118654752)))[0]
            i += 1
        }
    }

    static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int, vector: Bool = hasVectorGELU) {
        if vector {
            smm_gelu_tanh(x, count)
            return
        }
        var i = 0
        let raw = UnsafeMutableRawPointer(x)
        let c: Float = 0.7978845608028654  // sqrt(2 / pi)
        while i + 8 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: Float8.self)
            let y = 0.5 * v * (1 + FastMath.tanh(c * (v + 0.044715 * v * v * v)))
            raw.storeBytes(of: y, toByteOffset: i * 4, as: Float8.self)
            i += 8
        }
        while i < count {
            let v = Float8(repeating: x[i])
            x[i] = (0.5 * v * (1 + FastMath.tanh(c * (v + 0.044715 * v * v * v))))[0]
            i += 1
        }
    }

    static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where x[i] < 0 { x[i] = 0 }
    }
}
