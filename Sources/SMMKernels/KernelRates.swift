// What the matrix kernels reach, against what the instructions they are built on can do on this
// CPU: `smm bench-kernels` prints both. The instruction peaks come from loops of 16 independent
// instructions with no memory operands (CMicroKernels/Peaks.c), run on every pool thread at once.
import CMicroKernels
import Foundation

/// Measured rates of the matrix kernels and of their instructions.
public enum KernelRates {
    /// An instruction's measured peak on every pool thread at once.
    public struct Peak: Sendable, Equatable {
        /// The instruction (`vpdpbusd`, `vfmadd231ps`, `vdpbf16ps`), 512-bit.
        public let instruction: String
        /// Operations per second in G (a multiply-add counts 2), all threads together.
        public let gops: Double
    }

    /// The peaks of the instructions this CPU has (best of 5 runs of about 20-50 ms each).
    public static func instructionPeaks(pool: WorkerPool = .shared) -> [Peak] {
        var peaks: [Peak] = []
        let iterations = 2_000_000
        // Each thread times its own loop and the rates are added, so a thread that another process
        // delays costs only its own share; the best of 5 runs counts.
        let seconds = Sinks<Double>(count: pool.threadCount)
        func measure(_ opsPerIteration: Double, _ body: @escaping @Sendable (Int) -> Void) -> Double {
            var best = 0.0
            for _ in 0..<5 {
                pool.run { worker in
                    let start = DispatchTime.now().uptimeNanoseconds
                    body(worker)
                    seconds.values[worker] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                }
                let rate = (0..<pool.threadCount).reduce(0.0) { $0 + opsPerIteration * Double(iterations) / max(seconds.values[$1], 1e-9) }
                best = max(best, rate / 1e9)
            }
            return best
        }
        let intSinks = Sinks<Int32>(count: pool.threadCount), floatSinks = Sinks<Float>(count: pool.threadCount)
        if smm_i8_vnni512_available() != 0 {
            // 16 instructions x 16 lanes x 4 products = 1024 multiply-adds per iteration.
            peaks.append(Peak(instruction: "vpdpbusd", gops: measure(2 * 1024) { intSinks.run($0) { smm_peak_vnni512(iterations, $0) } }))
        }
        if smm_f32_avx512_available() != 0 {
            peaks.append(Peak(instruction: "vfmadd231ps", gops: measure(2 * 256) { floatSinks.run($0) { smm_peak_fma512(iterations, $0) } }))
        }
        if smm_bf16_avx512_available() != 0 {
            peaks.append(Peak(instruction: "vdpbf16ps", gops: measure(2 * 512) { floatSinks.run($0) { smm_peak_bf16(iterations, $0) } }))
        }
        return peaks
    }

    /// GOP/s (2·rows·N·K per second) of `Linear.forward` on `weight` with `rows` random input rows:
    /// the best of as many calls as fit in `seconds` (at least 3, after one warm-up call).
    public static func gops(_ weight: LinearWeight, rows: Int, seconds: Double = 0.3, pool: WorkerPool = .shared) -> Double {
        let k = weight.inFeatures, n = weight.outFeatures
        let x = FloatBuffer(count: rows * k), out = FloatBuffer(count: rows * n)
        var state: UInt32 = 12345
        for i in 0..<(rows * k) {
            state = state &* 1_664_525 &+ 1_013_904_223
            x.pointer[i] = Float(Int32(bitPattern: state) >> 8) / Float(1 << 23)
        }
        Linear.forward(x.pointer, rows: rows, weight: weight, out: out.pointer, pool: pool)
        var best = Double.infinity, calls = 0
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        while calls < 3 || DispatchTime.now().uptimeNanoseconds < deadline {
            let start = DispatchTime.now().uptimeNanoseconds
            Linear.forward(x.pointer, rows: rows, weight: weight, out: out.pointer, pool: pool)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            calls += 1
        }
        return 2 * Double(rows) * Double(n) * Double(k) / max(best, 1e-9) / 1e9
    }

    /// One result slot per worker, so the peak loops' results are used and not optimised away.
    final class Sinks<T: Numeric>: @unchecked Sendable {
        let values: UnsafeMutablePointer<T>
        init(count: Int) {
            values = .allocate(capacity: max(1, count))
            values.initialize(repeating: 0, count: max(1, count))
        }
        deinit { values.deallocate() }
        func run(_ worker: Int, _ body: (UnsafeMutablePointer<T>) -> Void) { body(values + worker) }
    }
}
