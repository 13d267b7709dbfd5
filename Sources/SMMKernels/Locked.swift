// A value behind a lock that ThreadSanitizer understands.
//
// The standard library's `Synchronization.Mutex` waits in the kernel (futex) inside prebuilt,
// uninstrumented code on Linux, so ThreadSanitizer does not see the ordering it provides and
// reports "Swift access race" on correct code: eight threads incrementing a Mutex-guarded counter
// are flagged (Docs/RELIABILITY.md has the 15-line program). `Locked` is the same idea on
// `pthread_mutex_t`, whose lock and unlock TSan intercepts, so a TSan run reports real races only.
// Uncontended it costs about what Mutex does (one atomic each way).
#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// A value that is only touched inside `withLock`. The lock is never held across a suspension
/// (`withLock`'s body is synchronous).
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// A lock around `value`.
    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed (\(status))")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
