// The manager's side of the cache: what a model key costs and which per-model limits apply
// (modelMemoryLimitBytes, the maxMemoryPerModelBytes threshold), then `ModelCache` does the rest (budget, eviction,
// waiting, one load per key). Also clearing and memory optimisation.
import Foundation
import Logging

extension ModelManager {
    // MARK: - Cache

    /// Takes a lease on `key`, loading it if needed. Never exceeds the budget: evicts idle models
    /// (least recently used first), waits for models in use to become idle, and throws
    /// `exceedsBudget` when the model alone is over a limit. A model whose file changed on disk
    /// since it was loaded is loaded again from the new file (requests in flight keep the old copy).
    func acquire(_ key: ModelKey) async throws -> CacheLease {
        let location = availability[key.id]?.location
        let identity = location.flatMap(FileIdentity.of)
        if let lease = cache.lease(key, identity: identity) { return lease }
        let entry = try catalog.require(key.id)
        guard let avail = availability[entry.id], avail.isAvailable else {
            let reason = (availability[entry.id] ?? ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory))
                .reason ?? "file missing"
            throw ManagerError.loadFailed(model: entry.id, reason: reason)
        }
        let bytes = ModelSelector.memoryBytes(entry, key.dtype)
        if let limit = configuration.modelMemoryLimitBytes, bytes > limit {
            throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: limit,
                                             variable: configuration.settingName("modelMemoryLimitBytes"))
        }
        if let limit = thresholds.maxMemoryPerModelBytes, bytes > limit {
            throw ManagerError.exceedsBudget(model: key.description, bytes: bytes, budget: limit,
                                             variable: thresholdName("maxMemoryPerModelBytes"))
        }
        let backend = self.backend
        let path = avail.location
        return try await cache.acquire(key, identity: identity, bytes: bytes, budgetName: budgetName) {
            guard FileManager.default.fileExists(atPath: path.path) else {
                throw ManagerError.loadFailed(model: entry.id, reason: "file missing: \(path.path) was removed after the catalog was read")
            }
            return try await backend.load(entry, dtype: key.dtype, location: path)
        }
    }

    func release(_ lease: CacheLease) { cache.release(lease) }

    /// Unloads every idle model; models in use go when their requests finish. Returns how many went now.
    @discardableResult
    public func clearModelCache() -> Int { cache.clear() }

    /// Hits, misses, evictions, bytes, per-model uses and load times.
    public func cacheStatistics() -> CacheStatistics { cache.statistics }

    /// Drops idle models no task uses; under memory pressure (available memory below 10% of total or
    /// 512 MB) drops every idle model and shrinks the default budget to half of what is available.
    @discardableResult
    public func optimizeMemoryUsage() async throws -> MemoryOptimisation {
        let info = try probe.collect(modelsDirectory: configuration.modelsDirectory)
        let available = info.effectiveAvailableMemoryBytes
        let pressure = available < max(512 << 20, info.totalMemoryBytes / 10)
        let active = Set(tasks.values.map(\.active))
        let gone = cache.evictIdle(reason: pressure ? "memory pressure: \(ByteFormat.string(available)) available"
                                                    : "idle and serving no task") { pressure || !active.contains($0) }
        let freed = gone.reduce(0) { $0 + $1.bytes }
        if pressure, configuration.maxCacheSizeBytes == nil {
            cache.budget = max(64 << 20, min(cache.budget, available / 2))
        }
        if analysis != nil {
            analysis?.info.availableMemoryBytes = info.availableMemoryBytes
            analysis?.info.cgroupMemoryUsageBytes = info.cgroupMemoryUsageBytes
        }
        logger.debug("memory optimisation: freed \(ByteFormat.string(freed)), pressure \(pressure), budget \(ByteFormat.string(cache.budget))")
        return MemoryOptimisation(evicted: gone.map(\.key), freedBytes: freed, underPressure: pressure, budgetBytes: cache.budget)
    }
}
