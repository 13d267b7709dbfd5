// `smm generate`: GPT-2 text generation, streamed to standard output or as one JSON object.
// A prompt that fills the model's context is an error; generation cut short by the context is
// a warning on stderr (and "stopped": "context_full" in --json).
import ArgumentParser
import Foundation
import SMMJSON
import SMMModels
import SmartModelManager
import SMMKernels

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate text with a GPT-2 model.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "The most new tokens to generate.") var maxTokens = 64
    @Option(help: "Sampling temperature; 0 picks the most likely token (greedy).") var temperature: Float = 0
    @Option(help: "Sample among the K most likely tokens (0: off).") var topK = 0
    @Option(help: "Nucleus sampling: the smallest set with this total probability, in (0, 1].") var topP: Float = 1
    @Option(help: "Repetition penalty (1: off).") var repetitionPenalty: Float = 1
    @Option(help: "Seed that makes sampling reproducible.") var seed: UInt64?
    @Option(help: "Stop when the text reaches this string (repeatable).") var stop: [String] = []
    @Flag(help: "Print one JSON object {\"prompt\",\"text\",\"tokens\",\"stopped\"} instead of streaming text.")
    var json = false
    @Argument(help: "The prompt.") var prompt: String

    /// The options checked with the flags' names (the library's messages name its own fields).
    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0, got \(maxTokens)") }
        guard temperature.isFinite, temperature >= 0 else {
            throw ValidationError("--temperature must be a finite number >= 0 (0 = greedy), got \(temperature)")
        }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0 (0 = off), got \(topK)") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1] (1 = off), got \(topP)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw ValidationError("--repetition-penalty must be a finite number > 0 (1 = off), got \(repetitionPenalty)")
        }
        if stop.contains(where: \.isEmpty) { throw ValidationError("--stop must not be an empty string") }
    }

    func run() async throws {
        guard !prompt.isEmpty else { throw CLIError("the prompt is empty") }
        let options = GenerationOptions(
            maxNewTokens: maxTokens,
            sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP,
                                      repetitionPenalty: repetitionPenalty, seed: seed),
            stopAtEndOfText: true, stopStrings: stop)
        try options.validate()
        guard case .decoder(let generator) = try await modelOptions.load(task: "generation") else {
            throw CLIError("\(modelOptions.model ?? "the selected model") is an encoder model; generate needs a GPT-2 model")
        }
        try Self.checkRoom(prompt: prompt, generator: generator)
        let result: GenerationResult
        if json {
            result = try generator.generate(prompt: prompt, options: options)
            printLine(Self.jsonObject(prompt: prompt, result: result))
        } else {
            result = try await Self.stream(generator, prompt: prompt, options: options) { piece in
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
        if let message = Self.contextWarning(result, contextLength: generator.model.contextLength) { warn(message) }
    }

    /// The prompt's token count, once it is known to leave room for at least one new token.
    /// - Throws: `CLIError` when the prompt has as many tokens as the model's context or more.
    @discardableResult
    static func checkRoom(prompt: String, generator: TextGenerator) throws -> Int {
        let tokens = generator.tokenizer.encodeIDs(prompt).count
        let context = generator.model.contextLength
        guard tokens < context else {
            throw CLIError("the prompt has \(tokens) tokens, the model's context is \(context): no room to generate")
        }
        return tokens
    }

    /// Streams the continuation of `prompt` to `write`, piece by piece, and returns the whole result.
    static func stream(_ generator: TextGenerator, prompt: String, options: GenerationOptions,
                       write: (String) -> Void) async throws -> GenerationResult {
        let finished = Locked<GenerationResult?>(nil)
        for try await piece in generator.stream(prompt: prompt, options: options,
                                                onFinish: { result in finished.withLock { $0 = result } }) {
            write(piece)
        }
        guard let result = finished.withLock({ $0 }) else {
            throw CLIError("generation ended without a result")
        }
        return result
    }

    /// The warning for generation the model's context cut short, else nil.
    static func contextWarning(_ result: GenerationResult, contextLength: Int) -> String? {
        guard result.stopReason == .contextFull else { return nil }
        let prompt = result.promptTokenIDs.count, new = result.tokenIDs.count
        return "generation stopped after \(new) new token(s): the model's context is full "
            + "(\(prompt) prompt + \(new) new = \(prompt + new) of \(contextLength) tokens)"
    }

    /// `--json`'s object: prompt, text, token ids and why generation stopped.
    static func jsonObject(prompt: String, result: GenerationResult) -> JSONValue {
        .record([("prompt", .string(prompt)), ("text", .string(result.text)), ("tokens", .ints(result.tokenIDs)),
                 ("stopped", .string(stoppedName(result.stopReason)))])
    }

    /// `max_tokens`, `eos`, `stop_string`, `context_full` or `cancelled`.
    static func stoppedName(_ reason: StopReason) -> String {
        switch reason {
        case .maxTokens: return "max_tokens"
        case .endOfText: return "eos"
        case .stopString: return "stop_string"
        case .contextFull: return "context_full"
        case .cancelled: return "cancelled"
        }
    }
}
