// From a Hugging Face model directory (config.json, safetensors, tokenizer files) to a ready model.
import Foundation
import SMMJSON
import SMMFormat
import SMMKernels
import SMMTokenizers

/// A loaded model, by what it does.
public enum LoadedModel: Sendable {
    /// BERT or DistilBERT with its WordPiece tokenizer: tokenize, embed, classify.
    case encoder(TextEncoder)
    /// GPT-2 with its byte-level BPE tokenizer: tokenize, generate.
    case decoder(TextGenerator)

    /// `bert`, `distilbert` or `gpt2`.
    public var modelType: String {
        switch self {
        case .encoder(let e): return e.model.architecture.rawValue
        case .decoder: return "gpt2"
        }
    }
}

/// Loads models from Hugging Face directories.
public enum ModelLoader {
    /// Loads the model in `directory`: reads `config.json`, maps the safetensors weights, and loads
    /// the tokenizer (`tokenizer.json`, else `vocab.txt` or `vocab.json` + `merges.txt`).
    /// `dtype` (f16, bf16, int8, q4) rounds or quantizes the weights at load exactly as `smm-convert`
    /// would store them; for `.int8` and `.q4` the linear layers are built as int8 or q4 straight away, one matrix at
    /// a time (the f32 pages of each matrix are given back once it is quantized), so the f32 model
    /// never exists as a whole. f32 layers are packed for the f32 kernel as each is read.
    public static func load(directory: URL, dtype: ModelDType? = nil, pool: WorkerPool = .shared) throws
        -> LoadedModel {
        let config = try ModelConfig.load(directory: directory)
        let checkpoint = try Checkpoint.open(directory: directory)
        try CheckpointConsistency.checkLayers(checkpoint.names, config: config)
        var source: any TensorSource = CheckpointTensorSource(checkpoint)
        if let dtype, dtype != .f32 {
            source = QuantizingTensorSource(base: source, dtype: dtype, modelType: config.modelType)
        }
        let quantization: ModelDType? = dtype == .int8 || dtype == .q4 ? dtype : nil
        switch config {
        case .bert, .distilbert:
            let model = try encoder(config: config, source: source, quantization: quantization, pool: pool)
            let sentenceConfig = SentenceTransformersConfig(directory: directory)
            let maxLength = min(sentenceConfig.maxSeqLength ?? model.maxPositions, model.maxPositions)
            let tokenizer = try BertTokenizer.load(directory: directory, doLowerCase: nil, maxLength: maxLength)
            try CheckpointConsistency.checkTokenizer(tokenizer, modelVocabulary: model.vocabularySize)
            return .encoder(TextEncoder(model: model, tokenizer: tokenizer,
                                        defaultPooling: sentenceConfig.pooling ?? .mean))
        case .gpt2(let c):
            let model = try GPT2Model(shape: try gpt2Shape(c), source: source, quantization: quantization, pool: pool)
            let tokenizer = try GPT2Tokenizer.load(directory: directory)
            try CheckpointConsistency.checkTokenizer(tokenizer, modelVocabulary: model.vocabularySize)
            return .decoder(TextGenerator(model: model, tokenizer: tokenizer))
        }
    }

    /// Loads a model from `path`: a Hugging Face model directory, or an `.smm` file (recognised by its
    /// magic bytes, whatever its name; see `load(file:dtype:pool:)`). `dtype` (f16, bf16, int8, q4)
    /// quantizes the weights at load.
    /// - Throws: `FormatError` (missing path, a file that is not a valid `.smm` file, with what it
    ///   looks like instead), `ModelError`, `TokenizerError`.
    public static func load(path: String, dtype: ModelDType? = nil, pool: WorkerPool = .shared) throws
        -> LoadedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError.cannotOpen(path: path, reason: "No such file or directory")
        }
        if isDirectory.boolValue { return try load(directory: URL(fileURLWithPath: path), dtype: dtype, pool: pool) }
        return try load(file: try SMMFile(path: path), dtype: dtype, pool: pool)
    }

    /// Builds a BERT or DistilBERT model from its config and tensors. With `quantization` `.int8`
    /// the encoder blocks' linear layers are built as int8 (from the source's int8 tensors when it
    /// stores them); the pooler and classification head stay f32.
    public static func encoder(config: ModelConfig, source: any TensorSource, quantization: ModelDType? = nil,
                               pool: WorkerPool = .shared) throws -> EncoderModel {
        switch config {
        case .bert(let c):
            let shape = EncoderShape(vocabSize: c.vocabSize, hidden: c.hiddenSize, layers: c.numHiddenLayers,
                                     heads: c.numAttentionHeads, intermediate: c.intermediateSize,
                                     maxPositions: c.maxPositionEmbeddings, typeVocabSize: c.typeVocabSize,
                                     activation: try kernelActivation(c.hiddenAct), eps: Float(c.layerNormEps))
            guard c.positionEmbeddingType == "absolute" else {
                throw ModelError.unsupportedModel("position_embedding_type '\(c.positionEmbeddingType)' "
                    + "(only 'absolute' is implemented)")
            }
            return try BertLoader.load(shape: shape, numLabels: max(c.numLabels, 1), labels: c.labels,
                                       source: source, quantization: quantization, pool: pool)
        case .distilbert(let c):
            let shape = EncoderShape(vocabSize: c.vocabSize, hidden: c.dim, layers: c.nLayers, heads: c.nHeads,
                                     intermediate: c.hiddenDim, maxPositions: c.maxPositionEmbeddings,
                                     typeVocabSize: 0, activation: try kernelActivation(c.activation),
                                     eps: Float(c.layerNormEps))
            return try DistilBertLoader.load(shape: shape, numLabels: max(c.numLabels, 1), labels: c.labels,
                                             source: source, quantization: quantization, pool: pool)
        case .gpt2:
            throw ModelError.unsupportedModel("a gpt2 model is a decoder, not an encoder")
        }
    }

    /// The GPT-2 shape a config describes.
    public static func gpt2Shape(_ c: GPT2Config) throws -> GPT2Shape {
        guard !c.scaleAttnByInverseLayerIdx else {
            throw ModelError.unsupportedModel("scale_attn_by_inverse_layer_idx is not implemented")
        }
        guard c.scaleAttnWeights else {
            throw ModelError.unsupportedModel("scale_attn_weights = false is not implemented")
        }
        return GPT2Shape(vocabSize: c.vocabSize, nPositions: c.nPositions, nEmbd: c.nEmbd, nLayer: c.nLayer,
                         nHead: c.nHead, nInner: c.innerDim, eps: Float(c.layerNormEpsilon),
                         activation: try kernelActivation(c.activationFunction))
    }

    static func kernelActivation(_ a: Activation) throws -> Activations.Kind {
        switch a {
        case .gelu: return .gelu
        case .geluTanh: return .geluNew
        case .relu: return .relu
        default: throw ModelError.unsupportedModel("activation '\(a.rawValue)' is not implemented (gelu, gelu_new, relu are)")
        }
    }
}

/// The parts of a sentence-transformers export that change how texts are encoded.
struct SentenceTransformersConfig {
    var maxSeqLength: Int?
    var pooling: Pooling?

    init(directory: URL) {
        if let object = Self.json(directory.appendingPathComponent("sentence_bert_config.json")) {
            maxSeqLength = object["max_seq_length"]?.exactInt
        }
        if let object = Self.json(directory.appendingPathComponent("1_Pooling/config.json")) {
            if object["pooling_mode_cls_token"] == .bool(true) { pooling = .cls }
            if object["pooling_mode_mean_tokens"] == .bool(true) { pooling = .mean }
        }
    }

    /// The JSON object in `url`, or nil when the file is absent or not a JSON object.
    static func json(_ url: URL) -> JSONObject? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return (try? JSONParser.parse([UInt8](data), maxDepth: 16, maxBytes: 1 << 20))?.objectValue
    }
}
