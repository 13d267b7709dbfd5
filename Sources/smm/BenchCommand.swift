// `smm bench`: the manager's BenchmarkHarness on one model: timed forward passes (encoders) or
// generations (GPT-2) on random token ids.
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
        let loadStart = ContinuousClock.now
        let loaded = try await modelOptions.load(task: "embedding")
        let loadMs = BenchmarkHarness.milliseconds(since: loadStart)
        switch loaded {
        case .encoder(let encoder): try benchEncoder(encoder.model, loadMs: loadMs)
        case .decoder(let generator): try benchDecoder(generator.model, loadMs: loadMs)
        }
    }

    private func benchEncoder(_ model: EncoderModel, loadMs: Double) throws {
        let r = try BenchmarkHarness.encoder(model, batch: batch, seq: seq, runs: runs, warmup: warmup)
        if json {
            printLine(.record([("model", .string(modelOptions.model ?? "")), ("batch", .int(batch)), ("seq", .int(seq)),
                               ("runs", .int(runs)), ("median_ms", .double(r.latency.p50Ms)), ("p90_ms", .double(r.latency.p90Ms)),
                               ("mean_ms", .double(r.latency.meanMs)), ("min_ms", .double(r.minMs)),
                               ("sequences_per_s", .double(r.sequencesPerSecond)), ("load_ms", .double(loadMs)),
                               ("peak_rss_mb", .double(peakResidentMiB)),
                               ("threads", .int(WorkerPool.shared.threadCount)), ("blas", .string(BLAS.backendDescription))]))
        } else {
            print("model \(modelOptions.model ?? ""): batch \(batch) x seq \(seq), \(runs) runs, \(WorkerPool.shared.threadCount) threads, \(BLAS.backendDescription)")
            print(String(format: "median %.2f ms  p90 %.2f ms  mean %.2f ms  (%.1f sequences/s)", r.latency.p50Ms, r.latency.p90Ms,
                         r.latency.meanMs, r.sequencesPerSecond))
            print(String(format: "load %.1f ms, peak RSS %.0f MB", loadMs, peakResidentMiB))
        }
    }

    private func benchDecoder(_ model: GPT2Model, loadMs: Double) throws {
        let r = try BenchmarkHarness.decoder(model, promptTokens: promptTokens, newTokens: newTokens, runs: runs, warmup: warmup)
        if json {
            printLine(.record([("model", .string(modelOptions.model ?? "")), ("prompt_tokens", .int(promptTokens)),
                               ("new_tokens", .int(newTokens)), ("runs", .int(runs)),
                               ("ttft_ms", .double(r.timeToFirstToken.p50Ms)),
                               ("decode_tokens_per_s", .double(r.decodeTokensPerSecond)), ("step_ms", .double(r.stepMs)),
                               ("total_ms", .double(r.timeToFirstToken.p50Ms + r.decode.p50Ms)), ("load_ms", .double(loadMs)),
                               ("peak_rss_mb", .double(peakResidentMiB)),
                               ("threads", .int(WorkerPool.shared.threadCount)), ("blas", .string(BLAS.backendDescription))]))
        } else {
            print("model \(modelOptions.model ?? ""): prompt \(promptTokens) + \(newTokens) new tokens, \(runs) runs, \(WorkerPool.shared.threadCount) threads")
            print(String(format: "TTFT %.2f ms  decode %.1f tokens/s  (%.2f ms/token)", r.timeToFirstToken.p50Ms,
                         r.decodeTokensPerSecond, r.stepMs))
        }
    }
}

/// The peak resident memory of this process in MiB (the manager's `ResidentMemory`).
private var peakResidentMiB: Double { Double(ResidentMemory.peakBytes()) / 1_048_576 }
