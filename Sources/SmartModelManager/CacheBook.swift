// The cache's books: what is loaded, how many requests hold each model (leases), what is being
// loaded (reservations), which idle model goes first (least recently used), and the replaced
// copies (a model whose file changed on disk, kept until the requests holding it finish; its bytes
// still count). Plain values with no concurrency of their own: `ModelCache` keeps them behind its lock.
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
    /// True for a copy whose file has since been replaced on disk: it serves the requests that
    /// hold it, then goes; new requests get the new file.
    public var replaced: Bool = false
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
        /// Which load this is (unique in the cache): leases and derived data name it.
        var id: UInt64
        /// The files it was loaded from, when known.
        var identity: FileIdentity?
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
    /// Replaced copies still in use, by slot id.
    private(set) var retired: [UInt64: (key: ModelKey, slot: Slot)] = [:]
    private var clock: UInt64 = 0
    private var nextID: UInt64 = 0
    var hits = 0, misses = 0, evictions = 0, failedLoads = 0
    private(set) var peak = 0
    var useCounts: [ModelKey: Int] = [:]
    var loadTimes: [ModelKey: Double] = [:]

    init(budget: Int) { self.budget = budget }

    var held: Int { slots.values.reduce(0) { $0 + $1.bytes } + retired.values.reduce(0) { $0 + $1.slot.bytes } }
    var reserved: Int { reservations.values.reduce(0, +) }
    var committed: Int { held + reserved }

    func contains(_ key: ModelKey) -> Bool { slots[key] != nil }
    func leases(_ key: ModelKey) -> Int { slots[key]?.leases ?? 0 }
    func slotID(_ key: ModelKey) -> UInt64? { slots[key]?.id }
    func identity(_ key: ModelKey) -> FileIdentity? { slots[key]?.identity }

    /// Takes a lease on a loaded model: the model and the id of its slot.
    mutating func lease(_ key: ModelKey) -> (model: any LoadedInferenceModel, slot: UInt64)? {
        guard var slot = slots[key] else { return nil }
        clock += 1
        slot.leases += 1
        slot.lastUse = clock
        slot.uses += 1
        slots[key] = slot
        useCounts[key, default: 0] += 1
        return (slot.model, slot.id)
    }

    /// What returning a lease left.
    enum Released: Equatable {
        /// The model still has requests.
        case inUse
        /// The model is now idle.
        case idle
        /// It was a replaced copy and its last request has finished: it is gone (its bytes).
        case retiredGone(Int)
    }

    /// Returns a lease on slot `id` of `key`.
    mutating func release(_ key: ModelKey, slot id: UInt64) -> Released {
        if var old = retired[id] {
            old.slot.leases = max(0, old.slot.leases - 1)
            guard old.slot.leases == 0 else { retired[id] = old; return .inUse }
            retired[id] = nil
            evictions += 1
            return .retiredGone(old.slot.bytes)
        }
        guard var slot = slots[key], slot.id == id else { return .inUse }
        slot.leases = max(0, slot.leases - 1)
        slots[key] = slot
        return slot.leases == 0 ? .idle : .inUse
    }

    /// Moves an in-use model aside as a replaced copy: it keeps its leases and bytes until they
    /// return, and `key` is free to be loaded again.
    mutating func retire(_ key: ModelKey) {
        guard let slot = slots[key], slot.leases > 0 else { return }
        slots[key] = nil
        retired[slot.id] = (key, slot)
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

    /// Adds a loaded model holding one lease (the loader's). Returns its slot id.
    mutating func insert(_ key: ModelKey, model: any LoadedInferenceModel, identity: FileIdentity?, bytes: Int,
                         measuredBytes: Int, loadMs: Double) -> UInt64 {
        clock += 1
        nextID += 1
        slots[key] = Slot(id: nextID, identity: identity, model: model, bytes: bytes, measuredBytes: measuredBytes,
                          leases: 1, lastUse: clock, uses: 1, loadMs: loadMs)
        useCounts[key, default: 0] += 1
        loadTimes[key] = loadMs
        peak = max(peak, committed)
        return nextID
    }

    /// Idle models, least recently used first.
    var idleKeys: [ModelKey] {
        slots.filter { $0.value.leases == 0 }.sorted { $0.value.lastUse < $1.value.lastUse }.map(\.key)
    }

    var statistics: CacheStatistics {
        let current = slots.map { (key: $0.key, slot: $0.value, replaced: false) }
        let models = (current + retired.values.map { (key: $0.key, slot: $0.slot, replaced: true) })
            .sorted { $0.slot.lastUse > $1.slot.lastUse }.map { key, slot, replaced in
                CachedModel(key: key, bytes: slot.bytes, measuredBytes: slot.measuredBytes, leases: slot.leases,
                            uses: slot.uses, loadMs: slot.loadMs, replaced: replaced)
            }
        return CacheStatistics(
            hits: hits, misses: misses, evictions: evictions, failedLoads: failedLoads, bytesHeld: held,
            bytesReserved: reserved, peakBytes: peak, budgetBytes: budget,
            useCounts: Dictionary(useCounts.map { ($0.key.description, $0.value) }, uniquingKeysWith: +),
            loadTimesMs: Dictionary(loadTimes.map { ($0.key.description, $0.value) }, uniquingKeysWith: { $1 }),
            models: models)
    }
}
