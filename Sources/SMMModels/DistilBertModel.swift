// DistilBERT (`DistilBertModel`, `DistilBertForSequenceClassification`): the tensor-name mapping
// from a Hugging Face checkpoint to the shared encoder. Names mirror the checkpoint's keys:
//   [distilbert.]embeddings.{word,position}_embeddings.weight, embeddings.LayerNorm
//   [distilbert.]transformer.layer.N.attention.{q_lin,k_lin,v_lin,out_lin}, sa_layer_norm
//   [distilbert.]transformer.layer.N.ffn.{lin1,lin2}, output_layer_norm
//   pre_classifier (then ReLU), classifier
import SMMFormat
import SMMKernels

enum DistilBertLoader {
    /// The model in `source`; with `quantization` `.int8` the encoder blocks' linear layers are built
    /// as int8 (the pooler and classifier stay f32).
    static func load(shape s: EncoderShape, numLabels: Int, labels: [String], source: any TensorSource,
                     quantization: ModelDType? = nil, pool: WorkerPool) throws -> EncoderModel {
        let w = try WeightLoader(source: source, prefixes: ["distilbert.", ""],
                                 probe: "embeddings.word_embeddings.weight", modelName: "DistilBERT",
                                 quantization: quantization, pool: pool)
        let h = s.hidden
        let layers = try (0..<s.layers).map { i -> EncoderLayerWeights in
            let p = "transformer.layer.\(i)."
            return EncoderLayerWeights(
                query: try w.linear(p + "attention.q_lin", out: h, in: h),
                key: try w.linear(p + "attention.k_lin", out: h, in: h),
                value: try w.linear(p + "attention.v_lin", out: h, in: h),
                attentionOutput: try w.linear(p + "attention.out_lin", out: h, in: h),
                attentionNorm: try w.layerNorm(p + "sa_layer_norm", size: h, eps: s.eps),
                intermediate: try w.linear(p + "ffn.lin1", out: s.intermediate, in: h),
                output: try w.linear(p + "ffn.lin2", out: h, in: s.intermediate),
                outputNorm: try w.layerNorm(p + "output_layer_norm", size: h, eps: s.eps))
        }
        let encoder = TransformerEncoder(
            shape: s,
            wordEmbeddings: try w.embedding("embeddings.word_embeddings.weight", rows: s.vocabSize, width: h),
            positionEmbeddings: try w.embedding("embeddings.position_embeddings.weight", rows: s.maxPositions,
                                                width: h),
            tokenTypeEmbeddings: nil,
            embeddingNorm: try w.layerNorm("embeddings.LayerNorm", size: h, eps: s.eps),
            layers: layers, pooler: nil)
        let top = WeightLoader(source: source, prefix: "", modelName: "DistilBERT")
        var head: ClassifierHead?
        if top.has("classifier.weight") {
            head = ClassifierHead(preClassifier: try top.linear("pre_classifier", out: h, in: h, quantize: false),
                                  classifier: try top.linear("classifier", out: numLabels, in: h, quantize: false),
                                  usesPooler: false)
        }
        return EncoderModel(architecture: .distilbert, encoder: encoder, classifier: head,
                            labels: head == nil ? [] : labels, pool: pool)
    }
}
