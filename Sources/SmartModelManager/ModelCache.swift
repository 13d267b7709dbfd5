// The memory-budgeted model cache: leases on loaded models, one load per model at a time, the
// budget (evict idle models least recently used first, wait for models in use, refuse a model
// that alone is over it), unloading when idle, models whose file changed on disk (the next request
// loads the new file; requests in flight finish on the old copy, whose bytes count until they do),
// and data derived from a loaded model (zero-shot label prototypes) that goes when the model goes. The manager decides *what* to load and checks
// its per-model limits; this type decides *whether it fits* and does the loading.
import Foundation
import Logging
import SMMKernels

/// A request's hold on a loaded model; give it back with `ModelCache.release`.
struct CacheLease: Sendable {
    var key: ModelKey
    var model: any LoadedInferenceModel
    /// Which load of `key` it holds.
    var slot: UInt64
}

/// The model cache. Thread-safe: its books sit behind one lock that is never held across a suspension.
final class ModelCache: Sendable {
    private struct State {
        var book: CacheBook
        var loading: [ModelKey: Task<CacheLease, any Error>] = [:]
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// Bumped whenever room may have appeared, so a request that found the cache full and is about
        /// to wait can tell it missed a wake-up.
        var generation: UInt64 = 0
        var failedLoads: [ModelKey: String] = [:]
        /// The files a failed load was tried on: a failure is forgotten when they change.
        var failedIdentities: [ModelKey: FileIdentity] = [:]
        /// Per model, data derived from one load of it (the slot id).
        var derived: [ModelKey: (slot: UInt64, values: [String: [[[Float]]]])] = [:]
    }

    private let state: Locked<State>
    private let unloadWhenIdle: Bool
    private let hub: EventHub
    private let logger: Logger

    /// A cache of `budget` bytes. `unloadWhenIdle` (MODEL_CACHE_ENABLED=false) drops each model as its last request ends.
    init(budget: Int, unloadWhenIdle: Bool, hub: EventHub, logger: Logger) {
        state = Locked(State(book: CacheBook(budget: budget)))
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

    /// A lease on `key` if it is loaded from the files `identity` names (a hit), else nil. A copy
    /// loaded from other files (replaced on disk since) is dropped, or kept for the requests that
    /// hold it, and nil sends the caller to `acquire`. A nil `identity` (files unknown or gone)
    /// takes whatever copy is loaded.
    func lease(_ key: ModelKey, identity: FileIdentity? = nil) -> CacheLease? {
        state.withLock { s in
            forgetStaleLocked(&s, key, identity: identity)
            guard let (model, slot) = s.book.lease(key) else { return nil }
            s.book.hits += 1
            return CacheLease(key: key, model: model, slot: slot)
        }
    }

    /// A lease on `key`, loading it with `load` if needed (`bytes` is what it is charged). Never
    /// exceeds the budget: evicts idle models, least recently used first; waits while the room is
    /// held by models in use; throws `exceedsBudget` (naming `budgetName`) when the model alone is
    /// over the budget and `loadFailed` when the load throws. Requests for a model being loaded
    /// wait for that one load. `identity` is as for `lease`, and is recorded with the new copy.
    func acquire(_ key: ModelKey, identity: FileIdentity? = nil, bytes: Int, budgetName: String,
                 load: @escaping @Sendable () async throws -> any LoadedInferenceModel) async throws -> CacheLease {
        enum Step {
            case leased(CacheLease)
            case join(Task<CacheLease, any Error>)
            case wait(generation: UInt64, committed: Int, budget: Int)
            case load(Task<CacheLease, any Error>)
            case tooBig(budget: Int)
        }
        while true {
            let step: Step = state.withLock { s in
                forgetStaleLocked(&s, key, identity: identity)
                if let (model, slot) = s.book.lease(key) {
                    s.book.hits += 1
                    return .leased(CacheLease(key: key, model: model, slot: slot))
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
                let task = Task.detached { [self] () async throws -> CacheLease in
                    let start = ContinuousClock.now
                    let before = ResidentMemory.bytes()
                    do {
                        let model = try await load()
                        let measured = max(model.memoryBytes, max(0, ResidentMemory.bytes() - before))
                        return self.loadSucceeded(key, model: model, identity: identity, bytes: bytes, measured: measured,
                                                  loadMs: BenchmarkHarness.milliseconds(since: start))
                    } catch {
                        throw self.loadFailed(key, identity: identity, error: error)
                    }
                }
                s.loading[key] = task
                return .load(task)
            }
            switch step {
            case .leased(let lease):
                return lease
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

    /// Returns a lease; the model goes when idle if the cache unloads idle models or it was cleared
    /// while in use, and a replaced copy goes with its last request.
    func release(_ lease: CacheLease) {
        let key = lease.key
        let waiters = state.withLock { s in
            switch s.book.release(key, slot: lease.slot) {
            case .idle where unloadWhenIdle || s.book.shouldEvictWhenIdle(key):
                evictLocked(&s, key, reason: unloadWhenIdle ? "MODEL_CACHE_ENABLED=false: unloaded when idle" : "cleared")
            case .retiredGone(let bytes):
                logger.debug("dropped the replaced copy of \(key) (\(ByteFormat.string(bytes))): its last request finished")
            case .idle, .inUse:
                break
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

    /// What was stored under `name` for the load of the model that `lease` holds.
    func derived(_ lease: CacheLease, _ name: String) -> [[[Float]]]? {
        state.withLock { s in
            guard let d = s.derived[lease.key], d.slot == lease.slot else { return nil }
            return d.values[name]
        }
    }

    /// Keeps `value` with the load `lease` holds until it is evicted or replaced (nothing is kept
    /// for a copy that is no longer the current one).
    func storeDerived(_ lease: CacheLease, _ name: String, _ value: [[[Float]]]) {
        state.withLock { s in
            guard s.book.slotID(lease.key) == lease.slot else { return }
            if s.derived[lease.key]?.slot != lease.slot { s.derived[lease.key] = (lease.slot, [:]) }
            s.derived[lease.key]?.values[name] = value
        }
    }

    // MARK: - Internals

    /// A copy of `key` loaded from files other than `identity` is dropped when idle, else set aside
    /// for the requests that hold it; a failed load on other files is forgotten.
    private func forgetStaleLocked(_ s: inout State, _ key: ModelKey, identity: FileIdentity?) {
        guard let identity else { return }
        if let failed = s.failedIdentities[key], failed != identity {
            s.failedLoads[key] = nil
            s.failedIdentities[key] = nil
        }
        guard let loaded = s.book.identity(key), loaded != identity else { return }
        let inUse = s.book.leases(key)
        if inUse == 0 {
            evictLocked(&s, key, reason: "its file changed on disk")
        } else {
            s.book.retire(key)
            s.derived[key] = nil
            s.generation &+= 1
            let reason = "its file changed on disk; the old copy serves its \(inUse) request(s) in flight"
            logger.debug("replacing \(key): \(reason)")
            hub.emit(.modelEvicted(model: key, reason: reason))
        }
    }

    private func loadSucceeded(_ key: ModelKey, model: any LoadedInferenceModel, identity: FileIdentity?, bytes: Int,
                               measured: Int, loadMs: Double) -> CacheLease {
        let (slot, held, budget, waiters) = state.withLock { s in
            s.loading[key] = nil
            s.book.unreserve(key)
            let slot = s.book.insert(key, model: model, identity: identity, bytes: bytes, measuredBytes: measured,
                                     loadMs: loadMs)
            return (slot, s.book.held, s.book.budget, takeWaiters(&s))
        }
        logger.debug(.init(stringLiteral: "loaded \(key) in \(String(format: "%.1f", loadMs)) ms; charged \(ByteFormat.string(bytes)), "
            + "measured \(ByteFormat.string(measured)); cache \(ByteFormat.string(held)) of \(ByteFormat.string(budget))"))
        hub.emit(.modelLoaded(model: key, loadMs: loadMs))
        for waiter in waiters { waiter.resume() }
        return CacheLease(key: key, model: model, slot: slot)
    }

    private func loadFailed(_ key: ModelKey, identity: FileIdentity?, error: any Error) -> ManagerError {
        let reason: String
        if case ManagerError.loadFailed(_, let r) = error { reason = r } else { reason = "\(error)" }
        let waiters = state.withLock { s in
            s.loading[key] = nil
            s.book.unreserve(key)
            s.book.failedLoads += 1
            s.failedLoads[key] = reason
            s.failedIdentities[key] = identity
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
