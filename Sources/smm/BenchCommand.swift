// `smm bench`: timed forward passes (encoders) or generations (GPT-2) on random token ids.
// The last stdout line with --json is what ../shared/peers/compare.py reads.
import ArgumentParser
import Foundation
import SMMJSON
import SMMKernels
import SMMModels
import SmartModelManager

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
        var rng = SplitMix64(state: 42)
        let ids = (0..<batch).map { _ in (0..<seq).map { _ in Int(rng.next() % UInt64(model.vocabularySize)) } }
        let input = try EncoderBatch(ids: ids)
        for _ in 0..<warmup { _ = try model.forward(input) }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now()
            _ = try model.forward(input)
            times.append(elapsedMs(since: start))
        }
        let stats = LatencySummary(times)
        let seqPerS = Double(batch) / (stats.p50Ms / 1000)
        if json {
            printLine(.record([("model", .string(modelOptions.model ?? "")), ("batch", .int(batch)), ("seq", .int(seq)),
                               ("runs", .int(runs)), ("median_ms", .double(stats.p50Ms)), ("p90_ms", .double(stats.p90Ms)),
                               ("mean_ms", .double(stats.meanMs)), ("min_ms", .double(times.min() ?? 0)),
                               ("sequences_per_s", .double(seqPerS)), ("load_ms", .double(loadMs)),
                               ("peak_rss_mb", .double(peakResidentMiB)),
                               ("threads", .int(WorkerPool.shared.threadCount)), ("blas", .string(BLAS.backendDescription))]))
        } else {
            print("model \(modelOptions.model ?? ""): batch \(batch) x seq \(seq), \(runs) runs, \(WorkerPool.shared.threadCount) threads, \(BLAS.backendDescription)")
            print(String(format: "median %.2f ms  p90 %.2f ms  mean %.2f ms  (%.1f sequences/s)", stats.p50Ms, stats.p90Ms, stats.meanMs, seqPerS))
            print(String(format: "load %.1f ms, peak RSS %.0f MB", loadMs, peakResidentMiB))
        }
    }

    private func benchDecoder(_ model: GPT2Model, loadMs: Double) throws {
        var rng = SplitMix64(state: 42)
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
        let ttft = LatencySummary(ttfts), decode = LatencySummary(decodes)
        let tokensPerS = Double(newTokens - 1) / (decode.p50Ms / 1000)
        if json {
            printLine(.record([("model", .string(modelOptions.model ?? "")), ("prompt_tokens", .int(promptTokens)),
                               ("new_tokens", .int(newTokens)), ("runs", .int(runs)), ("ttft_ms", .double(ttft.p50Ms)),
                               ("decode_tokens_per_s", .double(tokensPerS)),
                               ("step_ms", .double(decode.p50Ms / Double(newTokens - 1))),
                               ("total_ms", .double(ttft.p50Ms + decode.p50Ms)), ("load_ms", .double(loadMs)),
                               ("peak_rss_mb", .double(peakResidentMiB)),
                               ("threads", .int(WorkerPool.shared.threadCount)), ("blas", .string(BLAS.backendDescription))]))
        } else {
            print("model \(modelOptions.model ?? ""): prompt \(promptTokens) + \(newTokens) new tokens, \(runs) runs, \(WorkerPool.shared.threadCount) threads")
            print(String(format: "TTFT %.2f ms  decode %.1f tokens/s  (%.2f ms/token)", ttft.p50Ms, tokensPerS,
                         decode.p50Ms / Double(newTokens - 1)))
        }
    }

    private func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }
}

/// The peak resident memory of this process in MiB (the manager's `ResidentMemory`).
private var peakResidentMiB: Double { Double(ResidentMemory.peakBytes()) / 1_048_576 }

func elapsedMs(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}
