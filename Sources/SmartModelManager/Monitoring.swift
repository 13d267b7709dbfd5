// Rolling latency statistics per task and model (the switching policy is in SwitchPolicy.swift).
import Foundation

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
