// The memory-budgeted model cache: leases on loaded models, one load per model at a time, the
// budget (evict idle models least recently used first, wait for models in use, refuse a model
// that alone is over it), unloading when idle, and data derived from a loaded model (zero-shot
// label prototypes) that goes when the model goes. The manager decides *what* to load and checks
// its per-model limits; this type decides *whether it fits* and does the loading.
import Foundation
import Logging
import Synchronization

/// The model cache. Thread-safe: its books sit behind one lock that is never held across a suspension.
final class ModelCache: Sendable {
    private struct State {
        var book: CacheBook
        var loading: [ModelKey: Task<any LoadedInferenceModel, any Error>] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// Bumped whenever room may have appeared, so a request that found the cache full and is about
        /// to wait can tell it missed a wake-up.
        var generation: UInt64 = 0
        var failedLoads: [ModelKey: String] = [:]
        var derived: [ModelKey: [String: [[[Float]]]]] = [:]
    }

    private let state: Mutex<State>
    private let unloadWhenIdle: Bool
    private let hub: EventHub
    private let logger: Logger

    /// A cache of `budget` bytes. `unloadWhenIdle` (MODEL_CACHE_ENABLED=false) drops each model as its last request ends.
    init(budget: Int, unloadWhenIdle: Bool, hub: EventHub, logger: Logger) {
        state = Mutex(State(book: CacheBook(budget: budget)))
        self.unloadWhenIdle = unloadWhenIdle
        self.hub = hub
        self.logger = logger
    }

    // MARK: - Reading the books

    /// The budget, bytes.
    var budget: Int {
        get { state.withLock { $0.book.budget } }
        set { state.withLock { $0.book.budget = newValue } }
    }

    var statistics: CacheStatistics { state.withLock { $0.book.statistics } }
    func contains(_ key: ModelKey) -> Bool { state.withLock { $0.book.contains(key) } }
    func cached(_ key: ModelKey) -> CachedModel? { statistics.models.first { $0.key == key } }

    /// Why each model that failed to load failed (the selector skips them).
    var failedLoads: [ModelKey: String] { state.withLock { $0.failedLoads } }

    // MARK: - Leases

    /// A lease on `key` if it is loaded (a hit), else nil.
    func lease(_ key: ModelKey) -> (any LoadedInferenceModel)? {
        state.withLock { s in
            guard let model = s.book.lease(key) else { return nil }
            s.book.hits += 1
            return model
        }
    }

    /// A lease on `key`, loading it with `load` if needed (`bytes` is what it is charged). Never
    /// exceeds the budget: evicts idle models, least recently used first; waits while the room is
    /// held by models in use; throws `exceedsBudget` (naming `budgetName`) when the model alone is
    /// over the budget and `loadFailed` when the load throws. Requests for a model being loaded
    /// wait for that one load.
    func acquire(_ key: ModelKey, bytes: Int, budgetName: String,
                 load: @escaping @Sendable () async throws -> any LoadedInferenceModel) async throws -> any LoadedInferenceModel {
        enum Step {
            case leased(any LoadedInferenceModel)
            case join(Task<any LoadedInferenceModel, any Error>)
            case wait(generation: UInt64, committed: Int, budget: Int)
            case load(Task<any LoadedInferenceModel, any Error>)
            case tooBig(budget: Int)
        }
        while true {
            let step: Step = state.withLock { s in
                if let model = s.book.lease(key) {
                    s.book.hits += 1
                    return .leased(model)
                }
                if let pending = s.loading[key] { return .join(pending) }
                if bytes > s.book.budget { return .tooBig(budget: s.book.budget) }
                if !s.book.fits(bytes) {
                    guard let victims = s.book.victims(toFit: bytes) else {
                        return .wait(generation: s.generation, committed: s.book.committed, budget: s.book.budget)
                    }
                    for victim in victims { evictLocked(&s, victim, reason: "least recently used; making room for \(key)") }
                }
                s.book.reserve(key, bytes: bytes)
                s.book.misses += 1
                let task = Task.detached { [self] () async throws -> any LoadedInferenceModel in
                    let start = ContinuousClock.now
                    let before = ResidentMemory.bytes()
                    do {
                        let model = try await load()
                        let measured = max(model.memoryBytes, max(0, ResidentMemory.bytes() - before))
                        return self.loadSucceeded(key, model: model, bytes: bytes, measured: measured,
                                                  loadMs: BenchmarkHarness.milliseconds(since: start))
                    } catch {
                        throw self.loadFailed(key, error: error)
                    }
                }
                s.loading[key] = task
                return .load(task)
            }
            switch step {
            case .leased(let model):
                return model
            case .join(let pending):
                do { _ = try await pending.value } catch {
                    throw ManagerError.loadFailed(model: key.id, reason: failedLoads[key] ?? "\(error)")
                }
            case .tooBig(let budget):
                throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: budget, variable: budgetName)
            case let .wait(generation, committed, budget):
                logger.debug(.init(stringLiteral: "cache full (\(ByteFormat.string(committed)) of \(ByteFormat.string(budget))), "
                    + "\(key) waits for a model in use to become idle"))
                await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                    let missed = state.withLock { s in
                        if s.generation != generation { return true }
                        s.waiters.append(waiter)
                        return false
                    }
                    if missed { waiter.resume() }
                }
            case .load(let task):
                // The model comes back holding one lease: this request's.
                return try await task.value
            }
        }
    }

    /// Returns a lease; the model goes when idle if the cache unloads idle models or it was cleared while in use.
    func release(_ key: ModelKey) {
        let waiters = state.withLock { s in
            if s.book.release(key), unloadWhenIdle || s.book.shouldEvictWhenIdle(key) {
                evictLocked(&s, key, reason: unloadWhenIdle ? "MODEL_CACHE_ENABLED=false: unloaded when idle" : "cleared")
            }
            return takeWaiters(&s)
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Eviction

    /// Unloads every idle model; models in use are marked to go when their requests finish. Returns how many went now.
    func clear() -> Int {
        let (count, waiters) = state.withLock { s in
            var count = 0
            for key in s.book.statistics.models.map(\.key) {
                if s.book.leases(key) == 0 {
                    evictLocked(&s, key, reason: "cache cleared")
                    count += 1
                } else {
                    s.book.markForEviction(key)
                }
            }
            return (count, takeWaiters(&s))
        }
        for waiter in waiters { waiter.resume() }
        return count
    }

    /// Unloads the idle models `shouldGo` picks, least recently used first. Returns them with their bytes.
    func evictIdle(reason: String, where shouldGo: (ModelKey) -> Bool) -> [(key: ModelKey, bytes: Int)] {
        let (gone, waiters) = state.withLock { s in
            var gone: [(key: ModelKey, bytes: Int)] = []
            for key in s.book.idleKeys where shouldGo(key) {
                if let bytes = evictLocked(&s, key, reason: reason) { gone.append((key, bytes)) }
            }
            return (gone, takeWaiters(&s))
        }
        for waiter in waiters { waiter.resume() }
        return gone
    }

    // MARK: - Data derived from a loaded model

    /// What was stored for `key` under `name` while it stayed loaded.
    func derived(_ key: ModelKey, _ name: String) -> [[[Float]]]? { state.withLock { $0.derived[key]?[name] } }

    /// Keeps `value` with `key` until it is evicted (nothing is kept for a model that is not loaded).
    func storeDerived(_ key: ModelKey, _ name: String, _ value: [[[Float]]]) {
        state.withLock { s in
            if s.book.contains(key) { s.derived[key, default: [:]][name] = value }
        }
    }

    // MARK: - Internals

    private func loadSucceeded(_ key: ModelKey, model: any LoadedInferenceModel, bytes: Int, measured: Int,
                               loadMs: Double) -> any LoadedInferenceModel {
        let (held, budget, waiters) = state.withLock { s in
            s.loading[key] = nil
            s.book.unreserve(key)
            s.book.insert(key, model: model, bytes: bytes, measuredBytes: measured, loadMs: loadMs)
            return (s.book.held, s.book.budget, takeWaiters(&s))
        }
        logger.debug(.init(stringLiteral: "loaded \(key) in \(String(format: "%.1f", loadMs)) ms; charged \(ByteFormat.string(bytes)), "
            + "measured \(ByteFormat.string(measured)); cache \(ByteFormat.string(held)) of \(ByteFormat.string(budget))"))
        hub.emit(.modelLoaded(model: key, loadMs: loadMs))
        for waiter in waiters { waiter.resume() }
        return model
    }

    private func loadFailed(_ key: ModelKey, error: any Error) -> ManagerError {
        let reason: String
        if case ManagerError.loadFailed(_, let r) = error { reason = r } else { reason = "\(error)" }
        let waiters = state.withLock { s in
            s.loading[key] = nil
            s.book.unreserve(key)
            s.book.failedLoads += 1
            s.failedLoads[key] = reason
            return takeWaiters(&s)
        }
        logger.warning("could not load \(key): \(reason)")
        hub.emit(.modelLoadFailed(model: key, reason: reason))
        for waiter in waiters { waiter.resume() }
        return ManagerError.loadFailed(model: key.id, reason: reason)
    }

    /// Evicts under the lock (the event is emitted there too: the hub only yields to streams).
    @discardableResult
    private func evictLocked(_ s: inout State, _ key: ModelKey, reason: String) -> Int? {
        guard let bytes = s.book.evict(key) else { return nil }
        s.derived[key] = nil
        s.generation &+= 1
        logger.debug("evicted \(key) (\(ByteFormat.string(bytes))): \(reason)")
        hub.emit(.modelEvicted(model: key, reason: reason))
        return bytes
    }

    /// Takes every waiter (to be resumed after the lock is released) and marks that room may have appeared.
    private func takeWaiters(_ s: inout State) -> [CheckedContinuation<Void, Never>] {
        s.generation &+= 1
        let waiters = s.waiters
        s.waiters.removeAll()
        return waiters
    }
}
