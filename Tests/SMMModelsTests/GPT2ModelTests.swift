import Foundation
import XCTest
import SMMFormat
import SMMKernels
import SMMTokenizers
@testable import SMMModels

/// GPT-2 against transformers on the seeded random tiny-gpt2 fixture (n_embd 64, 2 layers, 4 heads,
/// vocab 1024, n_positions 64): logits, KV-cache equivalence, greedy continuations, sampling,
/// stopping, streaming and errors.
final class GPT2ModelTests: XCTestCase {
    private static let directory = Fixtures.url("models/tiny-gpt2")

    private func generator() throws -> TextGenerator {
        let loaded = try ModelLoader.load(directory: Self.directory)
        guard case .decoder(let generator) = loaded else {
            // A committed fixture of the wrong kind is a loader regression: fail, never skip.
            return try XCTUnwrap(nil, "tiny-gpt2 loaded as \(loaded.modelType), not as a decoder")
        }
        return generator
    }

    private func reference() throws -> [String: Any] { try Fixtures.json("models/tiny-gpt2/reference.json") }

    /// The fixture's logits cases: ids and (T, V) logits flattened.
    private func logitsCases() throws -> [(ids: [Int], logits: [Float])] {
        let cases = try XCTUnwrap(try reference()["logits_cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 3)
        return try cases.map {
            (try XCTUnwrap(($0["input_ids"] as? [Any])?.ints), try XCTUnwrap(($0["logits"] as? [Any])?.floats))
        }
    }

    private func assertInvalidInput(_ body: @autoclosure () throws -> some Any, mentions words: [String],
                                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case ModelError.invalidInput(let message) = error else {
                return XCTFail("expected ModelError.invalidInput, got \(error)", file: file, line: line)
            }
            for word in words {
                XCTAssertTrue(message.contains(word), "'\(message)' should mention '\(word)'", file: file, line: line)
            }
        }
    }

    // MARK: - Against transformers

    func testLogitsMatchTransformers() throws {
        let model = try generator().model
        for (ids, expected) in try logitsCases() {
            let logits = try model.logits(ids)
            XCTAssertEqual(logits.count, ids.count)
            XCTAssertEqual(logits.first?.count, 1024)
            XCTAssertLessThan(maxAbsDiff(logits.flatMap { $0 }, expected), 1e-4, "\(ids.count) tokens")
        }
    }

    /// The model built straight from config.json + safetensors, without `ModelLoader`.
    func testDirectLoadFromCheckpointMatchesTransformers() throws {
        let config = try Fixtures.json("models/tiny-gpt2/config.json")
        func int(_ key: String) throws -> Int { try XCTUnwrap(config[key] as? Int, key) }
        let shape = GPT2Shape(vocabSize: try int("vocab_size"), nPositions: try int("n_positions"),
                              nEmbd: try int("n_embd"), nLayer: try int("n_layer"), nHead: try int("n_head"),
                              nInner: config["n_inner"] as? Int,
                              eps: Float(try XCTUnwrap(config["layer_norm_epsilon"] as? Double)),
                              activation: try XCTUnwrap(Activations.Kind(
                                  huggingFaceName: try XCTUnwrap(config["activation_function"] as? String))))
        let source = CheckpointTensorSource(try Checkpoint.open(directory: Self.directory))
        let model = try GPT2Model.load(shape: shape, source: source, pool: .shared)
        XCTAssertEqual(model.contextLength, 64)
        XCTAssertEqual(model.vocabularySize, 1024)
        for (ids, expected) in try logitsCases() {
            XCTAssertLessThan(maxAbsDiff(try model.logits(ids).flatMap { $0 }, expected), 1e-4)
        }
        // A shape that disagrees with the checkpoint is a clear error.
        var wrong = shape
        wrong.nEmbd = 32
        XCTAssertThrowsError(try GPT2Model(shape: wrong, source: source)) { error in
            guard case ModelError.wrongShape = error else { return XCTFail("\(error)") }
        }
        wrong = shape
        wrong.nHead = 5
        XCTAssertThrowsError(try GPT2Model(shape: wrong, source: source))
    }

    func testKVCacheMatchesFullRecomputeAtEveryPosition() throws {
        let model = try generator().model
        let (ids, expected) = try XCTUnwrap(try logitsCases().max { $0.ids.count < $1.ids.count })
        let v = model.vocabularySize
        let full = try model.logits(ids)
        for split in [1, 2, 7, ids.count - 1, ids.count] {
            for chunk in [GPT2Model.prefillChunk, 3] {
                let session = GenerationSession(model: model, capacity: model.contextLength, chunkRows: chunk)
                let first = try session.prefill(Array(ids[..<split]))
                XCTAssertEqual(session.position, split)
                XCTAssertLessThan(maxAbsDiff(first, full[split - 1]), 1e-4, "prefill \(split) chunk \(chunk)")
                XCTAssertLessThan(maxAbsDiff(first, Array(expected[((split - 1) * v)..<(split * v)])), 1e-4)
                for i in split..<ids.count {
                    let logits = try session.step(ids[i])
                    XCTAssertLessThan(maxAbsDiff(logits, full[i]), 1e-4, "split \(split) step at \(i)")
                    XCTAssertLessThan(maxAbsDiff(logits, Array(expected[(i * v)..<((i + 1) * v)])), 1e-4)
                }
                XCTAssertEqual(session.position, ids.count)
            }
        }
        // Prefill can continue a sequence (a second batch after the first).
        let session = model.makeSession()
        _ = try session.prefill(Array(ids[..<5]))
        let more = try session.prefill(Array(ids[5...]))
        XCTAssertLessThan(maxAbsDiff(more, full[ids.count - 1]), 1e-4)
        // The no-copy API lends the same numbers.
        session.reset()
        let lent = try session.prefill(ids) { Array($0) }
        XCTAssertLessThan(maxAbsDiff(lent, full[ids.count - 1]), 1e-4)
    }

    func testGreedyContinuationsMatchTransformers() throws {
        let generator = try generator()
        let cases = try XCTUnwrap(try reference()["greedy"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 4)
        for c in cases {
            let prompt = try XCTUnwrap((c["prompt_ids"] as? [Any])?.ints)
            let expected = try XCTUnwrap((c["output_ids"] as? [Any])?.ints)
            let maxNew = try XCTUnwrap(c["max_new_tokens"] as? Int)
            XCTAssertEqual(try generator.model.generate(promptIDs: prompt, maxNewTokens: maxNew), expected,
                           "prompt \(prompt)")
            let options = GenerationOptions(maxNewTokens: maxNew)
            XCTAssertEqual(try generator.generate(promptIDs: prompt, options: options), expected, "prompt \(prompt)")
            // top-k 1 is greedy whatever the temperature and seed.
            let topK1 = GenerationOptions(maxNewTokens: maxNew, sampling: SamplingOptions(temperature: 1.5, topK: 1, seed: 9))
            XCTAssertEqual(try generator.generate(promptIDs: prompt, options: topK1), expected, "top-k 1 \(prompt)")
        }
    }

    func testPromptTextsTokenizeLikeTransformers() throws {
        let generator = try generator()
        let cases = try XCTUnwrap(try reference()["prompts_text"] as? [[String: Any]])
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            XCTAssertEqual(generator.tokenizer.encodeIDs(text), try XCTUnwrap((c["ids"] as? [Any])?.ints), text)
            if text.isEmpty {
                assertInvalidInput(try generator.generate(prompt: text), mentions: ["empty"])
                continue
            }
            let result = try generator.generate(prompt: text, options: GenerationOptions(maxNewTokens: 8))
            XCTAssertEqual(result.promptTokenIDs, generator.tokenizer.encodeIDs(text))
            XCTAssertEqual(result.tokenIDs, try generator.model.generate(promptIDs: result.promptTokenIDs, maxNewTokens: 8))
        }
    }

    // MARK: - Sampling and stopping

    func testSeededSamplingIsReproducible() throws {
        let generator = try generator()
        let prompt = generator.tokenizer.encodeIDs("The stock market")
        func run(_ seed: UInt64) throws -> [Int] {
            let options = GenerationOptions(maxNewTokens: 24, sampling: SamplingOptions(temperature: 1, topK: 50, topP: 0.95,
                                                                                         repetitionPenalty: 1.1, seed: seed))
            return try generator.generate(promptIDs: prompt, options: options)
        }
        let a = try run(1)
        XCTAssertEqual(a.count, 24)
        XCTAssertEqual(a, try run(1))
        var differing = 0
        for seed in 2...6 as ClosedRange<UInt64> where try run(seed) != a { differing += 1 }
        XCTAssertGreaterThan(differing, 0, "different seeds should usually give different tokens")
        XCTAssertEqual(try run(7), try run(7))
    }

    func testResultTextTimingsAndStopReasons() throws {
        let generator = try generator()
        let result = try generator.generate(prompt: "Hello world", options: GenerationOptions(maxNewTokens: 12))
        XCTAssertEqual(result.stopReason, .maxTokens)
        XCTAssertEqual(result.tokenIDs.count, 12)
        XCTAssertEqual(result.text, try generator.tokenizer.decode(result.tokenIDs, skipSpecialTokens: true))
        XCTAssertEqual(result.timings.promptTokens, 4)
        XCTAssertEqual(result.timings.tokenTimes.count, 11)
        XCTAssertGreaterThan(result.timings.timeToFirstToken, 0)
        XCTAssertGreaterThanOrEqual(result.timings.totalSeconds, result.timings.timeToFirstToken)
        XCTAssertNotNil(result.timings.tokensPerSecond)
        let none = try generator.generate(prompt: "Hello", options: GenerationOptions(maxNewTokens: 0))
        XCTAssertEqual(none.tokenIDs, [])
        XCTAssertEqual(none.text, "")
    }

    func testContextFullStopsWithoutSlidingWindow() throws {
        let generator = try generator()
        let prompt = (0..<60).map { ($0 * 37) % 1023 }
        let result = try generator.generateResult(promptIDs: prompt, options: GenerationOptions(maxNewTokens: 10))
        XCTAssertEqual(result.stopReason, .contextFull)
        XCTAssertEqual(result.tokenIDs.count, 4)
        XCTAssertEqual(result.tokenIDs, try generator.model.generate(promptIDs: prompt, maxNewTokens: 10))
        let exactlyFull = (0..<64).map { $0 + 100 }
        let full = try generator.generateResult(promptIDs: exactlyFull, options: GenerationOptions(maxNewTokens: 10))
        XCTAssertEqual(full.stopReason, .contextFull)
        XCTAssertEqual(full.tokenIDs, [])
        assertInvalidInput(try generator.generate(promptIDs: (0..<65).map { $0 }, options: GenerationOptions()),
                           mentions: ["65", "64"])
        // maxTokens wins when both limits are reached by the same token.
        let both = try generator.generateResult(promptIDs: prompt, options: GenerationOptions(maxNewTokens: 4))
        XCTAssertEqual(both.stopReason, .maxTokens)
    }

    func testStopStringsCutTheText() throws {
        let generator = try generator()
        let prompt = "Apple shares jump 5% after earnings beat"
        let plain = try generator.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 32))
        let scalars = Array(plain.text.unicodeScalars)
        XCTAssertGreaterThan(scalars.count, 12, "need some text to cut: '\(plain.text)'")
        var stop = String.UnicodeScalarView()
        stop.append(contentsOf: scalars[8..<11])
        let stopString = String(stop)
        let bytes = Array(plain.text.utf8), needle = Array(stopString.utf8)
        let cut = try XCTUnwrap((0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle })
        let expected = String(decoding: bytes[..<cut], as: UTF8.self)

        let options = GenerationOptions(maxNewTokens: 32, stopStrings: ["never ever here", stopString])
        let stopped = try generator.generate(prompt: prompt, options: options)
        XCTAssertEqual(stopped.stopReason, .stopString)
        XCTAssertEqual(stopped.text, expected)
        XCTAssertFalse(stopped.text.contains(stopString))
        XCTAssertLessThan(stopped.tokenIDs.count, 32)
        XCTAssertEqual(stopped.tokenIDs, Array(plain.tokenIDs.prefix(stopped.tokenIDs.count)))

        let absent = try generator.generate(prompt: prompt,
                                            options: GenerationOptions(maxNewTokens: 32, stopStrings: ["never ever here"]))
        XCTAssertEqual(absent.stopReason, .maxTokens)
        XCTAssertEqual(absent.text, plain.text)
    }

    func testStopStringSearchAndHoldBack() {
        var text = StopStringText(stopStrings: ["END", "o w"])
        XCTAssertFalse(text.append("Hel"))
        XCTAssertEqual(text.takeEmittable(), "Hel")
        XCTAssertFalse(text.append("lo"))
        XCTAssertEqual(text.takeEmittable(), "l")        // "o" could start "o w"
        XCTAssertFalse(text.append(" x E"))
        XCTAssertEqual(text.takeEmittable(), "o x ")     // "E" could start "END"
        XCTAssertFalse(text.append("N"))
        XCTAssertEqual(text.takeEmittable(), "")
        XCTAssertTrue(text.append("Dmore"))              // "END" across three pieces
        XCTAssertEqual(text.text, "Hello x ")
        XCTAssertEqual(text.takeRest(), "")
        var emoji = StopStringText(stopStrings: ["🙂!"])
        XCTAssertFalse(emoji.append("a🙂"))
        XCTAssertEqual(emoji.takeEmittable(), "a")
        XCTAssertFalse(emoji.append("?"))
        XCTAssertEqual(emoji.takeEmittable(), "🙂?")
        XCTAssertTrue(emoji.append("🙂!🙂!"))
        XCTAssertEqual(emoji.text, "a🙂?")
    }

    // MARK: - Streaming

    func testStreamingPiecesConcatenateToTheText() async throws {
        let generator = try generator()
        for options in [GenerationOptions(maxNewTokens: 32),
                        GenerationOptions(maxNewTokens: 20, sampling: SamplingOptions(temperature: 0.9, seed: 3)),
                        GenerationOptions(maxNewTokens: 32, stopStrings: ["e", "th"])] {
            let prompt = "In 2024, investors"
            let whole = try generator.generate(prompt: prompt, options: options)
            var pieces: [String] = []
            for try await piece in generator.stream(prompt: prompt, options: options) { pieces.append(piece) }
            XCTAssertEqual(pieces.joined(), whole.text, "\(options)")
            XCTAssertFalse(pieces.contains(""))
        }
    }

    func testStreamingErrorsAndEarlyExit() async throws {
        let generator = try generator()
        do {
            for try await _ in generator.stream(prompt: "", options: GenerationOptions()) {}
            XCTFail("an empty prompt should fail the stream")
        } catch let error as ModelError {
            guard case .invalidInput(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("empty"))
        }
        // Leaving early ends generation (no hang, no crash).
        var count = 0
        for try await _ in generator.stream(prompt: "Hello world", options: GenerationOptions(maxNewTokens: 60)) {
            count += 1
            if count == 2 { break }
        }
        XCTAssertEqual(count, 2)
    }

    // MARK: - Errors

    func testInvalidInputsAreClearErrors() throws {
        let generator = try generator()
        let model = generator.model
        let session = model.makeSession()
        assertInvalidInput(try session.prefill([]), mentions: ["no token ids"])
        assertInvalidInput(try model.logits([]), mentions: ["no token ids"])
        assertInvalidInput(try generator.generate(prompt: ""), mentions: ["empty"])
        assertInvalidInput(try generator.generate(promptIDs: [], options: GenerationOptions()), mentions: ["no token ids"])
        assertInvalidInput(try session.prefill([3, 1024]), mentions: ["1024", "0..<1024"])
        assertInvalidInput(try session.prefill([-1]), mentions: ["-1"])
        assertInvalidInput(try model.logits([5, 2000]), mentions: ["2000"])
        XCTAssertEqual(session.position, 0)
        let first = try session.prefill([1, 2, 3])
        assertInvalidInput(try session.step(4096), mentions: ["4096"])
        XCTAssertEqual(session.position, 3, "a failed step leaves the session as it was")
        let next = try session.step(4)
        XCTAssertLessThan(maxAbsDiff(next, try model.logits([1, 2, 3, 4])[3]), 1e-4)
        XCTAssertEqual(first.count, 1024)

        // Context overflow: 64 positions, then a clear error, then reset works.
        session.reset()
        XCTAssertEqual(session.position, 0)
        let ids = (0..<64).map { ($0 * 11) % 1023 }
        _ = try session.prefill(Array(ids[..<63]))
        _ = try session.step(ids[63])
        XCTAssertEqual(session.position, 64)
        XCTAssertEqual(session.remaining, 0)
        assertInvalidInput(try session.step(1), mentions: ["context", "64"])
        assertInvalidInput(try session.prefill([1]), mentions: ["context", "64"])
        XCTAssertEqual(session.position, 64)
        assertInvalidInput(try model.makeSession().prefill((0..<65).map { $0 }), mentions: ["64"])
        assertInvalidInput(try model.logits((0..<65).map { $0 }), mentions: ["64"])
        session.reset()
        XCTAssertLessThan(maxAbsDiff(try session.prefill([1, 2, 3]), first), 1e-6)

        assertInvalidInput(try generator.generate(prompt: "Hi", options: GenerationOptions(maxNewTokens: -1)),
                           mentions: ["maxNewTokens"])
        assertInvalidInput(try generator.generate(prompt: "Hi", options: GenerationOptions(sampling: SamplingOptions(topP: 0))),
                           mentions: ["topP"])
        assertInvalidInput(try model.generate(promptIDs: [1], maxNewTokens: 3, sampling: SamplingOptions(temperature: -1)),
                           mentions: ["temperature"])
        assertInvalidInput(try generator.generate(prompt: "Hi", options: GenerationOptions(stopStrings: [""])),
                           mentions: ["stopStrings"])
    }

    // MARK: - Speed (printed, not asserted)

    /// A random model of DistilGPT-2's size: prefill 16 tokens, then 64 decode steps.
    /// Runs with SMM_BENCH=1 (build with -c release for meaningful numbers).
    func testSyntheticDistilGPT2Speed() throws {
        guard ProcessInfo.processInfo.environment["SMM_BENCH"] == "1" else {
            throw XCTSkip("set SMM_BENCH=1 to time a DistilGPT-2-sized random model")
        }
        let shape = GPT2Shape(vocabSize: 50257, nPositions: 1024, nEmbd: 768, nLayer: 6, nHead: 12)
        let source = RandomGPT2Source(shape: shape, seed: 1)
        let model = try GPT2Model(shape: shape, source: source)
        let session = model.makeSession()
        var sampler = try Sampler(options: .greedy)
        let prompt = (0..<16).map { ($0 * 977) % 50257 }
        // Warm up (page in weights, spin up workers).
        _ = try session.prefill(prompt) { sampler.sample($0, previousTokens: []) }
        for _ in 0..<4 { _ = try session.step(1) { sampler.sample($0, previousTokens: []) } }
        session.reset()

        let clock = ContinuousClock()
        func ms(_ d: Duration) -> Double {
            Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        var token = 0
        // Three rounds of: prefill 16, 64 greedy decode steps (the machine is shared: look at the best round).
        for round in 1...3 {
            session.reset()
            let prefill = try clock.measure {
                token = try session.prefill(prompt) { sampler.sample($0, previousTokens: []) }
            }
            var stepTimes: [Double] = []
            for _ in 0..<64 {
                stepTimes.append(ms(try clock.measure {
                    token = try session.step(token) { sampler.sample($0, previousTokens: []) }
                }))
            }
            let mean = stepTimes.reduce(0, +) / Double(stepTimes.count)
            print("GPT-2 synthetic DistilGPT-2 (768x6, V 50257), \(WorkerPool.shared.threadCount) threads, "
                  + "BLAS \(BLAS.backendDescription), round \(round): "
                  + String(format: "prefill 16 = %.1f ms; decode mean %.2f ms/token, median %.2f, min %.2f, "
                               + "max %.2f (%.1f tok/s)", ms(prefill), mean, median(stepTimes),
                           stepTimes.min()!, stepTimes.max()!, 1000 / mean))
        }
        // Where a step goes: the six blocks (no LM head), then the LM head alone (one 50257 x 768 sgemv).
        session.reset()
        _ = try session.prefill(prompt)
        var blockTimes: [Double] = [], headTimes: [Double] = []
        for _ in 0..<32 {
            blockTimes.append(ms(clock.measure { session.forward(CollectionOfOne(token)) }))
            headTimes.append(ms(clock.measure {
                Linear.forward(session.scratch.h.pointer, rows: 1, weight: model.lmHead,
                               out: session.scratch.logits.pointer)
            }))
        }
        print(String(format: "  blocks only: median %.2f ms, min %.2f; LM head only: median %.2f ms, min %.2f",
                     median(blockTimes), blockTimes.min()!, median(headTimes), headTimes.min()!))
        // Sampling cost per token on these logits (50257 entries).
        let logits = try session.step(token)
        for options in [SamplingOptions(temperature: 0), SamplingOptions(temperature: 1, seed: 1),
                        SamplingOptions(temperature: 0.8, topK: 50, topP: 0.95, repetitionPenalty: 1.2, seed: 1),
                        SamplingOptions(temperature: 1, topP: 0.9, seed: 1),
                        SamplingOptions(temperature: 5, topP: 0.9, seed: 1)] {
            var s = try Sampler(options: options)
            var scratch = logits
            let history = Array(0..<80)
            let d = clock.measure {
                for _ in 0..<20 {
                    scratch.withUnsafeMutableBufferPointer { b in
                        _ = b.update(fromContentsOf: logits)
                        _ = s.sample(b, previousTokens: history)
                    }
                }
            }
            print(String(format: "  sample T=%.1f k=%d p=%.2f: %.3f ms", options.temperature, options.topK, options.topP,
                         (Double(d.components.attoseconds) * 1e-15 + Double(d.components.seconds) * 1e3) / 20))
        }
    }
}

/// Random weights for every GPT-2 tensor of `shape` (N(0, 0.02)-ish; LayerNorms at 1 and 0).
private final class RandomGPT2Source: TensorSource, @unchecked Sendable {
    let tensors: [String: FloatTensorView]
    var tensorNames: [String] { Array(tensors.keys) }

    init(shape s: GPT2Shape, seed: UInt64) {
        var rng = SplitMix64(state: seed)
        var tensors: [String: FloatTensorView] = [:]
        func add(_ name: String, _ shape: [Int], fill: Float? = nil) {
            let buffer = FloatBuffer(count: shape.reduce(1, *))
            for i in 0..<buffer.count {
                if let fill {
                    buffer.pointer[i] = fill
                } else {
                    // sum of two uniforms: triangular in [-0.04, 0.04)
                    let a = Float(rng.next() >> 40) * 0x1.0p-24, b = Float(rng.next() >> 40) * 0x1.0p-24
                    buffer.pointer[i] = (a + b - 1) * 0.04
                }
            }
            tensors[name] = FloatTensorView(pointer: buffer.pointer, shape: shape, owner: buffer)
        }
        let c = s.nEmbd
        add("transformer.wte.weight", [s.vocabSize, c])
        add("transformer.wpe.weight", [s.nPositions, c])
        for l in 0..<s.nLayer {
            let p = "transformer.h.\(l)."
            for ln in ["ln_1", "ln_2"] {
                add(p + ln + ".weight", [c], fill: 1)
                add(p + ln + ".bias", [c], fill: 0)
            }
            add(p + "attn.c_attn.weight", [c, 3 * c]); add(p + "attn.c_attn.bias", [3 * c])
            add(p + "attn.c_proj.weight", [c, c]); add(p + "attn.c_proj.bias", [c])
            add(p + "mlp.c_fc.weight", [c, s.nInner]); add(p + "mlp.c_fc.bias", [s.nInner])
            add(p + "mlp.c_proj.weight", [s.nInner, c]); add(p + "mlp.c_proj.bias", [c])
        }
        add("transformer.ln_f.weight", [c], fill: 1)
        add("transformer.ln_f.bias", [c], fill: 0)
        self.tensors = tensors
    }

    func floatTensor(_ name: String) throws -> FloatTensorView? { tensors[name] }
}
