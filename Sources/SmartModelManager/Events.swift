// Events as AsyncStreams: every subscriber gets every event emitted after it subscribed, in order.
import Foundation
import SMMKernels
import Synchronization

/// Something the manager did or noticed.
public enum ManagerEvent: Sendable, Equatable {
    /// The system was analysed.
    case systemAnalysed(tier: SystemTier, score: Double)
    /// A model was chosen for a task (first selection or re-selection).
    case modelSelected(task: ModelTask, model: ModelKey, reason: String)
    /// A model finished loading into the cache.
    case modelLoaded(model: ModelKey, loadMs: Double)
    /// A model failed to load.
    case modelLoadFailed(model: ModelKey, reason: String)
    /// The task's model changed.
    case modelSwitched(task: ModelTask, from: ModelKey?, to: ModelKey, reason: String)
    /// Rolling latency of a task on a model (every `SwitchPolicy.window` requests).
    case performanceUpdate(task: ModelTask, model: ModelKey, latency: LatencySummary)
    /// A benchmark finished.
    case benchmarkComplete(BenchmarkResult)
    /// The manager suggests (or, for thresholds, made) a change.
    case optimisationSuggested(task: ModelTask?, suggestion: String)
    /// A model left the cache.
    case modelEvicted(model: ModelKey, reason: String)

    /// The event's name (`modelSwitched`…).
    public var name: String {
        switch self {
        case .systemAnalysed: return "systemAnalysed"
        case .modelSelected: return "modelSelected"
        case .modelLoaded: return "modelLoaded"
        case .modelLoadFailed: return "modelLoadFailed"
        case .modelSwitched: return "modelSwitched"
        case .performanceUpdate: return "performanceUpdate"
        case .benchmarkComplete: return "benchmarkComplete"
        case .optimisationSuggested: return "optimisationSuggested"
        case .modelEvicted: return "modelEvicted"
        }
    }
}

/// Fans events out to subscribers.
final class EventHub: Sendable {
    private let subscribers = Locked<[Int: AsyncStream<ManagerEvent>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    /// A new stream of the events emitted from now on (buffering the newest 10 000).
    func subscribe() -> AsyncStream<ManagerEvent> {
        let (stream, continuation) = AsyncStream<ManagerEvent>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let id = nextID.add(1, ordering: .relaxed).newValue
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    func emit(_ event: ManagerEvent) {
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets { continuation.yield(event) }
    }

    func finish() {
        let targets = subscribers.withLock { all -> [AsyncStream<ManagerEvent>.Continuation] in
            defer { all.removeAll() }
            return Array(all.values)
        }
        for continuation in targets { continuation.finish() }
    }
}
