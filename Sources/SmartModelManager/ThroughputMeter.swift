// The measured part of the system analysis: sgemm GFLOP/s on one core and on every thread, and the
// memory read bandwidth of every thread at once.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SMMKernels

/// The compute and bandwidth probe: a 256×256×256 sgemm (best of several) on one core and on every
/// thread at once, and every thread reading its share of a 96 MB buffer.
public enum ThroughputMeter {
    /// The bandwidth measurement this build makes (recorded in the probe, so a cached probe made
    /// another way is not reused).
    public static let bandwidthMethod = "read-96MB-all-threads"

    /// Runs the probe (about 50–200 ms) on the engine's worker pool (`threads` is informational:
    /// the pool's size, from `WorkerPool.setSharedThreadCount` or `SMM_THREADS`, is what inference will use).
    public static func measure(threads: Int) -> ThroughputProbe {
        let n = 256
        let flops = 2.0 * Double(n * n * n)
        let a = [Float](repeating: 0.5, count: n * n)
        let b = [Float](repeating: 0.25, count: n * n)
        func bestTime(repeats: Int, _ body: () -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return max(best, 1e-9)
        }
        var c = [Float](repeating: 0, count: n * n)
        let single = a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    bestTime(repeats: 8) {
                        // Safe: the buffers outlive the call, pointers come from live arrays.
                        BLAS.sgemm(.none, .none, m: n, n: n, k: n, alpha: 1, a: pa.baseAddress!, lda: n,
                                   b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
                    }
                }
            }
        }
        // The engine's own pool (one job at a time; a busy pool runs the loop on this thread).
        let pool = WorkerPool.shared
        let workers = pool.threadCount
        let outputs = UnsafeMutablePointer<Float>.allocate(capacity: n * n * workers)
        defer { outputs.deallocate() }
        let multi = a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                bestTime(repeats: 6) {
                    pool.run { w in
                        BLAS.sgemm(.none, .none, m: n, n: n, k: n, alpha: 1, a: pa.baseAddress!, lda: n,
                                   b: pb.baseAddress!, ldb: n, beta: 0, c: outputs + w * n * n, ldc: n)
                    }
                }
            }
        }
        // Decode reads every weight once per token from memory: measure that, on every thread, over
        // a buffer three times a 32 MB L3 (a 32 MB copy, measured before, ran from the cache: 82 GB/s
        // reported where 27-38 GB/s stream, so decode looked compute-bound and q4 never won).
        let bytes = 96 << 20
        let words = bytes / MemoryLayout<SIMD8<UInt64>>.stride
        let buffer = UnsafeMutablePointer<SIMD8<UInt64>>.allocate(capacity: words)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: SIMD8(repeating: 1), count: words)
        let sinks = UnsafeMutablePointer<UInt64>.allocate(capacity: workers)
        defer { sinks.deallocate() }
        let read = bestTime(repeats: 3) {
            pool.run { w in
                let range = WorkerPool.chunk(words, parts: workers, index: w)
                var acc = SIMD8<UInt64>(repeating: 0)
                for i in range { acc &+= buffer[i] }
                sinks[w] = acc.wrappedSum()
            }
        }
        // All threads together cannot do less than one of them alone: a lower figure means other
        // processes held the cores during the probe, and one thread is still available.
        let singleGFLOPS = flops / single / 1e9
        return ThroughputProbe(singleCoreGFLOPS: singleGFLOPS,
                               multiCoreGFLOPS: max(singleGFLOPS, flops * Double(workers) / multi / 1e9),
                               memoryBandwidthGBps: Double(bytes) / read / 1e9, threads: workers,
                               bandwidthMethod: bandwidthMethod)
    }
}
