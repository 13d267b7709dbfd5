// The memory-budgeted cache: acquire (budget checks, eviction, waiting, one load per key), release,
// eviction, clearing, and memory optimisation.
import Foundation
import Logging

extension SmartModelManager {
    // MARK: - Cache

    /// Takes a lease on `key`, loading it if needed. Never exceeds the budget: evicts idle models
    /// (least recently used first), waits for models in use to become idle, and throws
    /// `exceedsBudget` when the model alone is over a limit.
    func acquire(_ key: ModelKey) async throws -> any LoadedInferenceModel {
        while true {
            if let model = book.lease(key) {
                book.hits += 1
                return model
            }
            if let pending = loading[key] {
                do { _ = try await pending.value } catch {
                    throw ManagerError.loadFailed(model: key.id, reason: failedLoads[key] ?? "\(error)")
                }
                continue
            }
            let entry = try catalog.require(key.id)
            guard let avail = availability[entry.id], avail.isAvailable else {
                let reason = (availability[entry.id] ?? ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory))
                    .reason ?? "file missing"
                throw ManagerError.loadFailed(model: entry.id, reason: reason)
            }
            let bytes = ModelSelector.memoryBytes(entry, key.dtype)
            if let limit = configuration.modelMemoryLimitBytes, bytes > limit {
                throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: limit, variable: "MODEL_MEMORY_LIMIT")
            }
            if let limit = thresholds.maxMemoryPerModelBytes, bytes > limit {
                throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: limit, variable: "MAX_MEMORY_USAGE")
            }
            if bytes > book.budget {
                throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: book.budget, variable: budgetName)
            }
            if !book.fits(bytes) {
                if let victims = book.victims(toFit: bytes) {
                    for victim in victims { evict(victim, reason: "least recently used; making room for \(key)") }
                } else {
                    logger.debug(.init(stringLiteral: "cache full (\(ByteFormat.string(book.committed)) of \(ByteFormat.string(book.budget))), "
                        + "\(key) waits for a model in use to become idle"))
                    await withCheckedContinuation { waiters.append($0) }
                    continue
                }
            }
            book.reserve(key, bytes: bytes)
            book.misses += 1
            let backend = self.backend
            let location = avail.location
            // The task records its own outcome on the actor before it completes, so whoever awaits it
            // (the requester, or requests for the same model) finds the cache already updated.
            let task = Task.detached { [self] () async throws -> any LoadedInferenceModel in
                let start = ContinuousClock.now
                let before = ResidentMemory.bytes()
                do {
                    let model = try await backend.load(entry, dtype: key.dtype, location: location)
                    let measured = max(model.memoryBytes, max(0, ResidentMemory.bytes() - before))
                    return await self.loadSucceeded(key, model: model, bytes: bytes, measured: measured,
                                                    loadMs: self.ms(since: start))
                } catch {
                    throw await self.loadFailed(key, error: error)
                }
            }
            loading[key] = task
            // The model comes back holding one lease: this request's.
            return try await task.value
        }
    }

    func loadSucceeded(_ key: ModelKey, model: any LoadedInferenceModel, bytes: Int, measured: Int, loadMs: Double)
        -> any LoadedInferenceModel {
        loading[key] = nil
        book.unreserve(key)
        book.insert(key, model: model, bytes: bytes, measuredBytes: measured, loadMs: loadMs)
        logger.debug(.init(stringLiteral: "loaded \(key) in \(fmt(loadMs)) ms; charged \(ByteFormat.string(bytes)), measured "
            + "\(ByteFormat.string(measured)); cache \(ByteFormat.string(book.held)) of \(ByteFormat.string(book.budget))"))
        hub.emit(.modelLoaded(model: key, loadMs: loadMs))
        wakeWaiters()
        return model
    }

    func loadFailed(_ key: ModelKey, error: any Error) -> ManagerError {
        loading[key] = nil
        book.unreserve(key)
        book.failedLoads += 1
        wakeWaiters()
        let reason: String
        if case ManagerError.loadFailed(_, let r) = error { reason = r } else { reason = "\(error)" }
        failedLoads[key] = reason
        logger.warning("could not load \(key): \(reason)")
        hub.emit(.modelLoadFailed(model: key, reason: reason))
        return ManagerError.loadFailed(model: key.id, reason: reason)
    }

    func release(_ key: ModelKey) {
        if book.release(key), !configuration.cacheEnabled || book.shouldEvictWhenIdle(key) {
            evict(key, reason: configuration.cacheEnabled ? "cleared" : "MODEL_CACHE_ENABLED=false: unloaded when idle")
        }
        wakeWaiters()
    }

    func evict(_ key: ModelKey, reason: String) {
        guard let bytes = book.evict(key) else { return }
        prototypeCache = prototypeCache.filter { !$0.key.hasPrefix(key.description + "|") }
        logger.debug("evicted \(key) (\(ByteFormat.string(bytes))): \(reason)")
        hub.emit(.modelEvicted(model: key, reason: reason))
        wakeWaiters()
    }

    func wakeWaiters() {
        let pending = waiters
        waiters.removeAll()
        for waiter in pending { waiter.resume() }
    }

    /// Unloads every idle model; models in use go when their requests finish. Returns how many went now.
    @discardableResult
    public func clearModelCache() -> Int {
        var count = 0
        for key in book.statistics.models.map(\.key) {
            if book.leases(key) == 0 {
                evict(key, reason: "cache cleared")
                count += 1
            } else {
                book.markForEviction(key)
            }
        }
        return count
    }

    /// Hits, misses, evictions, bytes, per-model uses and load times.
    public func cacheStatistics() -> CacheStatistics { book.statistics }

    /// Drops idle models no task uses; under memory pressure (available memory below 10% of total or
    /// 512 MB) drops every idle model and shrinks the default budget to half of what is available.
    @discardableResult
    public func optimizeMemoryUsage() async throws -> MemoryOptimisation {
        let info = try probe.collect(modelsDirectory: configuration.modelsDirectory)
        let available = info.effectiveAvailableMemoryBytes
        let pressure = available < max(512 << 20, info.totalMemoryBytes / 10)
        let active = Set(tasks.values.map(\.active))
        var evicted: [ModelKey] = []
        var freed = 0
        for key in book.idleKeys where pressure || !active.contains(key) {
            let bytes = book.statistics.models.first { $0.key == key }?.bytes ?? 0
            evict(key, reason: pressure ? "memory pressure: \(ByteFormat.string(available)) available" : "idle and serving no task")
            evicted.append(key)
            freed += bytes
        }
        if pressure, configuration.maxCacheSizeBytes == nil {
            book.budget = max(64 << 20, min(book.budget, available / 2))
        }
        if analysis != nil {
            analysis?.info.availableMemoryBytes = info.availableMemoryBytes
            analysis?.info.cgroupMemoryUsageBytes = info.cgroupMemoryUsageBytes
        }
        logger.debug("memory optimisation: freed \(ByteFormat.string(freed)), pressure \(pressure), budget \(ByteFormat.string(book.budget))")
        return MemoryOptimisation(evicted: evicted, freedBytes: freed, underPressure: pressure, budgetBytes: book.budget)
    }
}
