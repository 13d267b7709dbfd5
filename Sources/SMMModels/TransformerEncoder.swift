// The post-LayerNorm transformer encoder shared by BERT and DistilBERT (they differ only in key
// names and in BERT's token-type embeddings and pooler):
//
//   h = LN(word[id] + pos[t] + type[s])
//   per layer:  a = LN(h + Wo · attention(Wq h, Wk h, Wv h))
//               h = LN(a + W2 · act(W1 a))
//
// Every buffer is allocated once per forward call (sized for the batch), never per layer.
import SMMKernels

/// One encoder block's weights (BERT's `BertLayer`, DistilBERT's `TransformerBlock`).
struct EncoderLayerWeights: Sendable {
    let query: LinearWeight, key: LinearWeight, value: LinearWeight
    let attentionOutput: LinearWeight
    let attentionNorm: LayerNormWeights
    let intermediate: LinearWeight
    let output: LinearWeight
    let outputNorm: LayerNormWeights
}

/// The encoder's shape, common to BERT and DistilBERT.
struct EncoderShape: Sendable {
    let vocabSize: Int
    let hidden: Int
    let layers: Int
    let heads: Int
    let intermediate: Int
    let maxPositions: Int
    let typeVocabSize: Int   // 0: no token-type embeddings (DistilBERT)
    let activation: Activations.Kind
    let eps: Float
    var headDim: Int { hidden / heads }
}

/// Embeddings, encoder blocks and an optional pooler.
struct TransformerEncoder: Sendable {
    let shape: EncoderShape
    let wordEmbeddings: EmbeddingTable         // (V, H)
    let positionEmbeddings: EmbeddingTable     // (P, H)
    let tokenTypeEmbeddings: EmbeddingTable?   // (TV, H)
    let embeddingNorm: LayerNormWeights
    let layers: [EncoderLayerWeights]
    let pooler: LinearWeight?                  // BERT only: tanh(dense(h[CLS]))

    /// Checks ids, type ids and length against the model before anything runs.
    func validate(_ batch: EncoderBatch) throws {
        // The fields are public and mutable: check that they still describe one (batch, seqLength) grid.
        let (cells, overflow) = batch.batch.multipliedReportingOverflow(by: batch.seqLength)
        guard batch.batch >= 1, batch.seqLength >= 1, !overflow else {
            throw ModelError.invalidInput("an encoder batch needs at least one sequence of at least one token "
                + "(got batch \(batch.batch), seqLength \(batch.seqLength))")
        }
        guard batch.ids.count == cells, batch.typeIDs.count == cells, batch.attentionMask.count == cells else {
            throw ModelError.invalidInput("a batch of \(batch.batch) x \(batch.seqLength) needs \(cells) ids, type ids "
                + "and mask entries; it has \(batch.ids.count), \(batch.typeIDs.count) and \(batch.attentionMask.count)")
        }
        guard batch.seqLength <= shape.maxPositions else {
            throw ModelError.invalidInput("sequence of \(batch.seqLength) tokens is longer than the model's "
                + "\(shape.maxPositions) positions; truncate it")
        }
        if let bad = batch.ids.first(where: { $0 < 0 || Int($0) >= shape.vocabSize }) {
            throw ModelError.invalidInput("token id \(bad) is outside the vocabulary (0..<\(shape.vocabSize))")
        }
        let types = max(shape.typeVocabSize, 1)
        if let bad = batch.typeIDs.first(where: { $0 < 0 || Int($0) >= types }) {
            throw ModelError.invalidInput("token type id \(bad) is outside 0..<\(types)")
        }
    }

    /// Runs the encoder and returns the last hidden states (and the pooler output when there is a pooler).
    func forward(_ batch: EncoderBatch, pool: WorkerPool) throws -> EncoderOutput {
        try validate(batch)
        let b = batch.batch, t = batch.seqLength, h = shape.hidden
        let rows = b * t
        let hidden = FloatBuffer(count: rows * h)     // h: (B*T, H)
        let q = FloatBuffer(count: rows * h), k = FloatBuffer(count: rows * h), v = FloatBuffer(count: rows * h)
        let context = FloatBuffer(count: rows * h)
        let ffn = FloatBuffer(count: rows * shape.intermediate)
        let scores = FloatBuffer(count: pool.threadCount * t * t)

        embed(batch, into: hidden.pointer, pool: pool)
        batch.attentionMask.withUnsafeBufferPointer { mask in
            for layer in layers {
                // Self-attention: q, k, v (B*T, H) -> context (B*T, H)
                Linear.forward(hidden.pointer, rows: rows, weight: layer.query, out: q.pointer, pool: pool)
                Linear.forward(hidden.pointer, rows: rows, weight: layer.key, out: k.pointer, pool: pool)
                Linear.forward(hidden.pointer, rows: rows, weight: layer.value, out: v.pointer, pool: pool)
                Attention.bidirectional(q: q.pointer, k: k.pointer, v: v.pointer, ld: h, out: context.pointer, ldo: h,
                                        batch: b, seqLen: t, heads: shape.heads, headDim: shape.headDim,
                                        keyValid: mask.baseAddress, scratch: scores.pointer, pool: pool)
                // a = LN(h + Wo context): the projection goes to q (free now), the sum and norm back into hidden.
                Linear.forward(context.pointer, rows: rows, weight: layer.attentionOutput, out: q.pointer, pool: pool)
                layer.attentionNorm(out: hidden.pointer, x: q.pointer, residual: hidden.pointer, rows: rows, pool: pool)
                // Feed-forward: (B*T, H) -> (B*T, I) -> (B*T, H)
                Linear.forward(hidden.pointer, rows: rows, weight: layer.intermediate, out: ffn.pointer,
                               activation: shape.activation, pool: pool)
                Linear.forward(ffn.pointer, rows: rows, weight: layer.output, out: q.pointer, pool: pool)
                layer.outputNorm(out: hidden.pointer, x: q.pointer, residual: hidden.pointer, rows: rows, pool: pool)
            }
        }
        var pooled: [Float]?
        if let pooler {
            // pooled = tanh(dense(h[:, 0]))  (B, H)
            let cls = FloatBuffer(count: b * h)
            for i in 0..<b { cls.pointer.advanced(by: i * h).update(from: hidden.pointer + i * t * h, count: h) }
            let out = FloatBuffer(count: b * h)
            Linear.forward(cls.pointer, rows: b, weight: pooler, out: out.pointer, pool: pool)
            pooled = out.array.map { Float(_tanh(Double($0))) }
        }
        return EncoderOutput(lastHiddenState: hidden.array, pooled: pooled, batch: b, seqLength: t, hiddenSize: h)
    }

    /// h[r] = LN(word[id] + pos[t] + type[s])
    // out: (B*T, H)
    private func embed(_ batch: EncoderBatch, into out: UnsafeMutablePointer<Float>, pool: WorkerPool) {
        let h = shape.hidden, t = batch.seqLength
        batch.ids.withUnsafeBufferPointer { ids in
            batch.typeIDs.withUnsafeBufferPointer { types in
                pool.parallelFor(batch.batch * t, minimumPerWorker: 16) { range, _ in
                    for r in range {
                        // Rows are read in their stored type (f32, f16, bf16, int8) and converted here.
                        let row = out + r * h
                        wordEmbeddings.copy(row: Int(ids[r]), into: row)
                        positionEmbeddings.add(row: r % t, into: row)
                        tokenTypeEmbeddings?.add(row: Int(types[r]), into: row)
                    }
                }
            }
        }
        withExtendedLifetime((wordEmbeddings.owner, positionEmbeddings.owner, tokenTypeEmbeddings?.owner)) {}
        embeddingNorm(out: out, x: out, rows: batch.batch * t, pool: pool)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _tanh(_ x: Double) -> Double { Glibc.tanh(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _tanh(_ x: Double) -> Double { Darwin.tanh(x) }
#endif
