// `smm quality`: what f16, bf16 and int8 lose against f32 on a model and texts of your own.
import ArgumentParser
import Foundation
import SMMJSON
import SMMFormat
import SMMModels
import SmartModelManager

struct QualityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Compare a model's f16, bf16 and int8 outputs with its f32 outputs on the same texts.",
        discussion: """
        The reference is MODEL in f32 (a Hugging Face folder or an f32 .smm file). Each candidate is \
        the same model quantized at load (--dtypes), or another file (--candidate, e.g. the output of \
        smm-convert --dtype int8). Compared: classification logits, else sentence embeddings, else \
        (GPT-2) next-token logits at every position.
        """)

    @Option(name: [.short, .customLong("model")],
            help: "The f32 reference: a Hugging Face model directory or an f32 .smm file.")
    var model: String

    @Option(help: "Comma-separated dtypes to quantize MODEL to at load and compare (default: f16,bf16,int8).")
    var dtypes: String?

    @Option(help: "Compare this model (a directory or .smm file, e.g. a converted int8 file) instead of --dtypes.")
    var candidate: String?

    @Option(help: "Threads to run on (default: the physical cores this process may use).")
    var threads: Int?

    @OptionGroup var input: TextInputOptions

    /// The dtypes compared when neither `--dtypes` nor `--candidate` is given.
    static let defaultDTypes: [ModelDType] = [.f16, .bf16, .int8]

    func validate() throws {
        if candidate != nil && dtypes != nil {
            throw ValidationError("--candidate and --dtypes cannot be used together: --candidate compares one model "
                                  + "file, --dtypes quantizes MODEL at load")
        }
        if let dtypes { _ = try Self.parseDTypes(dtypes) }
    }

    /// The dtypes of a `--dtypes` list: comma-separated f16, bf16, int8 or q4, each once.
    /// - Throws: `ValidationError` for an empty list or entry, an unknown dtype (f32 included: it is
    ///   the reference) or a repeated one.
    static func parseDTypes(_ list: String) throws -> [ModelDType] {
        let names = list.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.contains(where: { !$0.isEmpty }) else {
            throw ValidationError("--dtypes is empty: give one or more of f16, bf16, int8, q4, comma-separated")
        }
        var dtypes: [ModelDType] = []
        for name in names {
            guard !name.isEmpty else { throw ValidationError("--dtypes '\(list)' has an empty entry") }
            guard let dtype = ModelDType(rawValue: name), dtype != .f32 else {
                throw ValidationError("--dtypes: '\(name)' is not one of f16, bf16, int8, q4")
            }
            guard !dtypes.contains(dtype) else { throw ValidationError("--dtypes lists '\(name)' twice") }
            dtypes.append(dtype)
        }
        return dtypes
    }

    func run() async throws {
        try applyThreads(threads)
        let texts = try input.read()
        if let file = try? SMMFile(path: model), file.metadata.dtype != .f32 {
            throw CLIError("\(model) stores \(file.metadata.dtype.rawValue) weights; the reference must be f32 "
                           + "(a Hugging Face folder or a file made with smm-convert --dtype f32)")
        }
        let reference = try EngineBackend.loadEngineModel(at: URL(fileURLWithPath: model))
        var candidates: [(String, () throws -> LoadedModel)] = []
        if let candidate {
            candidates.append((URL(fileURLWithPath: candidate).lastPathComponent, { try EngineBackend.loadEngineModel(at: URL(fileURLWithPath: candidate)) }))
        } else {
            for dtype in try dtypes.map(Self.parseDTypes) ?? Self.defaultDTypes {
                candidates.append((dtype.rawValue, { try EngineBackend.loadEngineModel(at: URL(fileURLWithPath: model), dtype: dtype) }))
            }
        }
        if !input.json {
            print("reference: \(model) (f32), \(texts.count) texts")
            print("candidate         output             vectors  same argmax    worst cos   mean 1-cos   max |diff|")
        }
        var failures: [String] = []
        var warnedTruncation = false
        for (name, load) in candidates {
            // One candidate that cannot load or run (a weight beyond f16's range, say) does not hide
            // the others' figures; the command still fails at the end.
            let q: QuantizationQuality
            do {
                q = try QuantizationQuality.compare(reference: reference, candidate: try load(), texts: texts)
            } catch {
                failures.append(name)
                warn("\(name): \(error)")
                if input.json { printLine(.record([("candidate", .string(name)), ("error", .string("\(error)"))])) }
                continue
            }
            if q.truncatedTexts > 0 && !warnedTruncation {
                warn("\(q.truncatedTexts) of \(texts.count) texts are longer than the model takes and were compared on their beginning")
                warnedTruncation = true
            }
            if input.json {
                printLine(.record([("candidate", .string(name)), ("output", .string(q.output.rawValue)),
                                   ("vectors", .int(q.vectors)),
                                   ("argmax_agreement", q.argmaxAgreement.map(JSONValue.int) ?? .null),
                                   ("worst_cosine", .double(q.worstCosine)),
                                   ("mean_one_minus_cosine", .double(q.meanOneMinusCosine)),
                                   ("max_abs_difference", .double(q.maxAbsDifference)),
                                   ("worst_text", .string(q.worstText))]))
            } else {
                let agree = q.argmaxAgreement.map { "\($0)/\(q.vectors)" } ?? "-"
                print(name.padding(toLength: 17, withPad: " ", startingAt: 0)
                      + q.output.rawValue.padding(toLength: 19, withPad: " ", startingAt: 0)
                      + String(format: "%7d  ", q.vectors) + agree.padding(toLength: 13, withPad: " ", startingAt: 0)
                      + String(format: "%9.6f   %10.2e   %10.5f", q.worstCosine, q.meanOneMinusCosine, q.maxAbsDifference))
            }
        }
        if !failures.isEmpty {
            throw CLIError("\(failures.count) of \(candidates.count) candidates could not be compared (\(failures.joined(separator: ", ")))")
        }
    }
}
