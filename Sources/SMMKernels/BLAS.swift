// The BLAS facade: one place that knows where sgemm and sgemv come from.
//
// Linux: Debian's OpenBLAS is opened at run time with dlopen, after OPENBLAS_CORETYPE has been
// chosen from the CPU's features. OpenBLAS reads that variable only while it initialises, and
// Debian's 0.3.21 takes this machine's CPU for a Prescott and runs SSE3 kernels (about 4x slower
// sgemm). Opening the library ourselves works the same in the `smm` CLI and inside someone
// else's app. OpenBLAS runs single-threaded: SMM splits work over its own WorkerPool, so there is
// one set of threads, not two fighting for two cores.
// Apple platforms: Accelerate, behind the same functions.
// Neither available: a plain Swift reference GEMM (correct, slow), reported as such.
#if canImport(Accelerate)
import Accelerate
#elseif canImport(COpenBLAS)
import COpenBLAS
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    /// The operand is used as stored.
    case none
    /// The operand's transpose is used.
    case transposed
}

/// Single-precision BLAS entry points (row-major), from OpenBLAS, Accelerate or the Swift reference.
public enum BLAS {
    /// Which library serves the calls, and with which CPU core kernels (`openblas_get_corename`).
    public static var backendDescription: String { Backend.shared.description }

    /// The OpenBLAS core name (`SkylakeX`, `Haswell`, `Prescott`…), or nil when OpenBLAS is not in use.
    public static var openBLASCoreName: String? { Backend.shared.coreName }

    /// True when a real BLAS library (OpenBLAS or Accelerate) is in use rather than the Swift reference.
    public static var isAccelerated: Bool { Backend.shared.kind != .reference }

    /// C = alpha * op(A) * op(B) + beta * C, row-major. op(A) is M x K, op(B) is K x N, C is M x N.
    /// Runs on the calling thread only.
    @inline(__always)
    public static func sgemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                             alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        Backend.shared.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    /// y = alpha * op(A) * x + beta * y, row-major A of `rows` x `cols` (before op). Calling thread only.
    @inline(__always)
    public static func sgemv(_ trans: Transpose, rows: Int, cols: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                             beta: Float, y: UnsafeMutablePointer<Float>) {
        if rows == 0 || cols == 0 { return }
        Backend.shared.sgemv(trans, rows, cols, alpha, a, lda, x, beta, y)
    }
}

private typealias SgemmFn = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
                                            UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
                                            Float, UnsafeMutablePointer<Float>?, Int32) -> Void
private typealias SgemvFn = @convention(c) (Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
                                            UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?,
                                            Int32) -> Void
private typealias SetThreadsFn = @convention(c) (Int32) -> Void
private typealias CoreNameFn = @convention(c) () -> UnsafeMutablePointer<CChar>?

private let cblasRowMajor: Int32 = 101
private let cblasNoTrans: Int32 = 111
private let cblasTrans: Int32 = 112

/// The resolved BLAS functions. Created once per process (Swift globals are initialised exactly once).
private final class Backend: Sendable {
    enum Kind: Sendable { case openBLAS, accelerate, reference }

    static let shared = Backend()

    let kind: Kind
    let coreName: String?
    let description: String
    private let sgemmFn: SgemmFn?
    private let sgemvFn: SgemvFn?

    private init() {
        #if canImport(Accelerate)
        kind = .accelerate
        coreName = nil
        description = "Accelerate"
        sgemmFn = nil
        sgemvFn = nil
        #else
        // Choose the core before OpenBLAS initialises, unless the user already chose one.
        if getenv("OPENBLAS_CORETYPE") == nil, let core = CPUFeatures.current.openBLASCoreType {
            setenv("OPENBLAS_CORETYPE", core, 0)
        }
        // OpenBLAS starts its own threads at load; SMM does the splitting, so it runs single-threaded.
        if getenv("OPENBLAS_NUM_THREADS") == nil { setenv("OPENBLAS_NUM_THREADS", "1", 0) }
        let candidates = ["libopenblas.so.0", "libopenblas.so",
                          "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
                          "/usr/lib/aarch64-linux-gnu/libopenblas.so.0"]
        var handle: UnsafeMutableRawPointer?
        for name in candidates {
            handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)
            if handle != nil { break }
        }
        if let handle, let gemm = dlsym(handle, "cblas_sgemm"), let gemv = dlsym(handle, "cblas_sgemv") {
            kind = .openBLAS
            sgemmFn = unsafeBitCast(gemm, to: SgemmFn.self)
            sgemvFn = unsafeBitCast(gemv, to: SgemvFn.self)
            if let setThreads = dlsym(handle, "openblas_set_num_threads") {
                unsafeBitCast(setThreads, to: SetThreadsFn.self)(1)
            }
            if let coreFn = dlsym(handle, "openblas_get_corename"),
               let name = unsafeBitCast(coreFn, to: CoreNameFn.self)() {
                coreName = String(cString: name)
            } else {
                coreName = nil
            }
            description = "OpenBLAS (core \(coreName ?? "unknown"))"
        } else {
            kind = .reference
            coreName = nil
            sgemmFn = nil
            sgemvFn = nil
            description = "Swift reference GEMM (OpenBLAS not found: apt-get install libopenblas0)"
        }
        #endif
    }

    @inline(__always)
    func sgemm(_ ta: Transpose, _ tb: Transpose, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
               _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
               _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        #if canImport(Accelerate)
        cblas_sgemm(CblasRowMajor, ta == .none ? CblasNoTrans : CblasTrans, tb == .none ? CblasNoTrans : CblasTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        #else
        if let sgemmFn {
            sgemmFn(cblasRowMajor, ta == .none ? cblasNoTrans : cblasTrans, tb == .none ? cblasNoTrans : cblasTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        } else {
            Reference.sgemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                            beta: beta, c: c, ldc: ldc)
        }
        #endif
    }

    @inline(__always)
    func sgemv(_ t: Transpose, _ rows: Int, _ cols: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
               _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>) {
        #if canImport(Accelerate)
        cblas_sgemv(CblasRowMajor, t == .none ? CblasNoTrans : CblasTrans, Int32(rows), Int32(cols), alpha, a,
                    Int32(lda), x, 1, beta, y, 1)
        #else
        if let sgemvFn {
            sgemvFn(cblasRowMajor, t == .none ? cblasNoTrans : cblasTrans, Int32(rows), Int32(cols), alpha, a,
                    Int32(lda), x, 1, beta, y, 1)
        } else {
            Reference.sgemv(t, rows: rows, cols: cols, alpha: alpha, a: a, lda: lda, x: x, beta: beta, y: y)
        }
        #endif
    }
}
