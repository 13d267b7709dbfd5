// Quantized inference for a loaded model: the same network with its linear layers stored as int8
// and computed by the int8 kernels (`QuantizedLinear`), decided at load or at any time after.
//
// What changes: the matrices of the encoder blocks (q, k, v, attention output, both FFN layers) and
// of the GPT-2 blocks (c_attn, c_proj, c_fc, mlp.c_proj), and by default GPT-2's LM head (the
// biggest decode matmul). What stays f32: embeddings, LayerNorms, biases, attention itself, and the
// encoders' small heads (pooler, pre-classifier, classifier) unless asked for. The f32 model is not
// changed; the quantized one shares its f32 tensors (embeddings, norms, biases).
import SMMFormat
import SMMKernels

extension LinearWeight {
    /// This layer computed in `mode`: int8 per output channel (symmetric, scale = max |w_row| / 127;
    /// activations quantized per row at run time, asymmetric uint8; int32 accumulation with
    /// AVX-512 VNNI where available). f32, f16 and bf16 layers compute in f32 (their weights are
    /// widened at load), so the layer is returned as it is.
    func quantized(_ mode: ModelDType, pool: WorkerPool) -> LinearWeight {
        switch mode {
        case .int8: return quantizedInt8(pool: pool)
        case .q4: return quantizedQ4(pool: pool)
        case .f32, .f16, .bf16: return self
        }
    }
}

extension EncoderModel {
    /// The same model with the linear layers of every encoder block in `mode` (int8).
    /// - Parameters:
    ///   - mode: the storage of the quantized layers (int8).
    ///   - heads: also quantize the pooler and classification head (BERT pooler,
    ///     DistilBERT pre-classifier and classifier). They are small (one row per sequence), so the
    ///     default keeps them f32.
    /// - Returns: a new model; this one is unchanged and shares its f32 tensors with it.
    public func quantized(_ mode: ModelDType = .int8, heads: Bool = false) -> EncoderModel {
        let pool = self.pool
        return mapLinears { w, role in role == .block || heads ? w.quantized(mode, pool: pool) : w }
    }

    /// `.int8` or `.q4` when the encoder blocks' linear layers are int8 or q4, nil when they are f32.
    public var weightQuantization: ModelDType? {
        guard let query = encoder.layers.first?.query else { return nil }
        return query.q4 != nil ? .q4 : query.quantized != nil ? .int8 : nil
    }

    /// The dtype the encoder blocks' linear layers run in: q4, int8, bf16 (on the bf16 kernels),
    /// else f32 (which f16 files, and bf16 files where no bf16 kernel runs, are widened to).
    public var computeDType: ModelDType {
        if let quantization = weightQuantization { return quantization }
        return encoder.layers.first?.query.bf16 != nil ? .bf16 : .f32
    }
}

extension GPT2Model {
    /// The same model with the linear layers of every block in `mode` (int8).
    /// - Parameters:
    ///   - mode: the storage of the quantized layers (int8).
    ///   - lmHead: also quantize the LM head (per vocabulary row; the embedding lookup keeps
    ///     the f32 `wte`, so a tied head costs an extra V x C bytes). It is the biggest matmul of a
    ///     decode step, so it matters most for tokens/s.
    /// - Returns: a new model; this one is unchanged and shares its f32 tensors with it.
    public func quantized(_ mode: ModelDType = .int8, lmHead: Bool = true) -> GPT2Model {
        let pool = self.pool
        return mapLinears { w, role in role == .block || lmHead ? w.quantized(mode, pool: pool) : w }
    }

    /// `.int8` or `.q4` when the blocks' linear layers are int8 or q4, nil when they are f32.
    public var weightQuantization: ModelDType? {
        guard let cAttn = blocks.first?.attn.cAttn else { return nil }
        return cAttn.q4 != nil ? .q4 : cAttn.quantized != nil ? .int8 : nil
    }

    /// Whether the LM head runs in int8 or q4.
    public var lmHeadIsQuantized: Bool { lmHead.quantized != nil || lmHead.q4 != nil }
}

extension TextEncoder {
    /// The same tokenizer and settings over `model.quantized(mode, heads:)`.
    public func quantized(_ mode: ModelDType = .int8, heads: Bool = false) -> TextEncoder {
        TextEncoder(model: model.quantized(mode, heads: heads), tokenizer: tokenizer, defaultPooling: defaultPooling,
                    maxBatch: maxBatch)
    }
}

extension TextGenerator {
    /// The same tokenizer over `model.quantized(mode, lmHead:)`.
    public func quantized(_ mode: ModelDType = .int8, lmHead: Bool = true) -> TextGenerator {
        TextGenerator(model: model.quantized(mode, lmHead: lmHead), tokenizer: tokenizer)
    }
}

extension LoadedModel {
    /// The same model with int8 linear layers (encoder heads f32, GPT-2 LM head int8): what
    /// `--dtype int8` runs. Call it on the model `ModelLoader.load` returns.
    public func quantized(_ mode: ModelDType = .int8) -> LoadedModel {
        switch self {
        case .encoder(let e): return .encoder(e.quantized(mode))
        case .decoder(let g): return .decoder(g.quantized(mode))
        }
    }
}
