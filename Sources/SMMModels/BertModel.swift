// BERT (`BertModel`, `BertForSequenceClassification`): the tensor-name mapping from a Hugging Face
// checkpoint to the shared encoder. Names mirror the checkpoint's keys one to one:
//   [bert.]embeddings.{word,position,token_type}_embeddings.weight, embeddings.LayerNorm
//   [bert.]encoder.layer.N.attention.self.{query,key,value}, attention.output.{dense,LayerNorm}
//   [bert.]encoder.layer.N.intermediate.dense, output.{dense,LayerNorm}
//   [bert.]pooler.dense, classifier
import SMMFormat
import SMMKernels

enum BertLoader {
    /// The model in `source`; with `quantization` `.int8` the encoder blocks' linear layers are built
    /// as int8 (the pooler and classifier stay f32).
    static func load(shape s: EncoderShape, numLabels: Int, labels: [String], source: any TensorSource,
                     quantization: ModelDType? = nil, pool: WorkerPool) throws -> EncoderModel {
        let w = try WeightLoader(source: source, prefixes: ["bert.", "", "model."],
                                 probe: "embeddings.word_embeddings.weight", modelName: "BERT",
                                 quantization: quantization, pool: pool)
        let h = s.hidden
        let layers = try (0..<s.layers).map { i -> EncoderLayerWeights in
            let p = "encoder.layer.\(i)."
            return EncoderLayerWeights(
                query: try w.linear(p + "attention.self.query", out: h, in: h),
                key: try w.linear(p + "attention.self.key", out: h, in: h),
                value: try w.linear(p + "attention.self.value", out: h, in: h),
                attentionOutput: try w.linear(p + "attention.output.dense", out: h, in: h),
                attentionNorm: try w.layerNorm(p + "attention.output.LayerNorm", size: h, eps: s.eps),
                intermediate: try w.linear(p + "intermediate.dense", out: s.intermediate, in: h),
                output: try w.linear(p + "output.dense", out: h, in: s.intermediate),
                outputNorm: try w.layerNorm(p + "output.LayerNorm", size: h, eps: s.eps))
        }
        let pooler = w.has("pooler.dense.weight") ? try w.linear("pooler.dense", out: h, in: h, quantize: false) : nil
        let encoder = TransformerEncoder(
            shape: s,
            wordEmbeddings: try w.embedding("embeddings.word_embeddings.weight", rows: s.vocabSize, width: h),
            positionEmbeddings: try w.embedding("embeddings.position_embeddings.weight", rows: s.maxPositions,
                                                width: h),
            tokenTypeEmbeddings: try w.embedding("embeddings.token_type_embeddings.weight", rows: max(s.typeVocabSize, 1),
                                                 width: h),
            embeddingNorm: try w.layerNorm("embeddings.LayerNorm", size: h, eps: s.eps),
            layers: layers, pooler: pooler)
        // The head sits outside the `bert.` prefix.
        let top = WeightLoader(source: source, prefix: "", modelName: "BERT")
        var head: ClassifierHead?
        if top.has("classifier.weight") {
            guard pooler != nil else {
                throw ModelError.missingTensor(name: w.prefix + "pooler.dense.weight", model: "BertForSequenceClassification")
            }
            head = ClassifierHead(preClassifier: nil,
                                  classifier: try top.linear("classifier", out: numLabels, in: h, quantize: false),
                                  usesPooler: true)
        }
        return EncoderModel(architecture: .bert, encoder: encoder, classifier: head,
                            labels: head == nil ? [] : labels, pool: pool)
    }
}
