// `smm bench`: timed forward passes (encoders) or generations (GPT-2) on random token ids.
// The last stdout line with --json is what ../shared/peers/compare.py reads.
import ArgumentParser
import Foundation
import SMMKernels
import SMMModels

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark a model: encoder latency (batch x seq) or GPT-2 generation (TTFT, decode tokens/s).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Encoders: sequences per forward pass.") var batch = 1
    @Option(help: "Encoders: tokens per sequence.") var seq = 128
    @Option(help: "Timed runs (after warm-up).") var runs = 10
    @Option(help: "Untimed warm-up runs.") var warmup = 1
    @Option(help: "GPT-2: prompt length in tokens.") var promptTokens = 16
    @Option(help: "GPT-2: new tokens per generation (no stop at end-of-text).") var newTokens = 64
    @Flag(help: "Print the result as one JSON object (last line).") var json = false

    func validate() throws {
        guard batch > 0, batch <= 4096 else { throw ValidationError("--batch must be between 1 and 4096") }
        guard seq > 0 else { throw ValidationError("--seq must be positive") }
        guard runs > 0, runs <= 100_000 else { throw ValidationError("--runs must be between 1 and 100000") }
        guard warmup >= 0, warmup <= 100_000 else { throw ValidationError("--warmup must be between 0 and 100000") }
        guard promptTokens > 0 else { throw ValidationError("--prompt-tokens must be positive") }
        guard newTokens > 1 else { throw ValidationError("--new-tokens must be at least 2") }
    }

    func run() async throws {
        guard modelOptions.model != nil else {
            throw CLIError("smm bench needs -m MODEL (to benchmark every catalog model through the manager, use its runQuickBenchmark API)")
        }
        let loadStart = DispatchTime.now()
        let loaded = try await modelOptions.load(task: "embedding")
        let loadMs = elapsedMs(since: loadStart)
        switch loaded {
        case .encoder(let encoder): try benchEncoder(encoder.model, loadMs: loadMs)
        case .decoder(let generator): try benchDecoder(generator.model, loadMs: loadMs)
        }
    }

    private func benchEncoder(_ model: EncoderModel, loadMs: Double) throws {
        guard seq <= model.maxPositions else {
            throw CLIError("--seq \(seq) is longer than the model's \(model.maxPositions) positions")
        }
        var rng = SplitMix(seed: 42)
        let ids = (0..<batch).map { _ in (0..<seq).map { _ in Int(rng.next() % UInt64(model.vocabularySize)) } }
        let input = try EncoderBatch(ids: ids)
        for _ in 0..<warmup { _ = try model.forward(input) }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now()
            _ = try model.forward(input)
            times.append(elapsedMs(since: start))
        }
        let stats = Stats(times)
        let seqPerS = Double(batch) / (stats.median / 1000)
        if json {
            printLine(.object([("model", .string(modelOptions.model ?? "")), ("batch", .int(batch)), ("seq", .int(seq)),
                               ("runs", .int(runs)), ("median_ms", .number(stats.median)), ("p90_ms", .number(stats.p90)),
                               ("mean_ms", .number(stats.mean)), ("min_ms", .number(stats.min)),
                               ("sequences_per_s", .number(seqPerS)), ("load_ms", .number(loadMs)),
                               ("peak_rss_mb", .number(ProcessMemory.peakResidentMB)),
                               ("threads", .int(WorkerPool.shared.threadCount)), ("blas", .string(BLAS.backendDescription))]))
        } else {
            print("model \(modelOptions.model ?? ""): batch \(batch) x seq \(seq), \(runs) runs, \(WorkerPool.shared.threadCount) threads, \(BLAS.backendDescription)")
            print(String(format: "median %.2f ms  p90 %.2f ms  mean %.2f ms  (%.1f sequences/s)", stats.median, stats.p90, stats.mean, seqPerS))
            print(String(format: "load %.1f ms, peak RSS %.0f MB", loadMs, ProcessMemory.peakResidentMB))
        }
    }

    private func benchDecoder(_ model: GPT2Model, loadMs: Double) throws {
        var rng = SplitMix(seed: 42)
        let prompt = (0..<promptTokens).map { _ in Int(rng.next() % UInt64(model.vocabularySize)) }
        let session = model.makeSession()
        var ttfts: [Double] = [], decodes: [Double] = []
        for run in 0..<(warmup + runs) {
            session.reset()
            let start = DispatchTime.now()
            var token = argmax(try session.prefill(prompt))
            let first = DispatchTime.now()
            for _ in 1..<newTokens { token = argmax(try session.step(token)) }
            let last = DispatchTime.now()
            if run >= warmup {
                ttfts.append(Double(first.uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
                decodes.append(Double(last.uptimeNanoseconds - first.uptimeNanoseconds) / 1e6)
            }
        }
        let ttft = Stats(ttfts), decode = Stats(decodes)
        let tokensPerS = Double(newTokens - 1) / (decode.median / 1000)
        if json {
            printLine(.object([("model", .string(modelOptions.model ?? "")), ("prompt_tokens", .int(promptTokens)),
                               ("new_tokens", .int(newTokens)), ("runs", .int(runs)), ("ttft_ms", .number(ttft.median)),
                               ("decode_tokens_per_s", .number(tokensPerS)),
                               ("step_ms", .number(decode.median / Double(newTokens - 1))),
                               ("total_ms", .number(ttft.median + decode.median)), ("load_ms", .number(loadMs)),
                               ("peak_rss_mb", .number(ProcessMemory.peakResidentMB)),
                               ("threads", .int(WorkerPool.shared.threadCount)), ("blas", .string(BLAS.backendDescription))]))
        } else {
            print("model \(modelOptions.model ?? ""): prompt \(promptTokens) + \(newTokens) new tokens, \(runs) runs, \(WorkerPool.shared.threadCount) threads")
            print(String(format: "TTFT %.2f ms  decode %.1f tokens/s  (%.2f ms/token)", ttft.median, tokensPerS,
                         decode.median / Double(newTokens - 1)))
        }
    }

    private func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }
}

func elapsedMs(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

/// Median, p90, mean and min of a list of times.
struct Stats {
    let median: Double, p90: Double, mean: Double, min: Double
    init(_ values: [Double]) {
        let sorted = values.sorted()
        let n = sorted.count
        median = n == 0 ? 0 : (n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2)
        p90 = n == 0 ? 0 : sorted[Swift.min(n - 1, Int((Double(n) * 0.9).rounded(.up)) - 1)]
        mean = n == 0 ? 0 : sorted.reduce(0, +) / Double(n)
        min = sorted.first ?? 0
    }
}

/// A small seeded generator for reproducible random inputs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Resident memory of this process, from /proc/self/status (0 where unavailable).
enum ProcessMemory {
    static var peakResidentMB: Double { field("VmHWM") }
    static var residentMB: Double { field("VmRSS") }

    static func field(_ name: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let digits = line.split(separator: " ").compactMap { Double($0) }
            if let kb = digits.first { return kb / 1024 }
        }
        return 0
    }
}
