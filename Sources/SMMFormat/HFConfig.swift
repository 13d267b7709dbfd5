import Foundation
import SMMJSON

/// Activation functions named in Hugging Face configs (`hidden_act`, `activation`,
/// `activation_function`). The raw value is the canonical Hugging Face name.
public enum Activation: String, Sendable, Codable, CaseIterable, Equatable {
    /// Exact GELU, x·Φ(x) with erf (`"gelu"`; also `"gelu_python"`).
    case gelu = "gelu"
    /// Tanh approximation of GELU (`"gelu_new"`; also `"gelu_pytorch_tanh"`, `"gelu_fast"`,
    /// `"gelu_accurate"`, which compute the same function).
    case geluTanh = "gelu_new"
    /// x·σ(1.702x) (`"quick_gelu"`).
    case quickGelu = "quick_gelu"
    /// max(0, x).
    case relu = "relu"
    /// x·σ(x) (`"silu"`, also `"swish"`).
    case silu = "silu"
    /// tanh(x).
    case tanh = "tanh"

    /// The activation for a Hugging Face name, aliases included; nil when unknown.
    public init?(huggingFaceName name: String) {
        switch name {
        case "gelu", "gelu_python": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate": self = .geluTanh
        case "quick_gelu": self = .quickGelu
        case "relu": self = .relu
        case "silu", "swish": self = .silu
        case "tanh": self = .tanh
        default: return nil
        }
    }

    /// Every Hugging Face name accepted.
    public static let huggingFaceNames = ["gelu", "gelu_python", "gelu_new", "gelu_pytorch_tanh", "gelu_fast",
                                          "gelu_accurate", "quick_gelu", "relu", "silu", "swish", "tanh"]
}

/// Upper bounds beyond which a config value is taken as corrupt rather than as a real model.
public enum ConfigLimits {
    /// Largest vocabulary accepted.
    public static let maxVocabSize = 10_000_000
    /// Largest hidden size accepted.
    public static let maxHiddenSize = 1 << 17
    /// Largest number of layers accepted.
    public static let maxLayers = 10_000
    /// Largest feed-forward (intermediate) size accepted.
    public static let maxIntermediateSize = 1 << 20
    /// Largest number of positions accepted.
    public static let maxPositions = 1 << 22
    /// Largest number of token types accepted.
    public static let maxTypeVocabSize = 1 << 16
    /// Largest number of labels accepted.
    public static let maxLabels = 1 << 20
}

// MARK: - BERT

/// A `BertConfig` (`model_type: "bert"`). Absent keys take the `transformers` defaults.
public struct BertConfig: Sendable, Codable, Equatable {
    /// Number of token ids (`vocab_size`).
    public var vocabSize: Int
    /// Width of the hidden states (`hidden_size`).
    public var hiddenSize: Int
    /// Number of encoder layers (`num_hidden_layers`).
    public var numHiddenLayers: Int
    /// Attention heads per layer (`num_attention_heads`).
    public var numAttentionHeads: Int
    /// Feed-forward inner size (`intermediate_size`).
    public var intermediateSize: Int
    /// Feed-forward activation (`hidden_act`).
    public var hiddenAct: Activation
    /// Number of learned positions, the longest input (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Number of token types (segments) (`type_vocab_size`).
    public var typeVocabSize: Int
    /// LayerNorm epsilon (`layer_norm_eps`).
    public var layerNormEps: Double
    /// nil when the config sets `pad_token_id` to null.
    public var padTokenID: Int?
    /// `"absolute"` for every BERT SMM runs; `"relative_key"` variants are recorded so a loader can refuse them.
    public var positionEmbeddingType: String
    /// Class index → label name (`id2label`).
    public var id2label: [Int: String]
    /// `architectures`, e.g. `["BertForMaskedLM"]`.
    public var architectures: [String]

    /// Makes a config; every argument defaults to `bert-base-uncased`'s value.
    public init(vocabSize: Int = 30522, hiddenSize: Int = 768, numHiddenLayers: Int = 12,
                numAttentionHeads: Int = 12, intermediateSize: Int = 3072, hiddenAct: Activation = .gelu,
                maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2, layerNormEps: Double = 1e-12,
                padTokenID: Int? = 0, positionEmbeddingType: String = "absolute",
                id2label: [Int: String] = defaultID2Label(count: 2), architectures: [String] = []) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.hiddenAct = hiddenAct
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.padTokenID = padTokenID
        self.positionEmbeddingType = positionEmbeddingType
        self.id2label = id2label
        self.architectures = architectures
    }

    /// Size of one attention head.
    public var headDim: Int { hiddenSize / numAttentionHeads }
    /// Label names ordered by class index.
    public var labels: [String] { orderedLabels(id2label) }
    /// Number of classes.
    public var numLabels: Int { id2label.count }

    /// Checks sizes and values; `path` is used in messages.
    /// - Throws: `FormatError.invalidConfig` naming the key and the problem.
    public func validate(path: String = "config") throws {
        var check = ConfigChecker(path: path)
        try check.range("vocab_size", vocabSize, 1...ConfigLimits.maxVocabSize)
        try check.range("hidden_size", hiddenSize, 1...ConfigLimits.maxHiddenSize)
        try check.range("num_hidden_layers", numHiddenLayers, 1...ConfigLimits.maxLayers)
        try check.range("num_attention_heads", numAttentionHeads, 1...ConfigLimits.maxHiddenSize)
        try check.divisible("hidden_size", hiddenSize, by: "num_attention_heads", numAttentionHeads)
        try check.range("intermediate_size", intermediateSize, 1...ConfigLimits.maxIntermediateSize)
        try check.range("max_position_embeddings", maxPositionEmbeddings, 1...ConfigLimits.maxPositions)
        try check.range("type_vocab_size", typeVocabSize, 1...ConfigLimits.maxTypeVocabSize)
        try check.epsilon("layer_norm_eps", layerNormEps)
        try check.tokenID("pad_token_id", padTokenID, vocabSize: vocabSize)
        try check.labels(id2label)
    }
}

// MARK: - DistilBERT

/// A `DistilBertConfig` (`model_type: "distilbert"`). Absent keys take the `transformers` defaults.
/// `seq_classif_dropout` and the other dropouts are ignored (inference only).
public struct DistilBertConfig: Sendable, Codable, Equatable {
    /// LayerNorm epsilon: fixed at 1e-12 in `transformers`' DistilBERT (not read from the config).
    public static let layerNormEps = 1e-12

    /// Number of token ids (`vocab_size`).
    public var vocabSize: Int
    /// Width of the hidden states (`dim`).
    public var dim: Int
    /// Number of transformer layers (`n_layers`).
    public var nLayers: Int
    /// Attention heads per layer (`n_heads`).
    public var nHeads: Int
    /// Feed-forward inner size (`hidden_dim`).
    public var hiddenDim: Int
    /// Feed-forward activation (`activation`).
    public var activation: Activation
    /// Number of learned positions, the longest input (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Fixed sinusoidal position embeddings instead of learned ones.
    public var sinusoidalPosEmbds: Bool
    /// nil when the config sets `pad_token_id` to null.
    public var padTokenID: Int?
    /// Class index → label name (`id2label`).
    public var id2label: [Int: String]
    /// `architectures`, e.g. `["DistilBertForSequenceClassification"]`.
    public var architectures: [String]

    /// Makes a config; every argument defaults to `distilbert-base-uncased`'s value.
    public init(vocabSize: Int = 30522, dim: Int = 768, nLayers: Int = 6, nHeads: Int = 12, hiddenDim: Int = 3072,
                activation: Activation = .gelu, maxPositionEmbeddings: Int = 512, sinusoidalPosEmbds: Bool = false,
                padTokenID: Int? = 0, id2label: [Int: String] = defaultID2Label(count: 2),
                architectures: [String] = []) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.hiddenDim = hiddenDim
        self.activation = activation
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.sinusoidalPosEmbds = sinusoidalPosEmbds
        self.padTokenID = padTokenID
        self.id2label = id2label
        self.architectures = architectures
    }

    /// LayerNorm epsilon (always 1e-12).
    public var layerNormEps: Double { DistilBertConfig.layerNormEps }
    /// Size of one attention head.
    public var headDim: Int { dim / nHeads }
    /// Label names ordered by class index.
    public var labels: [String] { orderedLabels(id2label) }
    /// Number of classes.
    public var numLabels: Int { id2label.count }

    /// Checks sizes and values; `path` is used in messages.
    /// - Throws: `FormatError.invalidConfig` naming the key and the problem.
    public func validate(path: String = "config") throws {
        var check = ConfigChecker(path: path)
        try check.range("vocab_size", vocabSize, 1...ConfigLimits.maxVocabSize)
        try check.range("dim", dim, 1...ConfigLimits.maxHiddenSize)
        try check.range("n_layers", nLayers, 1...ConfigLimits.maxLayers)
        try check.range("n_heads", nHeads, 1...ConfigLimits.maxHiddenSize)
        try check.divisible("dim", dim, by: "n_heads", nHeads)
        try check.range("hidden_dim", hiddenDim, 1...ConfigLimits.maxIntermediateSize)
        try check.range("max_position_embeddings", maxPositionEmbeddings, 1...ConfigLimits.maxPositions)
        try check.tokenID("pad_token_id", padTokenID, vocabSize: vocabSize)
        try check.labels(id2label)
    }
}

// MARK: - GPT-2

/// A `GPT2Config` (`model_type: "gpt2"`). Absent keys take the `transformers` defaults.
public struct GPT2Config: Sendable, Codable, Equatable {
    /// Number of token ids (`vocab_size`).
    public var vocabSize: Int
    /// Width of the hidden states (`n_embd`).
    public var nEmbd: Int
    /// Number of transformer blocks (`n_layer`).
    public var nLayer: Int
    /// Attention heads per block (`n_head`).
    public var nHead: Int
    /// Feed-forward size as written (`n_inner`); nil means 4 × `nEmbd` (see `innerDim`).
    public var nInner: Int?
    /// Number of learned positions, the longest context (`n_positions`).
    public var nPositions: Int
    /// Feed-forward activation (`activation_function`).
    public var activationFunction: Activation
    /// LayerNorm epsilon (`layer_norm_epsilon`).
    public var layerNormEpsilon: Double
    /// Beginning-of-text token (`bos_token_id`), nil when null.
    public var bosTokenID: Int?
    /// End-of-text token (`eos_token_id`), nil when null.
    public var eosTokenID: Int?
    /// The LM head shares the token embedding matrix (`wte`).
    public var tieWordEmbeddings: Bool
    /// Attention scores are divided by √headDim (`scale_attn_weights`, true in every released GPT-2).
    public var scaleAttnWeights: Bool
    /// Attention scores are further divided by (layer index + 1).
    public var scaleAttnByInverseLayerIdx: Bool
    /// Class index → label name (`id2label`).
    public var id2label: [Int: String]
    /// `architectures`, e.g. `["GPT2LMHeadModel"]`.
    public var architectures: [String]

    /// Makes a config; every argument defaults to `gpt2`'s value.
    public init(vocabSize: Int = 50257, nEmbd: Int = 768, nLayer: Int = 12, nHead: Int = 12, nInner: Int? = nil,
                nPositions: Int = 1024, activationFunction: Activation = .geluTanh, layerNormEpsilon: Double = 1e-5,
                bosTokenID: Int? = 50256, eosTokenID: Int? = 50256, tieWordEmbeddings: Bool = true,
                scaleAttnWeights: Bool = true, scaleAttnByInverseLayerIdx: Bool = false,
                id2label: [Int: String] = defaultID2Label(count: 2), architectures: [String] = []) {
        self.vocabSize = vocabSize
        self.nEmbd = nEmbd
        self.nLayer = nLayer
        self.nHead = nHead
        self.nInner = nInner
        self.nPositions = nPositions
        self.activationFunction = activationFunction
        self.layerNormEpsilon = layerNormEpsilon
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.tieWordEmbeddings = tieWordEmbeddings
        self.scaleAttnWeights = scaleAttnWeights
        self.scaleAttnByInverseLayerIdx = scaleAttnByInverseLayerIdx
        self.id2label = id2label
        self.architectures = architectures
    }

    /// Feed-forward size: `nInner`, or 4 × `nEmbd` when absent.
    public var innerDim: Int { nInner ?? 4 * nEmbd }
    /// Size of one attention head.
    public var headDim: Int { nEmbd / nHead }
    /// Label names ordered by class index.
    public var labels: [String] { orderedLabels(id2label) }
    /// Number of classes.
    public var numLabels: Int { id2label.count }

    /// Checks sizes and values; `path` is used in messages.
    /// - Throws: `FormatError.invalidConfig` naming the key and the problem.
    public func validate(path: String = "config") throws {
        var check = ConfigChecker(path: path)
        try check.range("vocab_size", vocabSize, 1...ConfigLimits.maxVocabSize)
        try check.range("n_embd", nEmbd, 1...ConfigLimits.maxHiddenSize)
        try check.range("n_layer", nLayer, 1...ConfigLimits.maxLayers)
        try check.range("n_head", nHead, 1...ConfigLimits.maxHiddenSize)
        try check.divisible("n_embd", nEmbd, by: "n_head", nHead)
        if let nInner { try check.range("n_inner", nInner, 1...ConfigLimits.maxIntermediateSize) }
        try check.range("n_positions", nPositions, 1...ConfigLimits.maxPositions)
        try check.epsilon("layer_norm_epsilon", layerNormEpsilon)
        try check.tokenID("bos_token_id", bosTokenID, vocabSize: vocabSize)
        try check.tokenID("eos_token_id", eosTokenID, vocabSize: vocabSize)
        try check.labels(id2label)
    }
}

// MARK: - ModelConfig

/// A parsed Hugging Face `config.json`, by model family.
public enum ModelConfig: Sendable, Codable, Equatable {
    /// `model_type: "bert"` (BertModel, BertForSequenceClassification, BertForMaskedLM, ...).
    case bert(BertConfig)
    /// `model_type: "distilbert"` (DistilBertModel, DistilBertForSequenceClassification, ...).
    case distilbert(DistilBertConfig)
    /// `model_type: "gpt2"` (GPT2Model, GPT2LMHeadModel, ...).
    case gpt2(GPT2Config)

    /// The `model_type` values SMM understands.
    public static let supportedModelTypes = ["bert", "distilbert", "gpt2"]

    /// The `model_type` of this config.
    public var modelType: String {
        switch self {
        case .bert: return "bert"
        case .distilbert: return "distilbert"
        case .gpt2: return "gpt2"
        }
    }

    /// `architectures` of the config.
    public var architectures: [String] {
        switch self {
        case let .bert(config): return config.architectures
        case let .distilbert(config): return config.architectures
        case let .gpt2(config): return config.architectures
        }
    }

    /// Label names ordered by class index (`LABEL_0`, `LABEL_1` when the config has none).
    public var labels: [String] {
        switch self {
        case let .bert(config): return config.labels
        case let .distilbert(config): return config.labels
        case let .gpt2(config): return config.labels
        }
    }

    /// Vocabulary size.
    public var vocabSize: Int {
        switch self {
        case let .bert(config): return config.vocabSize
        case let .distilbert(config): return config.vocabSize
        case let .gpt2(config): return config.vocabSize
        }
    }

    /// Hidden (embedding) size.
    public var hiddenSize: Int {
        switch self {
        case let .bert(config): return config.hiddenSize
        case let .distilbert(config): return config.dim
        case let .gpt2(config): return config.nEmbd
        }
    }

    /// Number of transformer layers.
    public var layerCount: Int {
        switch self {
        case let .bert(config): return config.numHiddenLayers
        case let .distilbert(config): return config.nLayers
        case let .gpt2(config): return config.nLayer
        }
    }

    /// Longest input, in tokens.
    public var maxPositions: Int {
        switch self {
        case let .bert(config): return config.maxPositionEmbeddings
        case let .distilbert(config): return config.maxPositionEmbeddings
        case let .gpt2(config): return config.nPositions
        }
    }

    /// Reads `config.json` in `directory`.
    /// - Throws: `FormatError` (missing file, bad JSON, unsupported model type, bad values).
    public static func load(directory: URL) throws -> ModelConfig {
        try load(contentsOf: directory.appendingPathComponent("config.json"))
    }

    /// Reads and validates a `config.json` file.
    /// - Throws: `FormatError` (missing file, bad JSON, unsupported model type, bad values).
    public static func load(contentsOf url: URL) throws -> ModelConfig {
        let root = try readJSONFile(url)
        return try parse(root, path: url.path)
    }

    /// Parses and validates `config.json` text; `source` names it in messages.
    /// - Throws: `FormatError` (bad JSON, unsupported model type, bad values).
    public static func parse(_ data: Data, source: String = "config.json") throws -> ModelConfig {
        let root: JSONValue
        do {
            root = try JSONParser.parse([UInt8](data))
        } catch {
            throw FormatError.invalidJSON(path: source, reason: error.description)
        }
        return try parse(root, path: source)
    }

    /// Parses and validates `config.json` text; `source` names it in messages.
    public static func parse(_ text: String, source: String = "config.json") throws -> ModelConfig {
        try parse(Data(text.utf8), source: source)
    }

    static func parse(_ root: JSONValue, path: String) throws -> ModelConfig {
        guard case let .object(object) = root else {
            throw FormatError.invalidJSON(path: path, reason: "expected a JSON object at the top level, found \(root.kindDescription)")
        }
        let reader = ConfigReader(object: object, path: path)
        let architectures = try reader.strings("architectures") ?? []
        let declared = try reader.optionalString("model_type")
        guard let modelType = declared ?? inferModelType(architectures: architectures),
              supportedModelTypes.contains(modelType) else {
            throw FormatError.unsupportedModelType(path: path, modelType: declared, architectures: architectures,
                                                   supported: supportedModelTypes)
        }
        let id2label = try reader.id2label()
        switch modelType {
        case "bert":
            let config = BertConfig(
                vocabSize: try reader.int("vocab_size", default: 30522),
                hiddenSize: try reader.int("hidden_size", default: 768),
                numHiddenLayers: try reader.int("num_hidden_layers", default: 12),
                numAttentionHeads: try reader.int("num_attention_heads", default: 12),
                intermediateSize: try reader.int("intermediate_size", default: 3072),
                hiddenAct: try reader.activation("hidden_act", default: .gelu),
                maxPositionEmbeddings: try reader.int("max_position_embeddings", default: 512),
                typeVocabSize: try reader.int("type_vocab_size", default: 2),
                layerNormEps: try reader.double("layer_norm_eps", default: 1e-12),
                padTokenID: try reader.optionalInt("pad_token_id", default: 0),
                positionEmbeddingType: try reader.string("position_embedding_type", default: "absolute"),
                id2label: id2label, architectures: architectures)
            try config.validate(path: path)
            return .bert(config)
        case "distilbert":
            let dim = try reader.int("dim", default: 768)
            let config = DistilBertConfig(
                vocabSize: try reader.int("vocab_size", default: 30522),
                dim: dim,
                nLayers: try reader.int("n_layers", default: 6),
                nHeads: try reader.int("n_heads", default: 12),
                hiddenDim: try reader.int("hidden_dim", default: 4 * 768),
                activation: try reader.activation("activation", default: .gelu),
                maxPositionEmbeddings: try reader.int("max_position_embeddings", default: 512),
                sinusoidalPosEmbds: try reader.bool("sinusoidal_pos_embds", default: false),
                padTokenID: try reader.optionalInt("pad_token_id", default: 0),
                id2label: id2label, architectures: architectures)
            try config.validate(path: path)
            return .distilbert(config)
        default:
            let config = GPT2Config(
                vocabSize: try reader.int("vocab_size", default: 50257),
                nEmbd: try reader.int("n_embd", default: 768),
                nLayer: try reader.int("n_layer", default: 12),
                nHead: try reader.int("n_head", default: 12),
                nInner: try reader.optionalInt("n_inner", default: nil),
                nPositions: try reader.int("n_positions", default: 1024),
                activationFunction: try reader.activation("activation_function", default: .geluTanh),
                layerNormEpsilon: try reader.double("layer_norm_epsilon", default: 1e-5),
                bosTokenID: try reader.optionalInt("bos_token_id", default: 50256),
                eosTokenID: try reader.optionalInt("eos_token_id", default: 50256),
                tieWordEmbeddings: try reader.bool("tie_word_embeddings", default: true),
                scaleAttnWeights: try reader.bool("scale_attn_weights", default: true),
                scaleAttnByInverseLayerIdx: try reader.bool("scale_attn_by_inverse_layer_idx", default: false),
                id2label: id2label, architectures: architectures)
            try config.validate(path: path)
            return .gpt2(config)
        }
    }

    /// The model type implied by Hugging Face architecture class names (`BertForMaskedLM` → `bert`,
    /// `DistilBertModel` → `distilbert`, `GPT2LMHeadModel` → `gpt2`), or nil.
    public static func inferModelType(architectures: [String]) -> String? {
        for architecture in architectures {
            if architecture.hasPrefix("DistilBert") { return "distilbert" }
            if architecture.hasPrefix("Bert") { return "bert" }
            if architecture.hasPrefix("GPT2") { return "gpt2" }
        }
        return nil
    }
}

/// `id2label` for `count` classes named `LABEL_0`, `LABEL_1`, ... (the `transformers` default).
public func defaultID2Label(count: Int) -> [Int: String] {
    var table: [Int: String] = [:]
    for i in 0..<max(0, count) { table[i] = "LABEL_\(i)" }
    return table
}

private func orderedLabels(_ id2label: [Int: String]) -> [String] {
    (0..<id2label.count).map { id2label[$0] ?? "LABEL_\($0)" }
}

// MARK: - Reading and checking values

/// Typed, strict access to the keys of a config object. Absent keys and (where allowed) nulls take
/// defaults; present keys of the wrong type are errors naming the key.
private struct ConfigReader {
    let object: JSONObject
    let path: String

    func fail(_ key: String, _ reason: String) -> FormatError {
        FormatError.invalidConfig(path: path, key: key, reason: reason)
    }

    func int(_ key: String, default defaultValue: Int) throws -> Int {
        guard let value = object[key] else { return defaultValue }
        return try intValue(key, value)
    }

    /// Absent → `defaultValue`; null → nil.
    func optionalInt(_ key: String, default defaultValue: Int?) throws -> Int? {
        guard let value = object[key] else { return defaultValue }
        if case .null = value { return nil }
        return try intValue(key, value)
    }

    private func intValue(_ key: String, _ value: JSONValue) throws -> Int {
        guard case let .number(text) = value else {
            throw fail(key, "expected an integer, found \(value.described)")
        }
        if let exact = Int(text) { return exact }
        // Python writes some integers as floats (768.0); accept those that are whole and in range.
        if let double = Double(text), double.rounded() == double, abs(double) < 9.0e15 {
            return Int(double)
        }
        throw fail(key, "expected an integer, found \(text)")
    }

    func double(_ key: String, default defaultValue: Double) throws -> Double {
        guard let value = object[key] else { return defaultValue }
        guard case let .number(text) = value, let double = Double(text) else {
            throw fail(key, "expected a number, found \(value.described)")
        }
        return double
    }

    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let value = object[key] else { return defaultValue }
        guard case let .bool(bool) = value else {
            throw fail(key, "expected true or false, found \(value.described)")
        }
        return bool
    }

    func string(_ key: String, default defaultValue: String) throws -> String {
        try optionalString(key) ?? defaultValue
    }

    /// Absent or null → nil.
    func optionalString(_ key: String) throws -> String? {
        guard let value = object[key] else { return nil }
        if case .null = value { return nil }
        guard case let .string(string) = value else {
            throw fail(key, "expected a string, found \(value.described)")
        }
        return string
    }

    /// Absent or null → nil.
    func strings(_ key: String) throws -> [String]? {
        guard let value = object[key] else { return nil }
        if case .null = value { return nil }
        guard case let .array(array) = value else {
            throw fail(key, "expected an array of strings, found \(value.kindDescription)")
        }
        return try array.map { element in
            guard case let .string(string) = element else {
                throw fail(key, "expected an array of strings, found an element that is \(element.kindDescription)")
            }
            return string
        }
    }

    func activation(_ key: String, default defaultValue: Activation) throws -> Activation {
        guard let name = try optionalString(key) else { return defaultValue }
        guard let activation = Activation(huggingFaceName: name) else {
            throw fail(key, "unsupported activation '\(name)' (supported: \(Activation.huggingFaceNames.joined(separator: ", ")))")
        }
        return activation
    }

    /// `id2label` (keys are decimal strings), else `num_labels` × `LABEL_i`, else two labels.
    func id2label() throws -> [Int: String] {
        if let value = object["id2label"], value != .null {
            guard case let .object(table) = value else {
                throw fail("id2label", "expected an object mapping class indices to names, found \(value.kindDescription)")
            }
            var result: [Int: String] = [:]
            for key in table.keys {
                guard let index = Int(key), index >= 0, String(index) == key else {
                    throw fail("id2label", "key '\(key)' is not a non-negative integer")
                }
                guard let entry = table[key], case let .string(name) = entry else {
                    throw fail("id2label", "label for \(key) must be a string, found \(table[key]?.kindDescription ?? "nothing")")
                }
                guard result.updateValue(name, forKey: index) == nil else {
                    throw fail("id2label", "class \(index) is listed twice")
                }
            }
            return result
        }
        if object["num_labels"] != nil {
            let count = try int("num_labels", default: 2)
            guard count >= 0, count <= ConfigLimits.maxLabels else {
                throw fail("num_labels", "\(count) is out of range 0...\(ConfigLimits.maxLabels)")
            }
            return defaultID2Label(count: count)
        }
        return defaultID2Label(count: 2)
    }
}

/// Range checks with messages naming the key.
private struct ConfigChecker {
    let path: String

    func fail(_ key: String, _ reason: String) -> FormatError {
        FormatError.invalidConfig(path: path, key: key, reason: reason)
    }

    mutating func range(_ key: String, _ value: Int, _ allowed: ClosedRange<Int>) throws {
        if value < allowed.lowerBound {
            throw fail(key, "\(value) must be at least \(allowed.lowerBound)")
        }
        if value > allowed.upperBound {
            throw fail(key, "\(value) is implausibly large (the limit is \(allowed.upperBound)); the config is probably corrupt")
        }
    }

    mutating func divisible(_ key: String, _ value: Int, by otherKey: String, _ divisor: Int) throws {
        guard divisor > 0, value % divisor == 0 else {
            throw fail(key, "\(value) is not divisible by \(otherKey) (\(divisor))")
        }
    }

    mutating func epsilon(_ key: String, _ value: Double) throws {
        guard value.isFinite, value > 0, value < 1 else {
            throw fail(key, "\(value) must be a positive number below 1")
        }
    }

    mutating func tokenID(_ key: String, _ value: Int?, vocabSize: Int) throws {
        guard let value else { return }
        guard value >= 0, value < vocabSize else {
            throw fail(key, "\(value) is outside the vocabulary (0..<\(vocabSize))")
        }
    }

    mutating func labels(_ id2label: [Int: String]) throws {
        guard id2label.count <= ConfigLimits.maxLabels else {
            throw fail("id2label", "\(id2label.count) labels is implausibly many")
        }
        for index in id2label.keys where index >= id2label.count {
            throw fail("id2label", "class indices must be 0..<\(id2label.count) without gaps, found \(index)")
        }
    }
}
