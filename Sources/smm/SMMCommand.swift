// `smm`: the command-line face of SmartModelManager. Each subcommand parses its arguments,
// calls the library and prints; no inference logic lives here.
import ArgumentParser
import Foundation
import SMMJSON
import SMMKernels
import SMMModels
import SmartModelManager

@main
struct SMMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smm",
        abstract: "CPU inference for BERT, DistilBERT and GPT-2 models, with a model manager.",
        subcommands: [TokenizeCommand.self, EmbedCommand.self, ClassifyCommand.self, GenerateCommand.self,
                      BenchCommand.self, InfoCommand.self, InspectCommand.self, SystemCommand.self,
                      ModelsCommand.self, SelectCommand.self, SentimentCommand.self, QualityCommand.self,
                      ServeCommand.self, FetchCommand.self, KernelBenchCommand.self])
}

/// Options every model-running command takes.
struct ModelOptions: ParsableArguments {
    @Option(name: [.short, .customLong("model")],
            help: "A Hugging Face model directory (config.json, *.safetensors, tokenizer files) or an .smm file. Without it, the manager selects one for the task from the models folder.")
    var model: String?

    @Option(help: "Folder of models the manager selects from when -m is not given (default: $SMM_MODELS_DIR, else the per-user folder smm fetch fills: ~/.cache/smm/models on Linux).")
    var modelsDir: String?

    @Option(help: "Quantize the weights at load: f16, bf16, int8 or q4 (as smm-convert --dtype would store them).")
    var dtype: ModelDType?

    @Option(help: "Threads to run on (default: the physical cores this process may use).")
    var threads: Int?

    /// Applies `--threads` (before the worker pool starts) and opens `-m MODEL` (a path, or a
    /// catalog id), or the model the manager selects for `task` (the choice goes to standard
    /// error), through the manager's one way in (`ModelManager.open`).
    func load(task: ModelTask) async throws -> LoadedModel {
        try applyThreads(threads)
        var configuration = try ManagerConfiguration.fromEnvironment()
        if let modelsDir { configuration.modelsDirectory = URL(fileURLWithPath: modelsDir) }
        let manager = try ModelManager(configuration: configuration)
        let opened = try await manager.open(model.map(ModelReference.init), task: task, dtype: dtype)
        if let chosen = opened.selection?.chosen {
            FileHandle.standardError.write(Data("smm: selected \(chosen.key.id) for \(task.rawValue)\n".utf8))
        }
        return opened.model
    }

    /// The model as a BERT-family encoder, or an error saying it is not one.
    func encoder(task: ModelTask) async throws -> TextEncoder {
        switch try await load(task: task) {
        case .encoder(let encoder): return encoder
        case .decoder: throw CLIError("\(model ?? "the selected model") is a GPT-2 model; this command needs a BERT or DistilBERT model")
        }
    }
}

/// `--json` / `--jsonl` and the TEXT arguments.
struct TextInputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per line.")
    var json = false

    @Flag(help: """
        Read standard input as one JSON object {"text": ...} per line and answer each line with one \
        JSON line, with its 0-based "index"; a line that cannot be answered gets {"index", "error"} \
        in its place, the rest go on, and the exit status is 1.
        """)
    var jsonl = false

    @Flag(help: "With --jsonl, stop at the first record that cannot be answered.")
    var failFast = false

    @Argument(help: "Texts to process (default: standard input, one text per line).")
    var texts: [String] = []

    /// Every text at once, stopping at the first that cannot be read (see `InputTexts.read`).
    func read() throws -> [String] { try InputTexts.read(arguments: texts, jsonl: jsonl) }
}

/// Applies `--threads` to the engine's shared worker pool; must run before the pool starts.
/// - Throws: `CLIError` for a count outside 1...256.
func applyThreads(_ threads: Int?) throws {
    guard let threads else { return }
    do { try WorkerPool.setSharedThreadCount(threads) } catch WorkerPoolError.invalidThreadCount {
        throw CLIError("--threads must be between 1 and \(WorkerPool.maxThreadCount)")
    }
}

func printLine(_ value: JSONValue) { print(value.text) }

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// `smm info`: the engine's build and the BLAS core it runs.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info",
                                                    abstract: "Show the BLAS backend, matrix kernels and CPU features in use.")

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() {
        let cpu = CPUFeatures.current
        let threads = WorkerPool.defaultThreadCount
        let f32Kernel = PackedMatrix.isAvailable ? "avx512-packed" : "blas"
        if json {
            printLine(.record([("blas", .string(BLAS.backendDescription)),
                               ("openblas_core", BLAS.openBLASCoreName.map(JSONValue.string) ?? .null),
                               ("f32_kernel", .string(f32Kernel)), ("int8_kernel", .string(QuantizedLinear.kernel.rawValue)),
                               ("bf16_kernel", BF16Linear.isAvailable ? .string(BF16Linear.kernel.rawValue) : .null),
                               ("q4_kernel", .string(Q4Linear.kernel.rawValue)),
                               ("cpu", .string(cpu.modelName)), ("threads", .int(threads)),
                               ("avx2", .bool(cpu.hasAVX2)), ("avx512", .bool(cpu.hasAVX512)),
                               ("vnni", .bool(cpu.hasVNNI)), ("bf16", .bool(cpu.hasBF16)), ("amx", .bool(cpu.hasAMX)),
                               ("amx_bf16", .bool(cpu.hasAMXBF16))]))
        } else {
            print("BLAS:    \(BLAS.backendDescription)")
            print("Kernels: f32 \(f32Kernel == "blas" ? "OpenBLAS sgemm" : "AVX-512 on packed panels (SMM_F32_KERNEL=blas for OpenBLAS)"), "
                  + "int8 \(QuantizedLinear.kernel.rawValue), "
                  + "bf16 \(BF16Linear.isAvailable ? BF16Linear.kernel.rawValue : "none (bf16 files run in f32)"), "
                  + "q4 \(Q4Linear.isFast ? Q4Linear.kernel.rawValue : "portable Swift (slow: no AVX-512 VNNI, or SMM_Q4_KERNEL=portable)")")
            print("CPU:     \(cpu.modelName)")
            print("Threads: \(threads)")
            print("Features: avx2=\(cpu.hasAVX2) avx512=\(cpu.hasAVX512) vnni=\(cpu.hasVNNI) bf16=\(cpu.hasBF16) amx=\(cpu.hasAMX) amx_bf16=\(cpu.hasAMXBF16)")
        }
    }
}
