// Rolling latency statistics per task and model, and the switching policy with hysteresis.
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
}

/// Statistics of one task on one model.
public struct TaskModelStatistics: Sendable, Codable, Equatable {
    /// The task.
    public var task: ModelTask
    /// The model.
    public var model: ModelKey
    /// Requests completed (all time).
    public var count: Int
    /// Requests that threw.
    public var failures: Int
    /// Latency over the rolling window.
    public var latency: LatencySummary
}

/// Per-task totals.
public struct TaskStatistics: Sendable, Codable, Equatable {
    /// The task.
    public var task: ModelTask
    /// Requests completed (all time).
    public var count: Int
    /// Latency over the rolling window, every model.
    public var latency: LatencySummary
    /// The model serving it now.
    public var activeModel: ModelKey?
    /// The latency threshold in force for it, ms.
    public var thresholdMs: Double
}

/// What `performanceStats()` returns.
public struct PerformanceStats: Sendable, Codable, Equatable {
    /// All requests.
    public var totalRequests: Int
    /// Per task.
    public var tasks: [TaskStatistics]
    /// Per task and model.
    public var models: [TaskModelStatistics]
    /// Requests per model (usage).
    public var modelUsage: [String: Int]
    /// Model switches so far.
    public var switches: Int
}

/// A ring of the last `capacity` samples.
struct RollingWindow: Sendable {
    let capacity: Int
    private(set) var samples: [Double] = []
    private var next = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    mutating func add(_ x: Double) {
        if samples.count < capacity {
            samples.append(x)
        } else {
            samples[next] = x
            next = (next + 1) % capacity
        }
    }

    /// Oldest first.
    var ordered: [Double] { samples.count < capacity ? samples : Array(samples[next...] + samples[..<next]) }

    mutating func removeAll() {
        samples.removeAll()
        next = 0
    }
}

/// Rolling statistics of requests.
struct PerformanceMonitor: Sendable {
    struct Key: Hashable { var task: ModelTask; var model: ModelKey }
    var capacity: Int
    var windows: [Key: RollingWindow] = [:]
    var counts: [Key: Int] = [:]
    var failures: [Key: Int] = [:]
    var taskWindows: [ModelTask: RollingWindow] = [:]
    var taskCounts: [ModelTask: Int] = [:]
    var total = 0

    init(capacity: Int = 200) { self.capacity = capacity }

    mutating func record(task: ModelTask, model: ModelKey, ms: Double, success: Bool) {
        let key = Key(task: task, model: model)
        total += 1
        counts[key, default: 0] += 1
        taskCounts[task, default: 0] += 1
        if !success { failures[key, default: 0] += 1; return }
        windows[key, default: RollingWindow(capacity: capacity)].add(ms)
        taskWindows[task, default: RollingWindow(capacity: capacity)].add(ms)
    }

    func samples(task: ModelTask, model: ModelKey) -> [Double] {
        windows[Key(task: task, model: model)]?.ordered ?? []
    }

    func count(task: ModelTask, model: ModelKey) -> Int { counts[Key(task: task, model: model)] ?? 0 }
}
