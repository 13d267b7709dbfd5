// `smm tokenize`, `smm embed`, `smm classify`.
import ArgumentParser
import Foundation
import SMMJSON
import SMMModels
import SMMTokenizers
import SmartModelManager

struct TokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Show token ids and tokens.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: TextInputOptions

    func run() async throws {
        let tokenizer: any Tokenizer
        switch try await modelOptions.load(task: "embedding") {
        case .encoder(let e): tokenizer = e.tokenizer
        case .decoder(let g): tokenizer = g.tokenizer
        }
        var answers = RecordAnswers(input)
        try await answers.run(compute: { texts in try texts.map { try tokenizer.encode($0) } },
            json: { text, encoding in
                if encoding.wasTruncated { warnTruncated(text, maxLength: encoding.ids.count) }
                return [("text", .string(text)), ("ids", .ints(encoding.ids)), ("tokens", .strings(encoding.tokens))]
            },
            plain: { text, encoding in
                if encoding.wasTruncated { warnTruncated(text, maxLength: encoding.ids.count) }
                return "\(text)\n  ids:    \(encoding.ids.map(String.init).joined(separator: " "))\n"
                    + "  tokens: \(encoding.tokens.joined(separator: " "))"
            })
    }
}

struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "embed", abstract: "Sentence embeddings.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Pooling: mean (over real tokens) or cls (default: the model's, else mean).")
    var pooling: Pooling?
    @Flag(help: "Do not L2-normalise the embeddings.")
    var noNormalize = false
    @OptionGroup var input: TextInputOptions

    func run() async throws {
        let encoder = try await modelOptions.encoder(task: "embedding")
        let pooling = pooling, normalize = !noNormalize
        var answers = RecordAnswers(input)
        try await answers.run(compute: { texts in
                // `embed` truncates as `tokenize` does but does not say so; tokenizing first (cheap
                // next to the model) finds the texts it cuts.
                let truncated = try encoder.tokenize(texts).map(\.wasTruncated)
                return zip(try encoder.embed(texts, pooling: pooling, normalize: normalize), truncated).map { $0 }
            },
            json: { text, answer in
                if answer.1 { warnTruncated(text, maxLength: encoder.maxLength) }
                return [("text", .string(text)), ("embedding", .floats(answer.0)), ("truncated", .bool(answer.1))]
            },
            plain: { text, answer in
                if answer.1 { warnTruncated(text, maxLength: encoder.maxLength) }
                let head = answer.0.prefix(6).map { String(format: "%+.4f", $0) }.joined(separator: " ")
                return "\(text.prefix(60).padding(toLength: 60, withPad: " ", startingAt: 0))  [\(answer.0.count)] \(head) …"
            })
    }
}

extension Pooling: ExpressibleByArgument {}

struct ClassifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "classify", abstract: "Sequence classification.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: TextInputOptions

    func run() async throws {
        let encoder = try await modelOptions.encoder(task: "classification")
        var answers = RecordAnswers(input)
        try await answers.run(compute: { texts in try encoder.classify(texts) },
            json: { _, r in
                if r.truncated { warnTruncated(r.text, maxLength: encoder.maxLength) }
                return [("text", .string(r.text)), ("label", .string(r.label)), ("score", .double(Double(r.score))),
                        ("logits", .floats(r.logits)), ("truncated", .bool(r.truncated))]
            },
            plain: { _, r in
                if r.truncated { warnTruncated(r.text, maxLength: encoder.maxLength) }
                return "\(r.label.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(format: "%.4f", r.score))  \(r.text)"
            })
    }
}

/// The warning for a text the model only sees the first `maxLength` tokens of (stderr).
func warnTruncated(_ text: String, maxLength: Int) {
    warn(truncationWarning(text, maxLength: maxLength))
}

/// `text truncated to N tokens: <its first 40 characters>…`.
func truncationWarning(_ text: String, maxLength: Int) -> String {
    "text truncated to \(maxLength) tokens: \(text.prefix(40))…"
}
