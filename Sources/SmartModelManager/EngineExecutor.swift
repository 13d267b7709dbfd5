// Where engine work runs when it is called from async code: on one serial dispatch queue of its
// own, never on Swift's cooperative thread pool (a forward pass takes milliseconds to seconds, and
// blocking the pool's few threads would stall every other task in the process). The engine splits
// each call over its own worker threads (`WorkerPool`), so one job at a time is the fastest order.
// Long calls are cut into chunks of texts, queued one by one: another caller's short request runs
// between two chunks, and a cancelled task stops at the next chunk with `CancellationError`.
import Foundation
import SMMKernels

/// Runs blocking engine calls off the cooperative pool, in chunks, cancellably.
public enum EngineExecutor {
    /// Texts per queued chunk: about 0.1-0.3 s of MiniLM work on 2 cores, the longest a
    /// cancellation waits.
    public static let chunkSize = 64

    static let queue: DispatchQueue = {
        let q = DispatchQueue(label: "smm.engine", qos: .userInitiated)
        q.setSpecific(key: queueKey, value: true)
        return q
    }()
    private static let queueKey = DispatchSpecificKey<Bool>()

    /// True on the engine queue (where `perform` runs its work).
    public static var isCurrent: Bool { DispatchQueue.getSpecific(key: queueKey) == true }

    /// Runs `body` on the engine queue and returns its result. A task cancelled before `body`
    /// starts gets `CancellationError` without running it.
    public static func perform<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        let cancelled = Locked(false)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                queue.async {
                    if cancelled.withLock({ $0 }) {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    continuation.resume(with: Result { try body() })
                }
            }
        } onCancel: {
            cancelled.withLock { $0 = true }
        }
    }

    /// `body` over `items` in chunks of `chunkSize`, each on the engine queue, results in input
    /// order. Checks for cancellation before each chunk.
    /// - Throws: `CancellationError` when the task is cancelled; whatever `body` throws.
    public static func map<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable ([T]) throws -> [R])
        async throws -> [R] {
        var results: [R] = []
        results.reserveCapacity(items.count)
        var start = 0
        while start < items.count {
            try Task.checkCancellation()
            let chunk = Array(items[start..<min(items.count, start + chunkSize)])
            results += try await perform { try body(chunk) }
            start += chunkSize
        }
        return results
    }
}
