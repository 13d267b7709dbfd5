// When to switch a task's model because of latency: the verdict on a window of latencies and the
// decision that follows from it (which candidate, and why). Pure values: the manager applies them.
import Foundation

/// When to switch a task's model because of latency.
///
/// Step down (to a faster candidate): the last `window` requests on the task's model include at
/// least `slowFraction` over the latency threshold. Step back up (to the best-ranked model): the
/// last `window` requests have p90 under `recoverFraction` × threshold *and* the better model is
/// expected to stay under `recoverFraction` × threshold too. Neither happens within
/// `cooldownRequests` of the last switch. The gap between the two conditions is the hysteresis
/// that keeps a model near the threshold from flapping; the manager also remembers the p50 a model
/// showed when it was left for being slow and predicts at least that for a step back up.
public struct SwitchPolicy: Sendable, Equatable, Codable {
    /// Requests per decision window.
    public var window: Int
    /// Share of the window over the threshold that counts as sustained slowness.
    public var slowFraction: Double
    /// Latency (as a share of the threshold) under which the better model may come back.
    public var recoverFraction: Double
    /// Requests after a switch before the next one may happen.
    public var cooldownRequests: Int
    /// A faster candidate must be expected at most this share of the current model's latency.
    public var minSpeedup: Double

    /// A policy (defaults: window 20, 80% slow, recover under 50%, cooldown 40 requests, 20% faster).
    public init(window: Int = 20, slowFraction: Double = 0.8, recoverFraction: Double = 0.5,
                cooldownRequests: Int = 40, minSpeedup: Double = 0.8) {
        self.window = max(1, window)
        self.slowFraction = slowFraction
        self.recoverFraction = recoverFraction
        self.cooldownRequests = max(0, cooldownRequests)
        self.minSpeedup = minSpeedup
    }

    /// What the window says.
    public enum Verdict: Sendable, Equatable {
        /// No reason to switch (window not yet full, cooldown not over, or latency neither slow nor well under).
        case keep
        /// Sustained latency over the threshold (with the share of slow requests and the median).
        case tooSlow(slowShare: Double, p50Ms: Double)
        /// Latency well under the threshold (with the p90).
        case headroom(p90Ms: Double)
    }

    /// Judges the last window of latencies against `thresholdMs`.
    public func evaluate(_ samples: [Double], thresholdMs: Double, requestsSinceSwitch: Int) -> Verdict {
        guard samples.count >= window, requestsSinceSwitch >= cooldownRequests else { return .keep }
        let recent = samples.suffix(window)
        let slow = Double(recent.filter { $0 > thresholdMs }.count) / Double(recent.count)
        let summary = LatencySummary(Array(recent))
        if slow >= slowFraction { return .tooSlow(slowShare: slow, p50Ms: summary.p50Ms) }
        if summary.p90Ms < thresholdMs * recoverFraction { return .headroom(p90Ms: summary.p90Ms) }
        return .keep
    }

    /// What to do about a task's model, from its latest window.
    public enum Decision: Sendable, Equatable {
        /// Nothing.
        case keep
        /// Sustained slowness: move to the faster `target`; the model left showed `leftAtP50Ms`
        /// (remember it, so a step back up predicts at least that).
        case stepDown(to: Candidate, reason: String, leftAtP50Ms: Double)
        /// Headroom: move back up to the best-ranked `target`.
        case stepUp(to: Candidate, reason: String)
        /// Sustained slowness and no candidate is faster enough: the threshold, not the model, is wrong.
        case noFasterModel(why: String)
    }

    /// Decides for a task served by `active`, given its last latencies, the threshold, the ranked
    /// candidates of its selection (`best` first), models that failed to load, and the p50 each model
    /// showed when it was left for being slow.
    public func decide(samples: [Double], thresholdMs: Double, requestsSinceSwitch: Int, active: ModelKey,
                       candidates: [Candidate], best: Candidate?, failed: Set<ModelKey>,
                       observedSlow: [ModelKey: Double]) -> Decision {
        let current = candidates.first { $0.key == active }
        switch evaluate(samples, thresholdMs: thresholdMs, requestsSinceSwitch: requestsSinceSwitch) {
        case .keep:
            return .keep
        case let .tooSlow(share, p50):
            let why = "\(Int((share * 100).rounded()))% of the last \(window) requests took over "
                + "\(formatMs(thresholdMs)) ms (p50 \(formatMs(p50)) ms)"
            let faster = candidates.filter { c in
                c.key != active && !failed.contains(c.key)
                    && (current.map { c.latencyMs <= $0.latencyMs * minSpeedup } ?? true)
            }.max { $0.score < $1.score }
            guard let faster else { return .noFasterModel(why: why) }
            let ratio = current.map { faster.latencyMs / max($0.latencyMs, 1e-9) }
            let reason = "latency: \(why); \(faster.key) is expected "
                + (ratio.map { String(format: "%.1f× faster", 1 / max($0, 1e-9)) } ?? "faster")
            return .stepDown(to: faster, reason: reason, leftAtP50Ms: p50)
        case let .headroom(p90):
            guard let best, best.key != active, !failed.contains(best.key), let current else { return .keep }
            let predicted = max(p90 * best.latencyMs / max(current.latencyMs, 1e-9), observedSlow[best.key] ?? 0)
            guard predicted < thresholdMs * recoverFraction else { return .keep }
            let reason = "headroom: p90 \(formatMs(p90)) ms is under \(formatMs(thresholdMs * recoverFraction)) ms and the "
                + "best-ranked \(best.key) is expected at \(formatMs(predicted)) ms"
            return .stepUp(to: best, reason: reason)
        }
    }

}
