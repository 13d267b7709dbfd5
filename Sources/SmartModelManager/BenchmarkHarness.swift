// The one timing harness: untimed warm-up runs, then timed runs on the monotonic clock, summarised
// by `LatencySummary` (one median, nearest rank). The manager's quick benchmark and `smm bench` both
// time with it; the engine benchmarks here are what `smm bench` prints and
// ../shared/peers/compare.py reads (random token ids from a fixed seed, so every run sees the same input).
import Foundation
import SMMKernels
import SMMModels

/// Timing of warm-up and timed runs, and the engine-level benchmarks built on it.
public enum BenchmarkHarness {
    /// Milliseconds since `start` on the monotonic clock.
    public static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        milliseconds(ContinuousClock.now - start)
    }

    /// A duration in milliseconds.
    public static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    /// Runs `body` `warmup` times untimed, then `runs` times timed; returns each timed run in ms.
    /// `body` gets the run's index, warm-up runs first (0..<warmup, then warmup..<warmup+runs).
    public static func time(warmup: Int, runs: Int, _ body: (_ run: Int) throws -> Void) rethrows -> [Double] {
        for run in 0..<max(0, warmup) { try body(run) }
        var times: [Double] = []
        times.reserveCapacity(max(0, runs))
        for run in 0..<max(0, runs) {
            let start = ContinuousClock.now
            try body(warmup + run)
            times.append(milliseconds(since: start))
        }
        return times
    }

    /// `time(warmup:runs:_:)` for asynchronous work.
    public static func time(warmup: Int, runs: Int, _ body: (_ run: Int) async throws -> Void) async rethrows -> [Double] {
        for run in 0..<max(0, warmup) { try await body(run) }
        var times: [Double] = []
        times.reserveCapacity(max(0, runs))
        for run in 0..<max(0, runs) {
            let start = ContinuousClock.now
            try await body(warmup + run)
            times.append(milliseconds(since: start))
        }
        return times
    }

    // MARK: - Engine benchmarks

    /// Forward passes of an encoder on a `batch` × `seq` batch of random token ids.
    public struct EncoderReport: Sendable, Equatable {
        /// Sequences per pass.
        public var batch: Int
        /// Tokens per sequence.
        public var seq: Int
        /// Per-pass latency over the timed runs.
        public var latency: LatencySummary
        /// The fastest pass, ms.
        public var minMs: Double
        /// `batch` / median.
        public var sequencesPerSecond: Double
    }

    /// Times `runs` forward passes (after `warmup`) of `model` on random ids from seed 42.
    /// Throws `ManagerError.invalidInput` when `seq` is longer than the model's positions.
    public static func encoder(_ model: EncoderModel, batch: Int, seq: Int, runs: Int, warmup: Int) throws -> EncoderReport {
        guard batch > 0, seq > 0, runs > 0 else {
            throw ManagerError.invalidInput("batch, seq and runs must be positive (got \(batch), \(seq), \(runs))")
        }
        guard seq <= model.maxPositions else {
            throw ManagerError.invalidInput("seq \(seq) is longer than the model's \(model.maxPositions) positions")
        }
        var rng = SplitMix64(state: 42)
        let ids = (0..<batch).map { _ in (0..<seq).map { _ in Int(rng.next() % UInt64(model.vocabularySize)) } }
        let input = try EncoderBatch(ids: ids)
        let times = try time(warmup: warmup, runs: runs) { _ in _ = try model.forward(input) }
        let latency = LatencySummary(times)
        return EncoderReport(batch: batch, seq: seq, latency: latency, minMs: times.min() ?? 0,
                             sequencesPerSecond: Double(batch) / (latency.p50Ms / 1000))
    }

    /// Greedy generations of a GPT-2 model: time to first token and decode speed.
    public struct DecoderReport: Sendable, Equatable {
        /// Prompt length, tokens.
        public var promptTokens: Int
        /// New tokens per generation (the first comes from the prefill).
        public var newTokens: Int
        /// Prefill + first token, over the timed runs.
        public var timeToFirstToken: LatencySummary
        /// The remaining `newTokens - 1` steps, over the timed runs.
        public var decode: LatencySummary
        /// `(newTokens - 1)` / median decode time.
        public var decodeTokensPerSecond: Double
        /// Median decode time per token, ms.
        public var stepMs: Double
    }

    /// Times `runs` greedy generations (after `warmup`) of `newTokens` tokens after a random prompt
    /// of `promptTokens` ids from seed 42, with no stop at end-of-text.
    public static func decoder(_ model: GPT2Model, promptTokens: Int, newTokens: Int, runs: Int,
                               warmup: Int) throws -> DecoderReport {
        guard promptTokens > 0, newTokens > 1, runs > 0 else {
            throw ManagerError.invalidInput("prompt tokens and runs must be positive and new tokens at least 2 "
                + "(got \(promptTokens), \(newTokens), \(runs))")
        }
        var rng = SplitMix64(state: 42)
        let prompt = (0..<promptTokens).map { _ in Int(rng.next() % UInt64(model.vocabularySize)) }
        let session = model.makeSession()
        var ttfts: [Double] = [], decodes: [Double] = []
        _ = try time(warmup: warmup, runs: runs) { run in
            session.reset()
            let start = ContinuousClock.now
            var token = argmax(try session.prefill(prompt))
            let first = ContinuousClock.now
            for _ in 1..<newTokens { token = argmax(try session.step(token)) }
            let last = ContinuousClock.now
            if run >= warmup {
                ttfts.append(milliseconds(first - start))
                decodes.append(milliseconds(last - first))
            }
        }
        let decode = LatencySummary(decodes)
        return DecoderReport(promptTokens: promptTokens, newTokens: newTokens, timeToFirstToken: LatencySummary(ttfts),
                             decode: decode, decodeTokensPerSecond: Double(newTokens - 1) / (decode.p50Ms / 1000),
                             stepMs: decode.p50Ms / Double(newTokens - 1))
    }

    private static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }
}
