// Dynamic batching: the texts of concurrent requests for one model are gathered into shared
// forward passes. One compute thread per model takes what is queued (up to --max-batch-tokens
// padded tokens and --max-batch-requests requests), waiting at most --max-wait-ms for company when
// requests are arriving faster than that, sorts the texts by length into sub-batches so padding
// stays small, runs them, and answers each request when its last text is done. While one batch
// computes, the next one gathers in the queue. A full queue (--max-queue texts) is a 429.
import Foundation
import SMMModels

/// What a request's texts go through.
public enum BatchKind: Sendable, Equatable {
    /// Pooled embeddings (the model's pooling), L2-normalised or not.
    case embed(normalize: Bool)
    /// Classification logits.
    case classify
}

/// One tokenized text.
public struct BatchInput: Sendable, Equatable {
    /// Token ids, special tokens included.
    public var ids: [Int]
    /// Segment ids (zeros for one text).
    public var typeIDs: [Int]
    /// An input of `ids` (type ids all zero).
    public init(ids: [Int], typeIDs: [Int]? = nil) {
        self.ids = ids
        self.typeIDs = typeIDs ?? [Int](repeating: 0, count: ids.count)
    }
}

/// A request's answer from the batcher.
public struct BatchOutcome: Sendable {
    /// One vector per input (embedding or logits), in input order.
    public var vectors: [[Float]]
    /// Milliseconds from submission to the start of the first forward pass that held one of its texts.
    public var queueWaitMs: Double
    /// Milliseconds of forward passes that held its texts.
    public var computeMs: Double
    /// Tokens of its inputs (no padding).
    public var tokens: Int
}

/// What the batcher reports about each forward pass (the server's metrics implement it).
public protocol BatchObserver: Sendable {
    /// One batch ran: `requests` requests, `texts` texts, `tokens` real and `paddedTokens` padded tokens.
    func batchRan(model: String, requests: Int, texts: Int, tokens: Int, paddedTokens: Int, seconds: Double)
    /// Texts waiting now.
    func queueDepth(model: String, texts: Int)
    /// A request was refused because the queue was full.
    func rejected(model: String)
}

/// The batcher's settings.
public struct BatcherLimits: Sendable, Equatable {
    /// Padded tokens per forward pass.
    public var maxBatchTokens: Int
    /// Requests per forward pass.
    public var maxBatchRequests: Int
    /// Longest wait for company, seconds.
    public var maxWait: Double
    /// Texts queued before 429.
    public var maxQueue: Int
    /// Limits from the server options.
    public init(maxBatchTokens: Int, maxBatchRequests: Int, maxWait: Double, maxQueue: Int) {
        self.maxBatchTokens = maxBatchTokens
        self.maxBatchRequests = maxBatchRequests
        self.maxWait = maxWait
        self.maxQueue = maxQueue
    }
}

/// Batches the texts of concurrent requests for one model onto one compute thread.
public final class DynamicBatcher: @unchecked Sendable {
    // Everything below `condition` is guarded by it.
    private let condition = NSCondition()
    private var queue: [Item] = []
    private var stopped = false
    private var expectedRequests = 1
    /// Requests submitted and not yet answered, and its recent peak (decaying): how many clients wait on this model.
    private var outstanding = 0
    private var peakOutstanding = 0.0
    private var thread: Thread?

    /// The model's name (for metrics and logs).
    public let name: String
    /// The limits.
    public let limits: BatcherLimits
    private let encoder: TextEncoder
    private let observer: (any BatchObserver)?
    private let paused: Bool

    private final class Pending: @unchecked Sendable {
        let count: Int
        let enqueued: Double
        var results: [[Float]?]
        var remaining: Int
        var firstStart: Double?
        var computeMs = 0.0
        var tokens = 0
        var failure: (any Error)?
        var continuation: CheckedContinuation<BatchOutcome, any Error>?
        init(count: Int, enqueued: Double) {
            self.count = count
            self.enqueued = enqueued
            results = [[Float]?](repeating: nil, count: count)
            remaining = count
        }
    }

    private struct Item {
        let pending: Pending
        let index: Int
        let input: BatchInput
        let kind: BatchKind
    }

    /// A batcher for `encoder`; its thread starts now (unless `startPaused`, for tests that fill the
    /// queue: then ``resume()`` starts it).
    public init(name: String, encoder: TextEncoder, limits: BatcherLimits, observer: (any BatchObserver)? = nil,
                startPaused: Bool = false) {
        self.name = name
        self.encoder = encoder
        self.limits = limits
        self.observer = observer
        self.paused = startPaused
        if !startPaused { start() }
    }

    /// Starts the compute thread of a batcher made with `startPaused`.
    public func resume() {
        condition.lock()
        let started = thread != nil
        condition.unlock()
        if !started { start() }
    }

    private func start() {
        let t = Thread { [self] in self.run() }
        t.name = "smm-batcher-\(name)"
        t.stackSize = 8 << 20
        condition.lock()
        thread = t
        condition.unlock()
        t.start()
    }

    /// Texts waiting now.
    public var queuedTexts: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Stops the thread once the queue is empty.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Queues `inputs` and waits for their vectors.
    /// - Throws: `ServerError.overloaded` (429) when the queue cannot take them; the engine's errors.
    public func submit(_ inputs: [BatchInput], kind: BatchKind) async throws -> BatchOutcome {
        if inputs.isEmpty { return BatchOutcome(vectors: [], queueWaitMs: 0, computeMs: 0, tokens: 0) }
        // More than the queue can ever hold: waiting would not help, so not 429 but 413.
        if inputs.count > limits.maxQueue {
            throw ServerError.tooManyInputs("inputs", count: inputs.count, limit: limits.maxQueue, option: "--max-queue")
        }
        let pending = Pending(count: inputs.count, enqueued: Self.now())
        // A cancelled request (the drain timeout cancels what is left) stops waiting at once; its
        // texts still run, and their answer is dropped.
        return try await withTaskCancellationHandler {
            try await enqueue(inputs, kind: kind, pending: pending)
        } onCancel: {
            condition.lock()
            let continuation = pending.continuation
            pending.continuation = nil
            condition.unlock()
            continuation?.resume(throwing: CancellationError())
        }
    }

    private func enqueue(_ inputs: [BatchInput], kind: BatchKind, pending: Pending) async throws -> BatchOutcome {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if Task.isCancelled {
                condition.unlock()
                continuation.resume(throwing: CancellationError())
                return
            }
            pending.continuation = continuation
            if stopped || queue.count + inputs.count > limits.maxQueue {
                pending.continuation = nil
                let depth = queue.count
                condition.unlock()
                observer?.rejected(model: name)
                continuation.resume(throwing: stopped ? ServerError.unavailable("the server is shutting down")
                                        : ServerError.overloaded(queue: depth, limit: limits.maxQueue))
                return
            }
            outstanding += 1
            for (i, input) in inputs.enumerated() {
                queue.append(Item(pending: pending, index: i, input: input, kind: kind))
            }
            let depth = queue.count
            condition.signal()
            condition.unlock()
            observer?.queueDepth(model: name, texts: depth)
        }
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    // MARK: - The compute thread

    private func run() {
        condition.lock()
        while true {
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped { break }
            // Under load the answers of the last batch bring their clients' next requests right
            // after it: wait (at most maxWait from now) until as many requests are queued as were
            // recently outstanding, or the batch is full. A lone client never waits (it is all that
            // was outstanding). Without this wait the few requests that arrived during a batch run
            // alone and the rest queue behind them: measured, batches of 14 and 2 alternated at 16
            // clients; with it they are 16.
            if limits.maxWait > 0 {
                let deadline = Self.now() + limits.maxWait
                while !stopped, !isFull(), distinctRequests() < expectedRequests, Self.now() < deadline {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, deadline - Self.now())))
                }
            }
            let batch = takeBatch()
            let depth = queue.count
            peakOutstanding = max(Double(outstanding), peakOutstanding * 0.95)
            expectedRequests = min(limits.maxBatchRequests, max(1, Int(peakOutstanding.rounded())))
            condition.unlock()
            observer?.queueDepth(model: name, texts: depth)
            let done = compute(batch)
            for pending in done { finish(pending) }
            condition.lock()
        }
        condition.unlock()
    }

    /// Requests with texts in the queue (caller holds the lock).
    private func distinctRequests() -> Int {
        var seen = Set<ObjectIdentifier>()
        for item in queue { seen.insert(ObjectIdentifier(item.pending)) }
        return seen.count
    }

    /// True when the queue already holds a whole batch (caller holds the lock).
    private func isFull() -> Bool {
        var longest = 0
        var requests = Set<ObjectIdentifier>()
        for (n, item) in queue.enumerated() {
            longest = max(longest, item.input.ids.count)
            requests.insert(ObjectIdentifier(item.pending))
            if requests.count >= limits.maxBatchRequests || (n + 1) * longest >= limits.maxBatchTokens { return true }
        }
        return false
    }

    /// Takes the next batch from the queue (caller holds the lock): items of the head's kind, in
    /// arrival order, while padded tokens and requests stay within the limits.
    private func takeBatch() -> [Item] {
        guard let kind = queue.first?.kind else { return [] }
        var taken: [Item] = []
        var keep: [Item] = []
        var requests = Set<ObjectIdentifier>()
        var longest = 0
        var closed = false
        for item in queue {
            if closed || item.kind != kind {
                keep.append(item)
                continue
            }
            let id = ObjectIdentifier(item.pending)
            let newRequests = requests.count + (requests.contains(id) ? 0 : 1)
            let newLongest = max(longest, item.input.ids.count)
            if !taken.isEmpty && (newRequests > limits.maxBatchRequests || (taken.count + 1) * newLongest > limits.maxBatchTokens) {
                closed = true
                keep.append(item)
                continue
            }
            taken.append(item)
            requests.insert(id)
            longest = newLongest
        }
        queue = keep
        return taken
    }

    /// Runs `batch` in sub-batches of similar length; returns the requests it completed.
    private func compute(_ batch: [Item]) -> [Pending] {
        guard let kind = batch.first?.kind else { return [] }
        let start = Self.now()
        let sorted = batch.sorted { $0.input.ids.count < $1.input.ids.count }
        // Sub-batches: a new one when padding to the next text would waste over a third of it.
        var chunks: [[Item]] = []
        var current: [Item] = []
        var real = 0
        for item in sorted {
            let n = item.input.ids.count
            if !current.isEmpty && (current.count + 1) * n > (real + n) * 4 / 3 + 16 {
                chunks.append(current)
                current = []
                real = 0
            }
            current.append(item)
            real += n
        }
        if !current.isEmpty { chunks.append(current) }

        var padded = 0
        var tokens = 0
        for chunk in chunks {
            let chunkStart = Self.now()
            let length = chunk.map(\.input.ids.count).max() ?? 1
            padded += length * chunk.count
            let pad = encoder.tokenizer.padID
            do {
                let eb = try EncoderBatch(
                    ids: chunk.map { $0.input.ids + [Int](repeating: pad, count: length - $0.input.ids.count) },
                    typeIDs: chunk.map { $0.input.typeIDs + [Int](repeating: 0, count: length - $0.input.typeIDs.count) },
                    attentionMask: chunk.map { [Int](repeating: 1, count: $0.input.ids.count) + [Int](repeating: 0, count: length - $0.input.ids.count) })
                let rows: [[Float]]
                switch kind {
                case .classify:
                    rows = try encoder.model.logits(eb)
                case .embed:
                    let output = try encoder.model.forward(eb)
                    let wantsRaw = chunk.contains { $0.kind == .embed(normalize: false) }
                    let wantsUnit = chunk.contains { $0.kind == .embed(normalize: true) }
                    let unit = wantsUnit ? EncoderModel.pool(output, mask: eb.attentionMask, pooling: encoder.defaultPooling, normalize: true) : []
                    let raw = wantsRaw ? EncoderModel.pool(output, mask: eb.attentionMask, pooling: encoder.defaultPooling, normalize: false) : []
                    rows = chunk.indices.map { chunk[$0].kind == .embed(normalize: false) ? raw[$0] : unit[$0] }
                }
                let ms = (Self.now() - chunkStart) * 1000
                for (item, row) in zip(chunk, rows) {
                    item.pending.results[item.index] = row
                    item.pending.tokens += item.input.ids.count
                    tokens += item.input.ids.count
                }
                for p in Set(chunk.map { ObjectIdentifier($0.pending) }) {
                    chunk.first { ObjectIdentifier($0.pending) == p }?.pending.computeMs += ms
                }
            } catch {
                for item in chunk where item.pending.failure == nil { item.pending.failure = error }
            }
        }
        var done: [Pending] = []
        var seen = Set<ObjectIdentifier>()
        for item in batch {
            let p = item.pending
            if p.firstStart == nil { p.firstStart = start }
            p.remaining -= 1
            if p.remaining == 0 && seen.insert(ObjectIdentifier(p)).inserted { done.append(p) }
        }
        let requests = Set(batch.map { ObjectIdentifier($0.pending) }).count
        observer?.batchRan(model: name, requests: requests, texts: batch.count, tokens: tokens, paddedTokens: padded,
                           seconds: Self.now() - start)
        return done
    }

    private func finish(_ p: Pending) {
        condition.lock()
        let waiting = p.continuation
        p.continuation = nil
        outstanding -= 1
        condition.unlock()
        guard let continuation = waiting else { return }
        if let failure = p.failure {
            continuation.resume(throwing: failure)
            return
        }
        let vectors = p.results.compactMap { $0 }
        guard vectors.count == p.count else {
            continuation.resume(throwing: ServerError.internalError("the batcher lost \(p.count - vectors.count) results"))
            return
        }
        continuation.resume(returning: BatchOutcome(vectors: vectors, queueWaitMs: ((p.firstStart ?? p.enqueued) - p.enqueued) * 1000,
                                                    computeMs: p.computeMs, tokens: p.tokens))
    }
}
