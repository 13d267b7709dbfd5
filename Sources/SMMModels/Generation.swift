// Text generation with GPT-2: tokenize the prompt, prefill it in one batched pass, then pick and
// run one token at a time from the session's KV cache, decoding text as its UTF-8 completes.
//
// Stopping, first reason wins, checked after each new token:
//   endOfText   the token is <|endoftext|> (and `stopAtEndOfText`); the id is in `tokenIDs`, not in the text
//   stopString  the text now contains a stop string: the text is cut where it starts (not included)
//   maxTokens   `maxNewTokens` tokens were generated
//   contextFull prompt + generated tokens fill the model's n_positions. Policy: no sliding window
//               (dropping old tokens would silently change what the model conditions on)
//   cancelled   the consumer of `stream` stopped listening
import SMMTokenizers
import Synchronization
import Foundation

/// What to generate and when to stop.
public struct GenerationOptions: Sendable, Equatable {
    /// The most tokens to generate (>= 0).
    public var maxNewTokens: Int
    /// How each token is picked (greedy by default).
    public var sampling: SamplingOptions
    /// Stop when the model produces `<|endoftext|>`.
    public var stopAtEndOfText: Bool
    /// Stop as soon as the generated text contains one of these (non-empty) strings; the text is cut
    /// before it. Matched on the exact Unicode scalars (UTF-8 bytes), not canonical equivalence.
    public var stopStrings: [String]

    /// Options; by default greedy, 64 new tokens, stopping at `<|endoftext|>`.
    public init(maxNewTokens: Int = 64, sampling: SamplingOptions = .greedy, stopAtEndOfText: Bool = true,
                stopStrings: [String] = []) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.stopAtEndOfText = stopAtEndOfText
        self.stopStrings = stopStrings
    }

    /// Throws `ModelError.invalidInput` naming the first option that is out of range.
    public func validate() throws {
        guard maxNewTokens >= 0 else {
            throw ModelError.invalidInput("maxNewTokens must be >= 0, got \(maxNewTokens)")
        }
        if stopStrings.contains(where: \.isEmpty) {
            throw ModelError.invalidInput("stopStrings must not contain an empty string")
        }
        try sampling.validate()
    }
}

/// Why generation ended.
public enum StopReason: String, Sendable, Codable, Equatable {
    /// `maxNewTokens` tokens were generated.
    case maxTokens
    /// The model produced `<|endoftext|>`.
    case endOfText
    /// The text reached a stop string.
    case stopString
    /// Prompt plus generated tokens filled the model's context length (no sliding window).
    case contextFull
    /// The stream's consumer stopped listening.
    case cancelled
}

/// Where the time went, in seconds.
public struct GenerationTimings: Sendable, Equatable {
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// From the call to the first new token picked: tokenizing, the batched prefill, the first pick.
    public var timeToFirstToken: Double
    /// For each token after the first: the time since the previous one (one decode step, the pick,
    /// text decoding).
    public var tokenTimes: [Double]
    /// The whole call.
    public var totalSeconds: Double

    /// Mean of `tokenTimes` (nil with fewer than two tokens).
    public var meanTimePerToken: Double? {
        tokenTimes.isEmpty ? nil : tokenTimes.reduce(0, +) / Double(tokenTimes.count)
    }

    /// Decode speed after the first token, tokens per second (nil with fewer than two tokens).
    public var tokensPerSecond: Double? { meanTimePerToken.map { $0 > 0 ? 1 / $0 : .infinity } }
}

/// The outcome of one generation.
public struct GenerationResult: Sendable, Equatable {
    /// The generated text (special tokens left out; cut before a stop string).
    public var text: String
    /// The generated token ids, the prompt excluded (the one that ended generation included).
    public var tokenIDs: [Int]
    /// The prompt's token ids.
    public var promptTokenIDs: [Int]
    /// Why it ended.
    public var stopReason: StopReason
    /// Time to first token and per-token times.
    public var timings: GenerationTimings
}

/// GPT-2 with its tokenizer: text in, text out (all at once or streamed).
///
/// Shareable between tasks: every call makes its own `GenerationSession` (KV cache and buffers,
/// reserved lazily so making one is cheap).
public final class TextGenerator: Sendable {
    /// The language model.
    public let model: GPT2Model
    /// Its byte-level BPE tokenizer.
    public let tokenizer: GPT2Tokenizer

    /// Pairs a model with its tokenizer.
    public init(model: GPT2Model, tokenizer: GPT2Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Generates a continuation of `prompt`. Throws `ModelError.invalidInput` for an empty prompt,
    /// a prompt longer than the context, or invalid options.
    public func generate(prompt: String, options: GenerationOptions = GenerationOptions()) throws -> GenerationResult {
        let start = ContinuousClock.now
        let ids = try encodePrompt(prompt)
        return try run(promptIDs: ids, options: options, start: start, decodeText: true, onText: nil,
                       isCancelled: { false })
    }

    /// Generates from token ids and returns the new ids only (same stopping rules as text).
    public func generate(promptIDs: [Int], options: GenerationOptions = GenerationOptions()) throws -> [Int] {
        try run(promptIDs: promptIDs, options: options, start: .now, decodeText: !options.stopStrings.isEmpty,
                onText: nil, isCancelled: { false }).tokenIDs
    }

    /// Generates from token ids and returns text, ids, stop reason and timings.
    public func generateResult(promptIDs: [Int], options: GenerationOptions = GenerationOptions()) throws
        -> GenerationResult {
        try run(promptIDs: promptIDs, options: options, start: .now, decodeText: true, onText: nil,
                isCancelled: { false })
    }

    /// Streams the continuation of `prompt` as text pieces, each one complete UTF-8 as soon as it is
    /// (text that might be the start of a stop string is held back until it is known not to be).
    /// The pieces concatenate to `generate(prompt:options:).text`. Errors (empty prompt, invalid
    /// options) end the stream. Generation runs on its own thread (not the cooperative pool) and
    /// stops when the consumer stops iterating.
    public func stream(prompt: String, options: GenerationOptions = GenerationOptions())
        -> AsyncThrowingStream<String, Error> {
        stream(prompt: prompt, options: options, onFinish: { _ in })
    }

    /// Like `stream(prompt:options:)`, and hands the whole result (text, ids, why it stopped,
    /// timings) to `onFinish`, on the generating thread, just before the stream finishes: when the
    /// consumer's loop runs to the end, `onFinish` has run. Not called when generation throws.
    public func stream(prompt: String, options: GenerationOptions = GenerationOptions(),
                       onFinish: @escaping @Sendable (GenerationResult) -> Void) -> AsyncThrowingStream<String, Error> {
        let (stream, continuation) = AsyncThrowingStream<String, Error>.makeStream()
        let cancelled = CancellationFlag()
        continuation.onTermination = { _ in cancelled.cancel() }
        let thread = Thread { [self] in
            do {
                let start = ContinuousClock.now
                let ids = try self.encodePrompt(prompt)
                let result = try self.run(promptIDs: ids, options: options, start: start, decodeText: true,
                                          onText: { continuation.yield($0) }, isCancelled: { cancelled.isCancelled })
                onFinish(result)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.name = "smm-generate"
        thread.stackSize = 4 << 20
        thread.start()
        return stream
    }

    /// The prompt's ids; throws for an empty prompt.
    func encodePrompt(_ prompt: String) throws -> [Int] {
        let ids = prompt.isEmpty ? [] : tokenizer.encodeIDs(prompt)
        guard !ids.isEmpty else {
            throw ModelError.invalidInput("the prompt is empty: GPT-2 needs at least one token to continue from "
                + "(to generate from nothing, pass the <|endoftext|> id as promptIDs)")
        }
        return ids
    }

    /// The generation loop shared by every entry point.
    func run(promptIDs: [Int], options: GenerationOptions, start: ContinuousClock.Instant, decodeText: Bool,
             onText: ((String) -> Void)?, isCancelled: () -> Bool) throws -> GenerationResult {
        try options.validate()
        var sampler = try Sampler(options: options.sampling)
        let contextLength = model.contextLength
        try model.validate(promptIDs, past: 0, capacity: contextLength)
        let endOfText = options.stopAtEndOfText ? tokenizer.endOfTextID : nil

        var text = StopStringText(stopStrings: options.stopStrings)
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        var generated: [Int] = []
        generated.reserveCapacity(min(options.maxNewTokens, contextLength))
        var history = promptIDs
        history.reserveCapacity(promptIDs.count + min(options.maxNewTokens, contextLength))
        var tokenTimes: [Double] = []
        var firstToken: Double?
        var reason = StopReason.maxTokens

        func finish() -> GenerationResult {
            let total = seconds(since: start)
            return GenerationResult(text: text.text, tokenIDs: generated, promptTokenIDs: promptIDs, stopReason: reason,
                                    timings: GenerationTimings(promptTokens: promptIDs.count,
                                                               timeToFirstToken: firstToken ?? total,
                                                               tokenTimes: tokenTimes, totalSeconds: total))
        }
        if options.maxNewTokens == 0 { return finish() }
        if promptIDs.count >= contextLength { reason = .contextFull; return finish() }

        let session = model.makeSession()
        var next = try session.prefill(promptIDs) { sampler.sample($0, previousTokens: history) }
        var last = ContinuousClock.now
        firstToken = seconds(since: start)
        while true {
            generated.append(next)
            history.append(next)
            if let endOfText, next == endOfText { reason = .endOfText; break }
            if decodeText {
                if text.append(try decoder.append(next)) { reason = .stopString; break }
                if let onText {
                    let piece = text.takeEmittable()
                    if !piece.isEmpty { onText(piece) }
                }
            }
            if generated.count >= options.maxNewTokens { reason = .maxTokens; break }
            if promptIDs.count + generated.count >= contextLength { reason = .contextFull; break }
            if isCancelled() { reason = .cancelled; break }
            next = try session.step(next) { sampler.sample($0, previousTokens: history) }
            let now = ContinuousClock.now
            tokenTimes.append(seconds(last, now))
            last = now
        }
        if decodeText && reason != .stopString {
            if text.append(decoder.finish()) { reason = .stopString }
        }
        if let onText {
            let rest = text.takeRest()
            if !rest.isEmpty { onText(rest) }
        }
        return finish()
    }
}

/// The generated text as UTF-8 bytes, with stop-string search and the hold-back for streaming.
struct StopStringText {
    private let stops: [[UInt8]]
    private let longestStop: Int
    private(set) var bytes: [UInt8] = []
    private var emitted = 0

    init(stopStrings: [String]) {
        stops = stopStrings.map { Array($0.utf8) }.filter { !$0.isEmpty }
        longestStop = stops.map(\.count).max() ?? 0
    }

    /// The text so far.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends a decoded piece; when the text now contains a stop string, cuts the text where the
    /// earliest one starts and returns true.
    mutating func append(_ piece: String) -> Bool {
        guard !piece.isEmpty else { return false }
        let old = bytes.count
        bytes.append(contentsOf: piece.utf8)
        guard !stops.isEmpty else { return false }
        // Only matches that end in the new bytes are new.
        let from = max(0, old - (longestStop - 1))
        var earliest: Int?
        for stop in stops {
            if let at = find(stop, from: from), at < (earliest ?? .max) { earliest = at }
        }
        guard let earliest else { return false }
        bytes.removeSubrange(earliest...)
        emitted = min(emitted, earliest)
        return true
    }

    private func find(_ needle: [UInt8], from: Int) -> Int? {
        let n = needle.count
        guard bytes.count >= n, from <= bytes.count - n else { return nil }
        var i = from
        while i <= bytes.count - n {
            if bytes[i] == needle[0] {
                var j = 1
                while j < n && bytes[i + j] == needle[j] { j += 1 }
                if j == n { return i }
            }
            i += 1
        }
        return nil
    }

    /// Text not yet handed out, except a tail that could still become a stop string.
    mutating func takeEmittable() -> String {
        var hold = 0
        let available = bytes.count - emitted
        for stop in stops {
            var length = min(stop.count - 1, available)
            while length > hold {
                if bytes[(bytes.count - length)...].elementsEqual(stop[..<length]) { hold = length; break }
                length -= 1
            }
        }
        return take(upTo: bytes.count - hold)
    }

    /// Everything not yet handed out.
    mutating func takeRest() -> String { take(upTo: bytes.count) }

    private mutating func take(upTo end: Int) -> String {
        guard end > emitted else { return "" }
        let piece = String(decoding: bytes[emitted..<end], as: UTF8.self)
        emitted = end
        return piece
    }
}

/// Set from the stream's termination handler, read by the generating thread.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

private func seconds(since start: ContinuousClock.Instant) -> Double { seconds(start, .now) }

private func seconds(_ a: ContinuousClock.Instant, _ b: ContinuousClock.Instant) -> Double {
    let d = a.duration(to: b).components
    return Double(d.seconds) + Double(d.attoseconds) * 1e-18
}
