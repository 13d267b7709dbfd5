// The linear layers of a loaded model, rewritten as a whole: packed once for the f32 AVX-512
// kernel (`packedF32`), or quantized (ModelQuantization.swift). Both go through `mapLinears`, so
// every model type lists its linear layers in one place.
import SMMKernels

/// Which part of a model a linear layer belongs to.
enum LinearRole: Sendable {
    /// A transformer block's matrices (attention and feed-forward).
    case block
    /// An encoder head: BERT's pooler, DistilBERT's pre-classifier, a classifier.
    case head
    /// GPT-2's LM head (usually tied to the token embeddings).
    case lmHead
}

extension EncoderModel {
    /// The same model with every linear layer replaced by `transform(layer, role)`; everything
    /// else (embeddings, norms, labels) is shared.
    func mapLinears(_ transform: (LinearWeight, LinearRole) -> LinearWeight) -> EncoderModel {
        let layers = encoder.layers.map { l in
            EncoderLayerWeights(query: transform(l.query, .block), key: transform(l.key, .block),
                                value: transform(l.value, .block),
                                attentionOutput: transform(l.attentionOutput, .block),
                                attentionNorm: l.attentionNorm,
                                intermediate: transform(l.intermediate, .block),
                                output: transform(l.output, .block), outputNorm: l.outputNorm)
        }
        let e = encoder
        let newEncoder = TransformerEncoder(shape: e.shape, wordEmbeddings: e.wordEmbeddings,
                                            positionEmbeddings: e.positionEmbeddings,
                                            tokenTypeEmbeddings: e.tokenTypeEmbeddings, embeddingNorm: e.embeddingNorm,
                                            layers: layers, pooler: e.pooler.map { transform($0, .head) })
        let head = classifier.map { c in
            ClassifierHead(preClassifier: c.preClassifier.map { transform($0, .head) },
                           classifier: transform(c.classifier, .head), usesPooler: c.usesPooler)
        }
        return EncoderModel(architecture: architecture, encoder: newEncoder, classifier: head, labels: labels, pool: pool)
    }

    /// The same model with its f32 linear layers packed for the AVX-512 kernel (int8 layers, and
    /// every layer on CPUs without AVX-512, are kept as they are). `ModelLoader` returns packed
    /// models; this is for models built by hand.
    public func packedF32() -> EncoderModel {
        let pool = self.pool
        return mapLinears { w, _ in w.packedF32(pool: pool) }
    }
}

extension GPT2Model {
    /// The same model with every linear layer replaced by `transform(layer, role)`; embeddings and
    /// norms are shared.
    func mapLinears(_ transform: (LinearWeight, LinearRole) -> LinearWeight) -> GPT2Model {
        let newBlocks = blocks.map { b in
            GPT2Block(ln1: b.ln1,
                      attn: GPT2Attention(cAttn: transform(b.attn.cAttn, .block), cProj: transform(b.attn.cProj, .block)),
                      ln2: b.ln2,
                      mlp: GPT2MLP(cFc: transform(b.mlp.cFc, .block), cProj: transform(b.mlp.cProj, .block)))
        }
        return GPT2Model(shape: shape, wte: wte, wpe: wpe, blocks: newBlocks, lnF: lnF,
                         lmHead: transform(lmHead, .lmHead), pool: pool)
    }

    /// The same model with the f32 linear layers of its blocks packed for the AVX-512 kernel (see
    /// `EncoderModel.packedF32()`). The LM head stays as it is: it only ever multiplies one row
    /// (the last position), where the plain matrix-vector product is as fast as the packed kernel,
    /// and packing a tied head would copy the whole token-embedding table (154 MB for GPT-2).
    public func packedF32() -> GPT2Model {
        let pool = self.pool
        return mapLinears { w, role in role == .lmHead ? w : w.packedF32(pool: pool) }
    }
}

extension LoadedModel {
    /// The same model with its f32 linear layers packed for the AVX-512 kernel.
    public func packedF32() -> LoadedModel {
        switch self {
        case .encoder(let e):
            return .encoder(TextEncoder(model: e.model.packedF32(), tokenizer: e.tokenizer,
                                        defaultPooling: e.defaultPooling, maxBatch: e.maxBatch))
        case .decoder(let g):
            return .decoder(TextGenerator(model: g.model.packedF32(), tokenizer: g.tokenizer))
        }
    }
}
