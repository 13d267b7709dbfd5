// The manager's view of the machine: analysis (with the cached throughput probe), minimums, budget.
import Foundation
import Logging

extension ModelManager {
    // MARK: - Analysis

    /// Analyses the machine: facts from the OS, the throughput probe (measured once, then cached per
    /// machine for a week in the cache folder; `refresh` measures again), score and tier. Also checks
    /// `MIN_SYSTEM_MEMORY` and `MIN_CPU_CORES`, rereads which models are present, and loads the
    /// benchmarks of this machine.
    @discardableResult
    public func analyzeSystem(refresh: Bool = false) async throws -> SystemAnalysis {
        if !refresh, let analysis { return analysis }
        if let analysisTask { return try await analysisTask.value }
        let task = Task { try await self.performAnalysis(refresh: refresh) }
        analysisTask = task
        defer { analysisTask = nil }
        return try await task.value
    }

    func performAnalysis(refresh: Bool) async throws -> SystemAnalysis {
        let start = ContinuousClock.now
        var info = try probe.collect(modelsDirectory: configuration.modelsDirectory)
        let probeURL = configuration.resolvedCacheDirectory.appendingPathComponent("system-probe.json")
        let cached = refresh ? nil : ProbeCache.load(probeURL, machineID: info.machineID)
        if let cached, type(of: probe) == LiveSystemProbe.self {
            info.throughput = cached
            logger.debug("throughput probe from cache \(probeURL.path)")
        } else {
            let p = probe
            let threads = info.computeThreads
            var measured = await Task.detached { p.measureThroughput(threads: threads) }.value
            measured.machineID = info.machineID
            info.throughput = measured
            if type(of: probe) == LiveSystemProbe.self, let error = ProbeCache.save(measured, to: probeURL) {
                logger.debug("could not cache the probe at \(probeURL.path): \(error)")
            }
        }
        if let minimum = configuration.minSystemMemoryBytes, info.effectiveAvailableMemoryBytes < minimum {
            throw ManagerError.systemBelowMinimum(variable: configuration.settingName("minSystemMemoryBytes"), required: ByteFormat.string(minimum),
                available: ByteFormat.string(info.effectiveAvailableMemoryBytes) + " available")
        }
        if let minimum = configuration.minCPUCores, info.usableCores < minimum {
            throw ManagerError.systemBelowMinimum(variable: configuration.settingName("minCPUCores"), required: "\(minimum) cores",
                                                  available: "\(info.usableCores) usable core(s)")
        }
        let result = SystemAnalysis(info: info)
        analysis = result
        if configuration.maxCacheSizeBytes == nil {
            cache.budget = max(256 << 20, info.effectiveAvailableMemoryBytes / 2)
        }
        refreshAvailability()
        loadBenchmarks(machineID: info.machineID)
        let a = result.assessment
        let t = info.throughput
        logger.debug("""
            system: \(info.platform) \(info.architecture) \(info.cpuModel); cores logical \(info.logicalCores) \
            physical \(info.physicalCores) affinity \(info.affinityCores) cgroup \(info.cgroupCPULimit.map { "\($0)" } ?? "none") \
            → usable \(info.usableCores); memory total \(ByteFormat.string(info.totalMemoryBytes)) available \
            \(ByteFormat.string(info.availableMemoryBytes)) effective \(ByteFormat.string(info.effectiveAvailableMemoryBytes)); \
            load \(info.loadAverage); features \(info.featureNames.joined(separator: ","))
            """)
        logger.debug("""
            probe: sgemm \(String(format: "%.1f", t?.singleCoreGFLOPS ?? 0)) GFLOP/s on one core, \
            \(String(format: "%.1f", t?.multiCoreGFLOPS ?? 0)) on \(t?.threads ?? 0) threads; \
            memory read \(String(format: "%.1f", t?.memoryBandwidthGBps ?? 0)) GB/s; score \(a.score) → \(a.tier.rawValue) \
            (\(a.points.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value))" }.joined(separator: ", "))); \
            cache budget \(ByteFormat.string(cache.budget)); analysed in \(ms(since: start)) ms
            """)
        hub.emit(.systemAnalysed(tier: a.tier, score: a.score))
        return result
    }

    func ensureAnalysis() async throws -> SystemAnalysis {
        if let analysis { return analysis }
        return try await analyzeSystem()
    }

    func refreshAvailability() {
        var result: [String: ModelAvailability] = [:]
        for entry in catalog.entries {
            result[entry.id] = ModelAvailability.check(entry, modelsDirectory: configuration.modelsDirectory)
        }
        availability = result
    }

    func loadBenchmarks(machineID: String) {
        let url = configuration.resolvedCacheDirectory.appendingPathComponent("benchmarks.json")
        if benchmarkStore?.url != url { benchmarkStore = BenchmarkStore(url: url) }
        benchmarks = [:]
        guard let store = benchmarkStore else { return }
        for entry in catalog.entries {
            guard let checksum = availability[entry.id]?.checksum else { continue }
            for dtype in entry.sizeBytes.offered {
                let key = ModelKey(entry.id, dtype)
                if let r = store.result(machineID: machineID, key: key, checksum: checksum) { benchmarks[key] = r }
            }
        }
    }
}
