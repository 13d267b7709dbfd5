// The cache's books: what is loaded, how many requests hold each model (leases), what is being
// loaded (reservations), and which idle model goes first (least recently used). Plain values with
// no concurrency of their own: `ModelCache` keeps them behind its lock.
import Foundation

/// One model in the cache, as reported by `cacheStatistics()`.
public struct CachedModel: Sendable, Codable, Equatable {
    /// The model.
    public var key: ModelKey
    /// Bytes charged against the budget (catalog weights + activations for its dtype).
    public var bytes: Int
    /// Resident memory growth measured while loading, bytes (0 when not measurable).
    public var measuredBytes: Int
    /// Requests using it now.
    public var leases: Int
    /// Requests served since it was loaded.
    public var uses: Int
    /// How long it took to load, ms.
    public var loadMs: Double
}

/// Cache statistics.
public struct CacheStatistics: Sendable, Codable, Equatable {
    /// Requests that found their model loaded.
    public var hits: Int
    /// Requests that had to load it.
    public var misses: Int
    /// Models dropped.
    public var evictions: Int
    /// Loads that failed.
    public var failedLoads: Int
    /// Bytes held by loaded models.
    public var bytesHeld: Int
    /// Bytes reserved by loads in progress.
    public var bytesReserved: Int
    /// Most bytes held + reserved at once.
    public var peakBytes: Int
    /// The budget (`MAX_MODEL_CACHE_SIZE`), bytes.
    public var budgetBytes: Int
    /// Requests per model since start (survives eviction).
    public var useCounts: [String: Int]
    /// Load times per model, ms (most recent load).
    public var loadTimesMs: [String: Double]
    /// Loaded models, most recently used first.
    public var models: [CachedModel]
}

/// The cache's books.
struct CacheBook {
    struct Slot {
        var model: any LoadedInferenceModel
        var bytes: Int
        var measuredBytes: Int
        var leases = 0
        var lastUse: UInt64 = 0
        var uses = 0
        var loadMs: Double
        var evictWhenIdle = false
    }

    var budget: Int
    private(set) var slots: [ModelKey: Slot] = [:]
    private(set) var reservations: [ModelKey: Int] = [:]
    private var clock: UInt64 = 0
    var hits = 0, misses = 0, evictions = 0, failedLoads = 0
    private(set) var peak = 0
    var useCounts: [ModelKey: Int] = [:]
    var loadTimes: [ModelKey: Double] = [:]

    init(budget: Int) { self.budget = budget }

    var held: Int { slots.values.reduce(0) { $0 + $1.bytes } }
    var reserved: Int { reservations.values.reduce(0, +) }
    var committed: Int { held + reserved }

    func contains(_ key: ModelKey) -> Bool { slots[key] != nil }
    func leases(_ key: ModelKey) -> Int { slots[key]?.leases ?? 0 }

    /// Takes a lease on a loaded model.
    mutating func lease(_ key: ModelKey) -> (any LoadedInferenceModel)? {
        guard var slot = slots[key] else { return nil }
        clock += 1
        slot.leases += 1
        slot.lastUse = clock
        slot.uses += 1
        slots[key] = slot
        useCounts[key, default: 0] += 1
        return slot.model
    }

    /// Returns a lease. True when the model is now idle.
    mutating func release(_ key: ModelKey) -> Bool {
        guard var slot = slots[key] else { return false }
        slot.leases = max(0, slot.leases - 1)
        slots[key] = slot
        return slot.leases == 0
    }

    func fits(_ bytes: Int) -> Bool { committed + bytes <= budget }

    /// The idle models to evict, least recently used first, so that `bytes` more fit; nil when even
    /// evicting every idle model would not make room (models in use are never evicted).
    func victims(toFit bytes: Int, protecting: Set<ModelKey> = []) -> [ModelKey]? {
        if fits(bytes) { return [] }
        let idle = slots.filter { $0.value.leases == 0 && !protecting.contains($0.key) }
            .sorted { $0.value.lastUse < $1.value.lastUse }
        var freed = 0
        var chosen: [ModelKey] = []
        for (key, slot) in idle {
            chosen.append(key)
            freed += slot.bytes
            if committed - freed + bytes <= budget { return chosen }
        }
        return nil
    }

    /// Removes an idle model. Returns its bytes, or nil if it is absent or in use.
    @discardableResult
    mutating func evict(_ key: ModelKey) -> Int? {
        guard let slot = slots[key], slot.leases == 0 else { return nil }
        slots[key] = nil
        evictions += 1
        return slot.bytes
    }

    /// Marks an in-use model to go when its last lease returns.
    mutating func markForEviction(_ key: ModelKey) { slots[key]?.evictWhenIdle = true }

    func shouldEvictWhenIdle(_ key: ModelKey) -> Bool { slots[key]?.evictWhenIdle ?? false }

    mutating func reserve(_ key: ModelKey, bytes: Int) {
        reservations[key] = bytes
        peak = max(peak, committed)
    }

    mutating func unreserve(_ key: ModelKey) { reservations[key] = nil }

    /// Adds a loaded model holding one lease (the loader's).
    mutating func insert(_ key: ModelKey, model: any LoadedInferenceModel, bytes: Int, measuredBytes: Int, loadMs: Double) {
        clock += 1
        slots[key] = Slot(model: model, bytes: bytes, measuredBytes: measuredBytes, leases: 1, lastUse: clock, uses: 1,
                          loadMs: loadMs)
        useCounts[key, default: 0] += 1
        loadTimes[key] = loadMs
        peak = max(peak, committed)
    }

    /// Idle models, least recently used first.
    var idleKeys: [ModelKey] {
        slots.filter { $0.value.leases == 0 }.sorted { $0.value.lastUse < $1.value.lastUse }.map(\.key)
    }

    var statistics: CacheStatistics {
        let models = slots.sorted { $0.value.lastUse > $1.value.lastUse }.map { key, slot in
            CachedModel(key: key, bytes: slot.bytes, measuredBytes: slot.measuredBytes, leases: slot.leases,
                        uses: slot.uses, loadMs: slot.loadMs)
        }
        return CacheStatistics(
            hits: hits, misses: misses, evictions: evictions, failedLoads: failedLoads, bytesHeld: held,
            bytesReserved: reserved, peakBytes: peak, budgetBytes: budget,
            useCounts: Dictionary(useCounts.map { ($0.key.description, $0.value) }, uniquingKeysWith: +),
            loadTimesMs: Dictionary(loadTimes.map { ($0.key.description, $0.value) }, uniquingKeysWith: { $1 }),
            models: models)
    }
}
