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
        let texts = try input.read()
        let tokenizer: any Tokenizer
        switch try await modelOptions.load(task: "embedding") {
        case .encoder(let e): tokenizer = e.tokenizer
        case .decoder(let g): tokenizer = g.tokenizer
        }
        for text in texts {
            let encoding = try tokenizer.encode(text)
            if encoding.wasTruncated { warnTruncated(text, maxLength: encoding.ids.count) }
            if input.json {
                printLine(.record([("text", .string(text)), ("ids", .ints(encoding.ids)),
                                   ("tokens", .strings(encoding.tokens))]))
            } else {
                print(text)
                print("  ids:    \(encoding.ids.map(String.init).joined(separator: " "))")
                print("  tokens: \(encoding.tokens.joined(separator: " "))")
            }
        }
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
        let texts = try input.read()
        let encoder = try await modelOptions.encoder(task: "embedding")
        // `embed` truncates as `tokenize` does but does not say so; tokenizing first (cheap next to
        // the model) finds the texts it cuts.
        let truncated = try encoder.tokenize(texts).map(\.wasTruncated)
        for (text, cut) in zip(texts, truncated) where cut {
            warnTruncated(text, maxLength: encoder.maxLength)
        }
        let vectors = try encoder.embed(texts, pooling: pooling, normalize: !noNormalize)
        for ((text, vector), cut) in zip(zip(texts, vectors), truncated) {
            if input.json {
                printLine(.record([("text", .string(text)), ("embedding", .floats(vector)), ("truncated", .bool(cut))]))
            } else {
                let head = vector.prefix(6).map { String(format: "%+.4f", $0) }.joined(separator: " ")
                print("\(text.prefix(60).padding(toLength: 60, withPad: " ", startingAt: 0))  [\(vector.count)] \(head) …")
            }
        }
    }
}

extension Pooling: ExpressibleByArgument {}

struct ClassifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "classify", abstract: "Sequence classification.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: TextInputOptions

    func run() async throws {
        let texts = try input.read()
        let encoder = try await modelOptions.encoder(task: "classification")
        let results = try encoder.classify(texts)
        for r in results {
            if r.truncated { warnTruncated(r.text, maxLength: encoder.maxLength) }
            if input.json {
                printLine(.record([("text", .string(r.text)), ("label", .string(r.label)),
                                   ("score", .double(Double(r.score))), ("logits", .floats(r.logits)),
                                   ("truncated", .bool(r.truncated))]))
            } else {
                print("\(r.label.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(format: "%.4f", r.score))  \(r.text)")
            }
        }
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
