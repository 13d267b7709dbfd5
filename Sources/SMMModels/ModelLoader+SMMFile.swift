// A ready model from an opened `.smm` file: the network from its config and tensors, the tokenizer
// from its metadata.
import SMMFormat
import SMMKernels
import SMMTokenizers

extension ModelLoader {
    /// Builds the model stored in an opened `.smm` file: the network from its config and tensors, the
    /// tokenizer from its metadata. `dtype` (f16, bf16, int8, q4) further quantizes an f32 file at load.
    /// An int8 or q4 file (or int8 or q4 asked at load) has its linear layers built as int8 or q4
    /// straight from the stored codes (or quantized one matrix at a time): such a file's weights are
    /// never widened to f32. Every f32 layer is packed for the f32 kernel as it is read (`WeightLoader`).
    /// - Throws: `ModelError` (missing or misshapen tensor, a tokenizer the engine cannot rebuild),
    ///   `TokenizerError`, `FormatError`.
    public static func load(file: SMMFile, dtype: ModelDType? = nil, pool: WorkerPool = .shared) throws -> LoadedModel {
        let metadata = file.metadata
        try CheckpointConsistency.checkLayers(file.tensors.map(\.name), config: metadata.config)
        try CheckpointConsistency.checkStorage(file.tensors, dtype: metadata.dtype)
        var source: any TensorSource = SMMFileTensorSource(file)
        // A file already stored in the dtype asked for is used as it is (not dequantized and quantized again).
        if let dtype, dtype != .f32, dtype != metadata.dtype {
            source = QuantizingTensorSource(base: source, dtype: dtype, modelType: metadata.architecture)
        }
        let runs = dtype ?? metadata.dtype
        let quantization: ModelDType? = runs == .int8 || runs == .q4 ? runs : nil
        switch metadata.config {
        case .bert, .distilbert:
            let model = try encoder(config: metadata.config, source: source, quantization: quantization, pool: pool)
            let tokenizer = try SMMTokenizerCodec.bert(metadata.tokenizer, maxLength: min(metadata.maxLength, model.maxPositions))
            let pooling = metadata.defaultPooling.flatMap(Pooling.init(rawValue:)) ?? .mean
            try CheckpointConsistency.checkTokenizer(tokenizer, modelVocabulary: model.vocabularySize)
            return .encoder(TextEncoder(model: model, tokenizer: tokenizer, defaultPooling: pooling))
        case .gpt2(let c):
            let model = try GPT2Model.load(shape: try gpt2Shape(c), source: source, quantization: quantization, pool: pool)
            let tokenizer = try SMMTokenizerCodec.gpt2(metadata.tokenizer)
            try CheckpointConsistency.checkTokenizer(tokenizer, modelVocabulary: model.vocabularySize)
            return .decoder(TextGenerator(model: model, tokenizer: tokenizer))
        }
    }
}
