// The quick benchmark: load, warm up, time a few runs of each available model, measure accuracy on
// the built-in labelled headlines where the model is real and can do sentiment, persist the result
// and let it replace the estimates in selection.
import Foundation

/// Progress of a benchmark run, for progress bars.
public struct BenchmarkProgress: Sendable, Equatable {
    /// Models done.
    public var completed: Int
    /// Models in all.
    public var total: Int
    /// The model being (or just) benchmarked.
    public var model: ModelKey
}

extension ModelManager {
    /// Benchmarks `models` (ids; default every available model) in each dtype the backend loads.
    /// Results persist in `benchmarks.json` in the cache folder and replace FLOP estimates in selection.
    public func runQuickBenchmark(models ids: [String]? = nil, runs: Int = 5,
                                  progress: (@Sendable (BenchmarkProgress) -> Void)? = nil) async throws -> [BenchmarkResult] {
        let analysis = try await ensureAnalysis()
        refreshAvailability()
        let entries = try (ids?.map { try catalog.require($0) } ?? catalog.entries)
        var keys: [(CatalogEntry, ModelKey)] = []
        for entry in entries where availability[entry.id]?.isAvailable == true {
            for dtype in entry.sizeBytes.offered where backend.supportedDTypes.contains(dtype) {
                keys.append((entry, ModelKey(entry.id, dtype)))
            }
        }
        if let ids, keys.isEmpty {
            throw ManagerError.modelUnavailable(id: ids.joined(separator: ", "),
                reason: ids.compactMap { availability[$0]?.reason }.joined(separator: "; "))
        }
        var results: [BenchmarkResult] = []
        for (index, (entry, key)) in keys.enumerated() {
            progress?(BenchmarkProgress(completed: index, total: keys.count, model: key))
            let result = try await benchmark(entry, key: key, runs: max(1, runs), machineID: analysis.info.machineID)
            results.append(result)
            benchmarks[key] = result
            if let error = benchmarkStore?.record(result) {
                logger.debug("could not save the benchmark: \(error)")
            }
            logger.debug(.init(stringLiteral: "benchmark \(key): load \(formatMs(result.loadMs)) ms, warm-up \(formatMs(result.warmupMs)) ms, median "
                + "\(formatMs(result.medianMs)) p90 \(formatMs(result.p90Ms)) mean \(formatMs(result.meanMs)) ms over \(result.runs) runs, "
                + "memory +\(ByteFormat.string(result.memoryDeltaBytes)), accuracy "
                + "\(result.accuracy.map { String(format: "%.3f", $0) } ?? "n/a") → \(result.recommendation.rawValue)"))
            hub.emit(.benchmarkComplete(result))
            progress?(BenchmarkProgress(completed: index + 1, total: keys.count, model: key))
        }
        return results
    }

    func benchmark(_ entry: CatalogEntry, key: ModelKey, runs: Int, machineID: String) async throws -> BenchmarkResult {
        let wasLoaded = cache.contains(key)
        let before = ResidentMemory.bytes()
        let loadStart = ContinuousClock.now
        let lease = try await acquire(key)
        let model = lease.model
        var loadMs = ms(since: loadStart)
        var delta = max(0, ResidentMemory.bytes() - before)
        if wasLoaded, let cached = cache.cached(key) {
            loadMs = cached.loadMs
            delta = cached.measuredBytes
        }
        let task: ModelTask = entry.tasks.contains(.sentiment) ? .sentiment : (entry.tasks.first ?? .embedding)
        let method = entry.method(for: task) ?? .embedding
        let random = availability[entry.id]?.weightsAreRandom ?? entry.weightsAreRandom
        let samples = LabelledText.quickSentimentSet
        let generationTokens = 8
        let context = RequestContext(task: task, baseTask: task, model: key, method: method, weightsAreRandom: random,
                                     labels: entry.labels, lease: lease)
        let target = Float(thresholds.targetConfidence)
        let measured: (warmup: Double, times: [Double], accuracy: Double?, confidence: Double?)
        do {
            measured = try await Self.timeRuns(model: model, method: method, runs: runs, samples: samples,
                                               generationTokens: generationTokens) { model in
                guard task == .sentiment else { return nil }
                return try await self.sentiment(samples.map(\.text), model: model, context: context,
                                                labels: .marketSentiment, target: target)
            }
        } catch {
            release(lease)
            throw error
        }
        release(lease)
        let summary = LatencySummary(measured.times)
        var notes: [String] = []
        var accuracy = measured.accuracy
        if random {
            accuracy = nil
            notes.append("random weights: accuracy not measured, outputs are meaningless")
        } else if let a = accuracy {
            notes.append("accuracy \(String(format: "%.1f%%", a * 100)) on \(samples.count) built-in headlines (\(method.rawValue))")
        }
        let memory = ModelSelector.memoryBytes(entry, key.dtype)
        let threshold = thresholds.maxInferenceTimeMs
        let recommendation: BenchmarkRecommendation
        let limits = [configuration.modelMemoryLimitBytes, thresholds.maxMemoryPerModelBytes].compactMap { $0 }
        if let limit = limits.min(), memory > limit {
            recommendation = .tooBig
            notes.append("memory \(ByteFormat.string(memory)) over the per-model limit \(ByteFormat.string(limit))")
        } else if summary.p50Ms > threshold {
            recommendation = .tooSlow
            notes.append("median \(formatMs(summary.p50Ms)) ms over \(thresholdName("maxInferenceTimeMs")) \(formatMs(threshold)) ms")
        } else if summary.p50Ms <= threshold / 2 && (accuracy ?? 1) >= thresholds.minAccuracy {
            recommendation = .optimal
            notes.append("median \(formatMs(summary.p50Ms)) ms is at most half of \(formatMs(threshold)) ms")
        } else {
            recommendation = .acceptable
        }
        let words = samples.map { $0.text.split(separator: " ").count }.reduce(0, +) / max(1, samples.count)
        return BenchmarkResult(
            key: key, machineID: machineID, checksum: availability[entry.id]?.checksum ?? "", date: Date().timeIntervalSince1970,
            loadMs: loadMs, warmupMs: measured.warmup, runs: runs,
            tokens: method == .generation ? generationTokens : Int(Double(words) * 1.3) + 2,
            medianMs: summary.p50Ms, p90Ms: summary.p90Ms, meanMs: summary.meanMs, memoryDeltaBytes: delta,
            memoryBytes: memory, averageConfidence: random ? nil : measured.confidence, accuracy: accuracy,
            accuracySamples: accuracy == nil ? 0 : samples.count, recommendation: recommendation, notes: notes)
    }

    /// Warm-up, timed runs (one headline each), then the accuracy pass. Runs off the actor.
    nonisolated static func timeRuns(model: any LoadedInferenceModel, method: InferenceMethod, runs: Int,
                                     samples: [LabelledText], generationTokens: Int,
                                     sentiment: @Sendable (any LoadedInferenceModel) async throws -> [SentimentResult]?)
        async throws -> (warmup: Double, times: [Double], accuracy: Double?, confidence: Double?) {
        func once(_ text: String) async throws {
            switch method {
            case .classifier: _ = try await model.classify([text])
            case .embedding, .zeroShotEmbedding: _ = try await model.embed([text])
            case .generation:
                _ = try await model.generate(prompt: text, options: TextGenerationOptions(maxNewTokens: generationTokens))
            }
        }
        // The warm-up is timed too (it is reported): one timed run of the first sample.
        let warmup = try await BenchmarkHarness.time(warmup: 0, runs: 1) { _ in try await once(samples[0].text) }[0]
        let times = try await BenchmarkHarness.time(warmup: 0, runs: runs) { i in
            try await once(samples[i % samples.count].text)
        }
        guard let results = try await sentiment(model) else { return (warmup, times, nil, nil) }
        let scored = zip(results, samples).filter { $1.label != "neutral" }
        let correct = scored.filter { $0.label == $1.label }.count
        let confidence = results.map { Double($0.score) }.reduce(0, +) / Double(max(1, results.count))
        return (warmup, times, Double(correct) / Double(max(1, scored.count)), confidence)
    }
}
