// Requests: leases on the model serving a task, fallback after a failed load, and the latency
// window that feeds automatic switching (decided by `SwitchPolicy`, applied here).
import Foundation
import Logging

extension ModelManager {
    // MARK: - Requests

    struct Lease {
        var key: ModelKey
        var model: any LoadedInferenceModel
        var context: RequestContext
        var cache: CacheLease
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
                let cached = try await acquire(key)
                // A switch while loading does not matter: the request runs on what it leased.
                let entry = catalog.entry(key.id)
                let context = RequestContext(task: task, baseTask: resolve(task).base, model: key, method: state.method,
                                             weightsAreRandom: availability[key.id]?.weightsAreRandom ?? false,
                                             labels: entry?.labels ?? [], lease: cached)
                return Lease(key: key, model: cached.model, context: context, cache: cached)
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
        release(lease.cache)
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

    /// Applies the switching policy's decision on the task's latest window.
    func evaluateSwitch(_ task: ModelTask) {
        guard let state = tasks[task], !state.pinned else { return }
        let decision = policy.decide(samples: state.recent, thresholdMs: thresholdMs(for: task),
                                     requestsSinceSwitch: state.requestsSinceSwitch, active: state.active,
                                     candidates: state.selection?.candidates ?? [], best: state.selection?.chosen,
                                     failed: Set(failedLoads.keys), observedSlow: state.observedSlow)
        switch decision {
        case .keep:
            return
        case let .noFasterModel(why):
            tasks[task]?.recent = []
            adjustThreshold(task: task, why: why)
        case let .stepDown(target, reason, leftAtP50):
            tasks[task]?.recent = []
            if configuration.autoSelect {
                tasks[task]?.observedSlow[state.active] = leftAtP50
                performSwitch(task, to: target.key, method: target.method, reason: reason)
            } else {
                hub.emit(.optimisationSuggested(task: task, suggestion: "switch to \(target.key): \(reason)"))
            }
        case let .stepUp(target, reason):
            tasks[task]?.recent = []
            if configuration.autoSelect {
                performSwitch(task, to: target.key, method: target.method, reason: reason)
            } else {
                hub.emit(.optimisationSuggested(task: task, suggestion: "switch back to \(target.key): \(reason)"))
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
            hub.emit(.optimisationSuggested(task: task, suggestion: "raised the latency threshold from \(formatMs(old)) to "
                + "\(formatMs(thresholds.maxInferenceTimeMs)) ms (bound \(formatMs(bound)) ms): \(why) and no faster model qualifies"))
        } else {
            hub.emit(.optimisationSuggested(task: task, suggestion: "\(why) and no faster model qualifies: "
                + "add cores, free CPU time, or register a smaller model or dtype"))
        }
    }
}
