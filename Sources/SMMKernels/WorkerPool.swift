// A persistent pool of worker threads for the engine's parallel loops (GEMM column blocks,
// attention heads, element-wise rows).
//
// Measured on the 2-core VM: DispatchQueue.concurrentPerform gives no speedup when calls come
// with small gaps between them (thread wake-up costs more than the work). Here the workers spin
// for a short while after each job (about 0.3 us per dispatch when they are hot), then sleep on a
// condition variable so an idle process burns no CPU. The calling thread works as worker 0.
// One job runs at a time; a caller that finds the pool busy (another model on another task, or a
// nested call) runs its loop inline on its own thread instead of waiting.
import Foundation
import Synchronization

/// A fixed set of threads that run one parallel loop at a time.
public final class WorkerPool: @unchecked Sendable {
    /// The process-wide pool: `setSharedThreadCount(_:)` if called before its first use, else
    /// `SMM_THREADS`, else the physical cores this process may use.
    public static let shared: WorkerPool = {
        let count = sharedState.withLock { state -> Int in
            state.started = true
            return state.requested ?? WorkerPool.defaultThreadCount
        }
        return WorkerPool(threadCount: count)
    }()

    private static let sharedState = Locked<(requested: Int?, started: Bool)>((nil, false))

    /// The largest thread count a pool accepts from a user.
    public static let maxThreadCount = 256

    /// Sets the thread count of `shared`; it must be called before anything runs on the pool (a
    /// command's `--threads`, a server's start-up).
    /// - Throws: `WorkerPoolError.invalidThreadCount` outside 1...`maxThreadCount`,
    ///   `.alreadyStarted` when `shared` already runs with another count.
    public static func setSharedThreadCount(_ count: Int) throws {
        guard (1...maxThreadCount).contains(count) else { throw WorkerPoolError.invalidThreadCount(count) }
        let started = sharedState.withLock { state -> Bool in
            if !state.started { state.requested = count }
            return state.started
        }
        if started && shared.threadCount != count {
            throw WorkerPoolError.alreadyStarted(running: shared.threadCount, requested: count)
        }
    }

    /// Number of threads a loop is split over, the calling thread included.
    public let threadCount: Int

    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var job: ((Int) -> Void)?
    private var stopping = false
    private let spinIterations = 200_000

    /// Starts `threadCount - 1` worker threads (at least one thread in all: the caller).
    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
        for index in 1..<self.threadCount {
            let thread = Thread { [self] in self.workerLoop(index: index) }
            thread.name = "smm-worker-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body(worker)` once for every worker index in `0..<threadCount`, in parallel, and
    /// returns when all have finished. If the pool is busy, runs all indices on this thread.
    public func run(_ body: (Int) -> Void) {
        if threadCount == 1 || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for index in 0..<threadCount { body(index) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            remaining.store(threadCount - 1, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            escapable(0)
            while remaining.load(ordering: .acquiring) > 0 {}
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Splits `0..<count` into one contiguous range per worker and runs `body(range, worker)` on each.
    /// Loops smaller than `minimumPerWorker * 2` items run on the calling thread alone.
    public func parallelFor(_ count: Int, minimumPerWorker: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        if count <= 0 { return }
        let workers = min(threadCount, max(1, count / max(1, minimumPerWorker)))
        if workers == 1 {
            body(0..<count, 0)
            return
        }
        run { worker in
            guard worker < workers else { return }
            let range = WorkerPool.chunk(count, parts: workers, index: worker)
            if !range.isEmpty { body(range, worker) }
        }
    }

    /// The `index`-th of `parts` near-equal contiguous pieces of `0..<count`.
    @inline(__always)
    public static func chunk(_ count: Int, parts: Int, index: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins >= spinIterations {
                    condition.lock()
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen && !stopping {
                        condition.wait()
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    condition.unlock()
                    spins = 0
                }
            }
            seen = generation.load(ordering: .acquiring)
            if let job { job(index) }
            remaining.subtract(1, ordering: .releasing)
        }
    }

    /// Threads to use by default: `SMM_THREADS` if set, else the physical cores this process may run on.
    public static var defaultThreadCount: Int {
        if let text = ProcessInfo.processInfo.environment["SMM_THREADS"], let value = Int(text), value > 0 {
            return min(value, maxThreadCount)
        }
        return max(1, min(physicalCoreCount, ProcessInfo.processInfo.activeProcessorCount))
    }

    /// Physical cores (distinct `physical id`/`core id` pairs on Linux; `hw.physicalcpu` elsewhere).
    public static var physicalCoreCount: Int {
        #if os(Linux)
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            var pairs = Set<String>()
            var physical = "0"
            for line in text.split(separator: "\n") {
                if line.hasPrefix("physical id") { physical = String(line.split(separator: ":").last ?? "") }
                if line.hasPrefix("core id") { pairs.insert(physical + "/" + String(line.split(separator: ":").last ?? "")) }
            }
            if !pairs.isEmpty { return pairs.count }
        }
        return ProcessInfo.processInfo.activeProcessorCount
        #else
        return ProcessInfo.processInfo.activeProcessorCount
        #endif
    }
}

/// Why the shared pool's thread count could not be set.
public enum WorkerPoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A count outside 1...256.
    case invalidThreadCount(Int)
    /// The shared pool already runs with `running` threads.
    case alreadyStarted(running: Int, requested: Int)

    /// The message for a user.
    public var description: String {
        switch self {
        case .invalidThreadCount(let n):
            return "invalid thread count \(n): pass a count from 1 to \(WorkerPool.maxThreadCount) (SMM_THREADS in the environment)"
        case let .alreadyStarted(running, requested):
            return "the worker pool already runs \(running) threads, so it cannot switch to \(requested); set the thread "
                + "count with WorkerPool.setSharedThreadCount (or SMM_THREADS) before the first inference"
        }
    }
}

extension WorkerPoolError: LocalizedError {
    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }
}
