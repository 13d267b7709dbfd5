// `smm generate`: GPT-2 text generation, streamed to standard output or as one JSON object.
import ArgumentParser
import Foundation
import SMMModels
import SmartModelManager

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
    @Flag(help: "Print one JSON object {\"prompt\",\"text\",\"tokens\"} instead of streaming text.") var json = false
    @Argument(help: "The prompt.") var prompt: String

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
        if json {
            let result = try generator.generate(prompt: prompt, options: options)
            printLine(.object([("prompt", .string(prompt)), ("text", .string(result.text)),
                               ("tokens", .ints(result.tokenIDs))]))
        } else {
            for try await piece in generator.stream(prompt: prompt, options: options) {
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
    }
}
