// Checks that a checkpoint and its config.json describe the same model beyond what loading the
// layers checks: weights for blocks the config does not have mean the two do not belong together.
import SMMFormat
import SMMTokenizers

/// Consistency checks between a config and the tensor names of a checkpoint or `.smm` file.
public enum CheckpointConsistency {
    /// The number of transformer blocks `config` declares.
    public static func layerCount(_ config: ModelConfig) -> Int {
        switch config {
        case .bert(let c): return c.numHiddenLayers
        case .distilbert(let c): return c.nLayers
        case .gpt2(let c): return c.nLayer
        }
    }

    /// The block index in a tensor name such as `encoder.layer.7.output.dense.weight`,
    /// `transformer.layer.3.ffn.lin1.weight` or `h.11.attn.c_attn.weight` (any prefix), else nil.
    static func blockIndex(_ name: String) -> Int? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() where (part == "layer" || part == "h") && i + 1 < parts.count {
            if let index = Int(parts[i + 1]), index >= 0 { return index }
        }
        return nil
    }

    /// Throws when `names` hold weights for a block at or beyond the config's layer count (a
    /// config cut to fewer layers than its checkpoint would otherwise run silently on the first
    /// ones). Tensors of other kinds that the model does not use (a masked-LM head, buffers) are
    /// allowed, as Hugging Face allows them.
    /// - Throws: `ModelError.unsupportedModel` naming the first such tensor.
    public static func checkLayers(_ names: some Sequence<String>, config: ModelConfig) throws {
        let layers = layerCount(config)
        for name in names {
            if let index = blockIndex(name), index >= layers {
                throw ModelError.unsupportedModel("the checkpoint has '\(name)', a weight of block \(index), but "
                    + "config.json declares \(layers) layer\(layers == 1 ? "" : "s"): the config and the weights do not match")
            }
        }
    }

    /// Throws when the tokenizer has ids the model has no embedding row for (a vocabulary file
    /// from another model): every text using them would fail later, blaming the text.
    /// - Throws: `ModelError.unsupportedModel` with both sizes.
    public static func checkTokenizer(_ tokenizer: any Tokenizer, modelVocabulary: Int) throws {
        guard tokenizer.vocabularySize <= modelVocabulary else {
            throw ModelError.unsupportedModel("the tokenizer has \(tokenizer.vocabularySize) tokens but the model's "
                + "vocabulary has \(modelVocabulary) rows (vocab_size): the tokenizer files belong to another model")
        }
    }

    /// Throws when an `.smm` file's metadata `dtype` disagrees with its tensors: a file holds no
    /// reduced tensor (f16, bf16, int8, q4 blocks) but of its own dtype (a q4 file also holds int8 ones),
    /// and an int8 or q4 file holds tensors of its dtype.
    /// The loader picks the int8 kernels from the metadata, so a file that says int8 over f32
    /// weights would otherwise run them wrongly.
    /// - Throws: `ModelError.unsupportedModel` naming a tensor that contradicts the metadata.
    public static func checkStorage(_ tensors: [SMMTensorEntry], dtype: ModelDType) throws {
        // The reduced storage of each entry: q4 codes count as "q4", their f16 scales as part of them.
        let q4Scales = Set(tensors.compactMap { entry -> Int? in
            if case let .q4Blocks(_, scale) = entry.quantization { return scale }
            return nil
        })
        func kind(_ index: Int) -> String? {
            let entry = tensors[index]
            if case .q4Blocks = entry.quantization { return "q4" }
            if q4Scales.contains(index) { return nil }
            return [.f16, .bf16, .i8].contains(entry.dtype) ? entry.dtype.rawValue : nil
        }
        let allowed: Set<String> = switch dtype {
        case .f32: []
        case .f16: ["f16"]
        case .bf16: ["bf16"]
        case .int8: ["i8"]
        case .q4: ["q4", "i8"]      // matrices whose inputs are not a multiple of 32, and wpe, are int8
        }
        if let other = tensors.indices.first(where: { kind($0).map { !allowed.contains($0) } ?? false }) {
            throw ModelError.unsupportedModel("the file says its weights are \(dtype.rawValue), but tensor '\(tensors[other].name)' "
                + "is \(kind(other) ?? tensors[other].dtype.rawValue)")
        }
        let own = dtype == .q4 ? "q4" : "i8"
        if dtype == .int8 || dtype == .q4, !tensors.indices.contains(where: { kind($0) == own }) {
            throw ModelError.unsupportedModel("the file says its weights are \(dtype.rawValue), but no tensor is stored "
                + "as \(own)")
        }
    }
}
