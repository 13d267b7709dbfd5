// Status, statistics, compatibility, re-selection under load, and initialize.
import Foundation
import Logging

extension ModelManager {
    // MARK: - Status

    /// The machine, the assignments, the cache and the thresholds.
    public func systemStatus() async throws -> SystemStatus {
        let analysis = try await ensureAnalysis()
        return SystemStatus(analysis: analysis, assignments: assignments(), cache: cache.statistics,
                            thresholds: thresholds, backend: backend.name,
                            availableModels: availability.values.filter(\.isAvailable).count,
                            catalogModels: catalog.entries.count)
    }

    /// Rolling latency per task and per (task, model), usage per model, switches.
    public func performanceStats() -> PerformanceStats {
        let perModel = monitor.counts.keys.sorted { ($0.task, $0.model) < ($1.task, $1.model) }.map { key in
            TaskModelStatistics(task: key.task, model: key.model, count: monitor.counts[key] ?? 0,
                                failures: monitor.failures[key] ?? 0,
                                latency: LatencySummary(monitor.windows[key]?.ordered ?? []))
        }
        let perTask = monitor.taskCounts.keys.sorted().map { task in
            TaskStatistics(task: task, count: monitor.taskCounts[task] ?? 0,
                           latency: LatencySummary(monitor.taskWindows[task]?.ordered ?? []),
                           activeModel: tasks[task]?.active, thresholdMs: thresholdMs(for: task))
        }
        var usage: [String: Int] = [:]
        for (key, count) in monitor.counts { usage[key.model.description, default: 0] += count }
        return PerformanceStats(totalRequests: monitor.total, tasks: perTask, models: perModel, modelUsage: usage,
                                switches: switchCount)
    }

    /// Checks whether a model can run here, task by task.
    public func checkCompatibility(_ id: String) async throws -> CompatibilityReport {
        _ = try await ensureAnalysis()
        let entry = try catalog.require(id)
        var usable: [ModelTask: Candidate] = [:]
        var issues: [Rejection] = []
        for task in entry.tasks {
            let result = try recommend(SelectionRequirements(task: task))
            if let c = result.candidates.first(where: { $0.key.id == entry.id }) {
                usable[task] = c
            }
            for r in result.rejections where r.modelID == entry.id && !issues.contains(r) { issues.append(r) }
        }
        return CompatibilityReport(modelID: entry.id, compatible: !usable.isEmpty, usable: usable, issues: issues)
    }

    /// Re-reads the load and memory, then re-selects every (unpinned) task: under sustained CPU
    /// pressure (1-minute load above 1.5 × usable cores) with priority `speed`, stepping down to a
    /// lighter model or dtype. Switches when auto-select is on, else suggests.
    @discardableResult
    public func optimizeModelSelection() async throws -> [OptimisationAction] {
        let fresh = try probe.collect(modelsDirectory: configuration.modelsDirectory)
        var current = try await ensureAnalysis()
        current.info.loadAverage = fresh.loadAverage
        current.info.availableMemoryBytes = fresh.availableMemoryBytes
        current.info.cgroupMemoryUsageBytes = fresh.cgroupMemoryUsageBytes
        analysis = SystemAnalysis(info: current.info, analysedAt: Date().timeIntervalSince1970)
        let pressure = current.info.cpuPressure
        var actions: [OptimisationAction] = []
        for (task, state) in tasks.sorted(by: { $0.key < $1.key }) where !state.pinned {
            var req = requirements(for: task)
            var why = "re-selected with current load"
            if pressure > 1.5 {
                req.priority = .speed
                why = "CPU pressure: load \(formatMs(current.info.loadAverage.first ?? 0)) on \(current.info.usableCores) cores"
            }
            let result = try recommend(req)
            guard let best = result.chosen, best.key != state.active else { continue }
            let reason = "\(why); \(best.key) ranks first (\(best.reasons.first ?? ""))"
            if configuration.autoSelect {
                var s = state
                s.selection = result
                tasks[task] = s
                performSwitch(task, to: best.key, method: best.method, reason: reason)
            } else {
                hub.emit(.optimisationSuggested(task: task, suggestion: "switch to \(best.key): \(reason)"))
            }
            actions.append(OptimisationAction(task: task, from: state.active, to: best.key,
                                              applied: configuration.autoSelect, reason: reason))
        }
        return actions
    }

    // MARK: - Initialize

    /// Analyses the system, selects a model for each requirement and, unless `SMM_SKIP_PREFETCH=1`,
    /// loads and warms each with one inference; benchmarks them with `MODEL_BENCHMARK_ENABLED=1`.
    /// The profile of each phase is logged at debug level.
    @discardableResult
    public func initialize(requirements: [SelectionRequirements] = [SelectionRequirements(task: .sentiment)])
        async throws -> InitializationReport {
        let start = ContinuousClock.now
        var profile = InitializationProfile()
        logger.debug("configuration: \(configuration.summary.joined(separator: " "))")
        let analysis = try await analyzeSystem()
        profile.analysisMs = ms(since: start)
        var selections: [SelectionResult] = []
        let selectStart = ContinuousClock.now
        for req in requirements { selections.append(try await selectOptimalModel(for: req)) }
        profile.selectionMs = ms(since: selectStart)
        var prefetched: [ModelKey] = []
        if !configuration.skipPrefetch {
            for req in requirements {
                let loadStart = ContinuousClock.now
                let lease = try await beginRequest(req.task)
                profile.loadMs += ms(since: loadStart)
                let inferStart = ContinuousClock.now
                do {
                    try await Self.warm(lease.model, method: lease.context.method)
                    finishRequest(lease, ms: ms(since: inferStart), success: true)
                } catch {
                    finishRequest(lease, ms: ms(since: inferStart), success: false)
                    throw error
                }
                profile.firstInferenceMs += ms(since: inferStart)
                if !prefetched.contains(lease.key) { prefetched.append(lease.key) }
            }
        }
        var benchmarkResults: [BenchmarkResult] = []
        if configuration.benchmarkEnabled {
            let benchStart = ContinuousClock.now
            let ids = Array(Set(tasks.values.map(\.active.id))).sorted()
            benchmarkResults = try await runQuickBenchmark(models: ids)
            profile.benchmarkMs = ms(since: benchStart)
        }
        profile.totalMs = ms(since: start)
        logger.debug(.init(stringLiteral: "initialization profile: analysis \(formatMs(profile.analysisMs)) ms, selection \(formatMs(profile.selectionMs)) ms, "
            + "load \(formatMs(profile.loadMs)) ms, first inference \(formatMs(profile.firstInferenceMs)) ms, "
            + "benchmark \(formatMs(profile.benchmarkMs)) ms, total \(formatMs(profile.totalMs)) ms"))
        return InitializationReport(analysis: analysis, selections: selections, prefetched: prefetched,
                                    benchmarks: benchmarkResults, profile: profile)
    }

    static func warm(_ model: any LoadedInferenceModel, method: InferenceMethod) async throws {
        switch method {
        case .classifier: _ = try await model.classify(["warm up"])
        case .embedding, .zeroShotEmbedding: _ = try await model.embed(["warm up"])
        case .generation: _ = try await model.generate(prompt: "Hello", options: TextGenerationOptions(maxNewTokens: 1))
        }
    }
}
