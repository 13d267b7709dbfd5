// Requests: leases on the model serving a task, fallback after a failed load, and the latency
// window that drives automatic switching (`SwitchPolicy`).
import Foundation
import Logging

extension SmartModelManager {
    // MARK: - Requests

    struct Lease {
        var key: ModelKey
        var model: any LoadedInferenceModel
        var context: RequestContext
    }

    /// Runs `body` with the model serving `task`, holding it for the whole call (it is neither evicted
    /// nor unloaded meanwhile; a switch affects later requests only). `body` runs off the actor.
    public func withModel<R: Sendable>(for task: ModelTask,
                                       _ body: @Sendable (any LoadedInferenceModel, RequestContext) async throws -> R)
        async throws -> R {
        let lease = try await beginRequest(task)
        let start = ContinuousClock.now
        do {
            let result = try await body(lease.model, lease.context)
            finishRequest(lease, ms: ms(since: start), success: true)
            return result
        } catch {
            finishRequest(lease, ms: ms(since: start), success: false)
            if error is ManagerError { throw error }
            throw ManagerError.inferenceFailed(model: lease.key.id, reason: "\(error)")
        }
    }

    func beginRequest(_ task: ModelTask) async throws -> Lease {
        var attempts = 0
        while true {
            let state = try await state(for: task)
            let key = state.active
            do {
                let model = try await acquire(key)
                // A switch while loading does not matter: the request runs on what it leased.
                let entry = catalog.entry(key.id)
                let context = RequestContext(task: task, baseTask: resolve(task).base, model: key, method: state.method,
                                             weightsAreRandom: availability[key.id]?.weightsAreRandom ?? false,
                                             labels: entry?.labels ?? [])
                return Lease(key: key, model: model, context: context)
            } catch let error as ManagerError {
                guard case .loadFailed(_, let reason) = error else { throw error }
                attempts += 1
                guard attempts <= catalog.entries.count * ModelDType.allCases.count else { throw error }
                try fallBack(task, from: key, reason: reason, error: error)
            }
        }
    }

    /// After a failed load: the task preference's fallback, else `FALLBACK_MODEL`, else the next candidate.
    func fallBack(_ task: ModelTask, from key: ModelKey, reason: String, error: ManagerError) throws {
        guard let state = tasks[task] else { throw error }
        guard state.active == key else { return }  // another request already moved on
        let base = resolve(task).base
        var target: (ModelKey, InferenceMethod)?
        let named = preferences[task]?.fallback ?? preferences[base]?.fallback ?? configuration.fallbackModel
        if let id = named, let entry = catalog.entry(id), let method = entry.method(for: base),
           availability[entry.id]?.isAvailable == true,
           let dtype = entry.sizeBytes.offered.first(where: {
               backend.supportedDTypes.contains($0) && failedLoads[ModelKey(entry.id, $0)] == nil }) {
            target = (ModelKey(entry.id, dtype), method)
        }
        if target == nil, !state.pinned, let next = try? recommend(requirements(for: task)).chosen {
            target = (next.key, next.method)
        }
        guard let (to, method) = target, to != key else {
            throw ManagerError.loadFailed(model: key.id, reason: "\(reason); no fallback model is available "
                + "(set FALLBACK_MODEL or a task preference's fallback)")
        }
        performSwitch(task, to: to, method: method, reason: "fallback: \(key) failed to load (\(reason))")
    }

    func finishRequest(_ lease: Lease, ms: Double, success: Bool) {
        release(lease.key)
        let task = lease.context.task
        monitor.record(task: task, model: lease.key, ms: ms, success: success)
        guard success, var state = tasks[task], state.active == lease.key else { return }
        state.requestsSinceSwitch += 1
        state.recent.append(ms)
        if state.recent.count > policy.window { state.recent.removeFirst(state.recent.count - policy.window) }
        tasks[task] = state
        let count = monitor.count(task: task, model: lease.key)
        if count % policy.window == 0 {
            let summary = LatencySummary(Array(monitor.samples(task: task, model: lease.key).suffix(policy.window)))
            logger.debug("performance \(task) on \(lease.key): p50 \(summary.p50Ms) ms p90 \(summary.p90Ms) ms over \(summary.count)")
            hub.emit(.performanceUpdate(task: task, model: lease.key, latency: summary))
        }
        evaluateSwitch(task)
    }

    func thresholdMs(for task: ModelTask) -> Double {
        taskRequirements[task]?.maxLatencyMs ?? thresholds.maxInferenceTimeMs
    }

    /// Applies the switching policy to the task's latest window.
    func evaluateSwitch(_ task: ModelTask) {
        guard let state = tasks[task], !state.pinned else { return }
        let threshold = thresholdMs(for: task)
        let samples = state.recent
        let verdict = policy.evaluate(samples, thresholdMs: threshold, requestsSinceSwitch: state.requestsSinceSwitch)
        let candidates = state.selection?.candidates ?? []
        let current = candidates.first { $0.key == state.active }
        switch verdict {
        case .keep:
            return
        case let .tooSlow(share, p50):
            let faster = candidates.filter { c in
                c.key != state.active && failedLoads[c.key] == nil
                    && (current.map { c.latencyMs <= $0.latencyMs * policy.minSpeedup } ?? true)
            }.max { $0.score < $1.score }
            let why = "\(Int((share * 100).rounded()))% of the last \(policy.window) requests took over "
                + "\(fmt(threshold)) ms (p50 \(fmt(p50)) ms)"
            tasks[task]?.recent = []
            if let faster {
                if configuration.autoSelect { tasks[task]?.observedSlow[state.active] = p50 }
                let ratio = current.map { faster.latencyMs / max($0.latencyMs, 1e-9) }
                let reason = "latency: \(why); \(faster.key) is expected "
                    + (ratio.map { String(format: "%.1f× faster", 1 / max($0, 1e-9)) } ?? "faster")
                if configuration.autoSelect {
                    performSwitch(task, to: faster.key, method: faster.method, reason: reason)
                } else {
                    hub.emit(.optimisationSuggested(task: task, suggestion: "switch to \(faster.key): \(reason)"))
                }
            } else {
                adjustThreshold(task: task, why: why)
            }
        case let .headroom(p90):
            guard let best = state.selection?.chosen, best.key != state.active, failedLoads[best.key] == nil,
                  let current else { return }
            let predicted = max(p90 * best.latencyMs / max(current.latencyMs, 1e-9), state.observedSlow[best.key] ?? 0)
            guard predicted < threshold * policy.recoverFraction else { return }
            tasks[task]?.recent = []
            let reason = "headroom: p90 \(fmt(p90)) ms is under \(fmt(threshold * policy.recoverFraction)) ms and the "
                + "best-ranked \(best.key) is expected at \(fmt(predicted)) ms"
            if configuration.autoSelect {
                performSwitch(task, to: best.key, method: best.method, reason: reason)
            } else {
                hub.emit(.optimisationSuggested(task: task, suggestion: "switch back to \(best.key): \(reason)"))
            }
        }
    }

    /// No faster model: the machine is slower than the threshold assumes. Raise it by 25%, up to
    /// `maxAdjustmentFactor` × the configured value, and say so.
    func adjustThreshold(task: ModelTask, why: String) {
        let bound = baseMaxInferenceMs * thresholds.maxAdjustmentFactor
        if taskRequirements[task]?.maxLatencyMs == nil, thresholds.maxInferenceTimeMs < bound {
            let old = thresholds.maxInferenceTimeMs
            thresholds.maxInferenceTimeMs = min(bound, old * 1.25)
            hub.emit(.optimisationSuggested(task: task, suggestion: "raised the latency threshold from \(fmt(old)) to "
                + "\(fmt(thresholds.maxInferenceTimeMs)) ms (bound \(fmt(bound)) ms): \(why) and no faster model qualifies"))
        } else {
            hub.emit(.optimisationSuggested(task: task, suggestion: "\(why) and no faster model qualifies: "
                + "add cores, free CPU time, or register a smaller model or dtype"))
        }
    }
}
