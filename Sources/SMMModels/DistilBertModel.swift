// DistilBERT (`DistilBertModel`, `DistilBertForSequenceClassification`): the tensor-name mapping
// from a Hugging Face checkpoint to the shared encoder. Names mirror the checkpoint's keys:
//   [distilbert.]embeddings.{word,position}_embeddings.weight, embeddings.LayerNorm
//   [distilbert.]transformer.layer.N.attention.{q_lin,k_lin,v_lin,out_lin}, sa_layer_norm
//   [distilbert.]transformer.layer.N.ffn.{lin1,lin2}, output_layer_norm
//   pre_classifier (then ReLU), classifier
import SMMKernels

enum DistilBertLoader {
    static func load(shape s: EncoderShape, numLabels: Int, labels: [String], source: any TensorSource,
                     pool: WorkerPool) throws -> EncoderModel {
        let w = try WeightLoader(source: source, prefixes: ["distilbert.", ""],
                                 probe: "embeddings.word_embeddings.weight", modelName: "DistilBERT")
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
            wordEmbeddings: try w.tensor("embeddings.word_embeddings.weight", [s.vocabSize, h]),
            positionEmbeddings: try w.tensor("embeddings.position_embeddings.weight", [s.maxPositions, h]),
            tokenTypeEmbeddings: nil,
            embeddingNorm: try w.layerNorm("embeddings.LayerNorm", size: h, eps: s.eps),
            layers: layers, pooler: nil)
        let top = WeightLoader(source: source, prefix: "", modelName: "DistilBERT")
        var head: ClassifierHead?
        if top.has("classifier.weight") {
            head = ClassifierHead(preClassifier: try top.linear("pre_classifier", out: h, in: h),
                                  classifier: try top.linear("classifier", out: numLabels, in: h),
                                  usesPooler: false)
        }
        return EncoderModel(architecture: .distilbert, encoder: encoder, classifier: head,
                            labels: head == nil ? [] : labels, pool: pool)
    }
}
