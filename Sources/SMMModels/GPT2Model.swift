// GPT-2 (`GPT2LMHeadModel`): the tensor-name mapping from a Hugging Face checkpoint and the
// pre-LayerNorm causal decoder with a key/value cache. Names mirror the checkpoint's keys:
//   [transformer.]wte.weight (V, C), wpe.weight (P, C)
//   [transformer.]h.N.ln_1, h.N.attn.c_attn (C, 3C), h.N.attn.c_proj (C, C)
//   [transformer.]h.N.ln_2, h.N.mlp.c_fc (C, I), h.N.mlp.c_proj (I, C)      (Conv1D: weight (in, out))
//   [transformer.]ln_f;  lm_head.weight (V, C), tied to wte when absent
//
//   x = wte[id] + wpe[pos]
//   per block:  x += c_proj(attention(c_attn(ln_1(x))))
//               x += mlp.c_proj(gelu_new(c_fc(ln_2(x))))
//   logits = ln_f(x) · wteᵀ
//
// All activation buffers and the KV cache belong to a `GenerationSession` and are allocated once,
// when the session is made; a decode step allocates nothing (except the returned Array when the
// Array-returning API is used instead of the `withLogits` one).
import SMMFormat
import SMMKernels

/// The sizes of a GPT-2 model (from its `config.json`).
public struct GPT2Shape: Sendable, Equatable {
    /// Vocabulary size V (`vocab_size`).
    public var vocabSize: Int
    /// Context length P (`n_positions`): the most tokens one sequence can hold.
    public var nPositions: Int
    /// Hidden size C (`n_embd`).
    public var nEmbd: Int
    /// Number of blocks (`n_layer`).
    public var nLayer: Int
    /// Attention heads (`n_head`); C must be a multiple of it.
    public var nHead: Int
    /// Feed-forward size I (`n_inner`, 4C when null).
    public var nInner: Int
    /// LayerNorm epsilon (`layer_norm_epsilon`).
    public var eps: Float
    /// The MLP activation (`activation_function`; `gelu_new` for every released GPT-2).
    public var activation: Activations.Kind

    /// Makes a shape; `nInner` defaults to 4 × `nEmbd`.
    public init(vocabSize: Int, nPositions: Int, nEmbd: Int, nLayer: Int, nHead: Int, nInner: Int? = nil,
                eps: Float = 1e-5, activation: Activations.Kind = .geluNew) {
        self.vocabSize = vocabSize
        self.nPositions = nPositions
        self.nEmbd = nEmbd
        self.nLayer = nLayer
        self.nHead = nHead
        self.nInner = nInner ?? 4 * nEmbd
        self.eps = eps
        self.activation = activation
    }

    /// Size of one attention head (C / nHead).
    public var headDim: Int { nEmbd / nHead }

    /// Throws `ModelError.unsupportedModel` for sizes the engine cannot run.
    func validate() throws {
        for (name, value) in [("vocab_size", vocabSize), ("n_positions", nPositions), ("n_embd", nEmbd),
                              ("n_layer", nLayer), ("n_head", nHead), ("n_inner", nInner)] where value <= 0 {
            throw ModelError.unsupportedModel("GPT-2 \(name) must be positive, got \(value)")
        }
        guard nEmbd % nHead == 0 else {
            throw ModelError.unsupportedModel("GPT-2 n_embd (\(nEmbd)) must be a multiple of n_head (\(nHead))")
        }
        guard eps.isFinite, eps > 0 else {
            throw ModelError.unsupportedModel("GPT-2 layer_norm_epsilon must be positive, got \(eps)")
        }
    }
}

/// `GPT2Attention`: the fused q/k/v projection and the output projection.
struct GPT2Attention: Sendable {
    let cAttn: LinearWeight   // Conv1D (C, 3C): q at column 0, k at C, v at 2C
    let cProj: LinearWeight   // Conv1D (C, C)
}

/// `GPT2MLP`: c_fc, activation, c_proj.
struct GPT2MLP: Sendable {
    let cFc: LinearWeight     // Conv1D (C, I)
    let cProj: LinearWeight   // Conv1D (I, C)
}

/// `GPT2Block`: pre-LayerNorm attention and MLP, each added to the residual stream.
struct GPT2Block: Sendable {
    let ln1: LayerNormWeights
    let attn: GPT2Attention
    let ln2: LayerNormWeights
    let mlp: GPT2MLP
}

/// A GPT-2 language model (`GPT2LMHeadModel`, any size: DistilGPT-2, GPT-2 small … XL).
///
/// The model holds only read-only weights and can be shared between tasks; the state of one
/// sequence (KV cache, activation buffers) lives in a `GenerationSession` from `makeSession()`.
public final class GPT2Model: Sendable {
    /// The model's sizes.
    public let shape: GPT2Shape
    /// Vocabulary size (rows of the logits).
    public var vocabularySize: Int { shape.vocabSize }
    /// Context length: the most tokens (prompt + generated) one session can hold.
    public var contextLength: Int { shape.nPositions }

    let wte: EmbeddingTable           // (V, C), read in its stored type
    let wpe: EmbeddingTable           // (P, C)
    let blocks: [GPT2Block]
    let lnF: LayerNormWeights
    let lmHead: LinearWeight          // (V, C) .outIn: logits = h · wteᵀ
    let pool: WorkerPool

    /// Rows one batched pass handles at most; longer prompts run in chunks of this many
    /// (bounds the activation scratch; large enough that sgemm runs at full speed).
    static let prefillChunk = 256

    /// Loads the weights of a `GPT2LMHeadModel` (or bare `GPT2Model`) checkpoint with sizes `shape`.
    /// Keys may be under `transformer.` or bare. With `quantization` `.int8`, the blocks' linear
    /// layers and the LM head are built as int8 (from the source's int8 tensors when it stores them).
    /// Throws `ModelError` for a missing tensor, a wrong shape, or sizes the engine cannot run.
    public init(shape s: GPT2Shape, source: any TensorSource, quantization: ModelDType? = nil,
                pool: WorkerPool = .shared) throws {
        try s.validate()
        let w = try WeightLoader(source: source, prefixes: ["transformer.", ""], probe: "wte.weight",
                                 modelName: "GPT-2", quantization: quantization, pool: pool)
        let c = s.nEmbd
        blocks = try (0..<s.nLayer).map { i -> GPT2Block in
            let p = "h.\(i)."
            return GPT2Block(
                ln1: try w.layerNorm(p + "ln_1", size: c, eps: s.eps),
                attn: GPT2Attention(cAttn: try w.conv1D(p + "attn.c_attn", in: c, out: 3 * c),
                                    cProj: try w.conv1D(p + "attn.c_proj", in: c, out: c)),
                ln2: try w.layerNorm(p + "ln_2", size: c, eps: s.eps),
                mlp: GPT2MLP(cFc: try w.conv1D(p + "mlp.c_fc", in: c, out: s.nInner),
                             cProj: try w.conv1D(p + "mlp.c_proj", in: s.nInner, out: c)))
        }
        // The token embeddings, read once in their stored type: the lookup table, and the LM head
        // when it is tied (int8 per row is both at once).
        let wteStored = try w.stored("wte.weight", [s.vocabSize, c])
        wte = try EmbeddingTable(wteStored) ?? EmbeddingTable(f32: try w.tensor("wte.weight", [s.vocabSize, c]))
        wpe = try w.embedding("wpe.weight", rows: s.nPositions, width: c)
        lnF = try w.layerNorm("ln_f", size: c, eps: s.eps)
        // The head sits outside the `transformer.` prefix; tied checkpoints leave it out.
        let top = WeightLoader(source: source, prefix: "", modelName: "GPT-2", quantization: quantization, pool: pool)
        if top.has("lm_head.weight") {
            // One row per decode step: the plain matrix-vector product is as fast as the packed kernel.
            lmHead = try top.linear("lm_head", out: s.vocabSize, in: c, bias: false, pack: false)
        } else if quantization == .q4,
                  let q = WeightLoader.q4Matrix(from: wteStored, out: s.vocabSize, in: c, layout: .outIn, pool: pool) {
            // Tied and stored in q4 blocks (a q4 file, or q4 at load): the head is those codes,
            // packed; the lookup reads the stored rows in place.
            lmHead = LinearWeight(q4: q, bias: nil, layout: .outIn, owner: nil)
            source.release(w.prefix + "wte.weight")
        } else if quantization == .q4,
                  let q = try w.q4Matrix("wte.weight", shape: [s.vocabSize, c], out: s.vocabSize, in: c, layout: .outIn) {
            lmHead = LinearWeight(q4: q, bias: nil, layout: .outIn, owner: nil)
        } else if quantization == .int8 || quantization == .q4,
                  let q = WeightLoader.int8Matrix(from: wteStored, out: s.vocabSize, in: c, layout: .outIn, pool: pool) {
            // Tied and stored int8 per row: the head is those integers, packed; the lookup reads the
            // same stored rows, so the model keeps one int8 copy and its packing.
            lmHead = LinearWeight(quantized: q, bias: nil, layout: .outIn, owner: nil)
            source.release(w.prefix + "wte.weight")
        } else if quantization == .int8 || quantization == .q4,
                  let q = try w.int8Matrix("wte.weight", shape: [s.vocabSize, c], out: s.vocabSize, in: c,
                                           layout: .outIn) {
            lmHead = LinearWeight(quantized: q, bias: nil, layout: .outIn, owner: nil)
        } else if case .bf16(let bits) = wteStored.elements, BF16Linear.isAvailable {
            // Tied and stored bf16 (a bf16 file, or bf16 at load): the head runs on the bf16 kernels
            // from one packed bf16 copy (half the bytes of the f32 copy it replaces); the lookup
            // reads the stored rows in place.
            let matrix = withExtendedLifetime(wteStored.owner) {
                BF16Matrix(bits: bits, bias: nil, outFeatures: s.vocabSize, inFeatures: c, layout: .outIn, pool: pool)
            }
            lmHead = LinearWeight(bf16: matrix, layout: .outIn)
        } else if case .f32(let pointer) = wteStored.elements {
            lmHead = LinearWeight(weight: pointer, bias: nil, outFeatures: s.vocabSize, inFeatures: c,
                                  layout: .outIn, owner: wteStored.owner)
        } else {
            let head = try w.tensor("wte.weight", [s.vocabSize, c])
            lmHead = LinearWeight(weight: head.pointer, bias: nil, outFeatures: s.vocabSize, inFeatures: c,
                                  layout: .outIn, owner: head.owner)
        }
        shape = s
        self.pool = pool
    }

    /// A model from already-built parts (`quantized(_:lmHead:)` swaps the linear layers this way).
    init(shape: GPT2Shape, wte: EmbeddingTable, wpe: EmbeddingTable, blocks: [GPT2Block], lnF: LayerNormWeights,
         lmHead: LinearWeight, pool: WorkerPool) {
        self.shape = shape
        self.wte = wte
        self.wpe = wpe
        self.blocks = blocks
        self.lnF = lnF
        self.lmHead = lmHead
        self.pool = pool
    }

    /// Loads a model (the entry point `ModelLoader` uses once config.json is mapped to a shape).
    static func load(shape: GPT2Shape, source: any TensorSource, quantization: ModelDType? = nil,
                     pool: WorkerPool) throws -> GPT2Model {
        try GPT2Model(shape: shape, source: source, quantization: quantization, pool: pool)
    }

    /// A new generation session: a KV cache and activation buffers for the full context length.
    public func makeSession() -> GenerationSession {
        GenerationSession(model: self, capacity: shape.nPositions)
    }

    /// Logits for every position of `ids` (full recompute, no cache kept): (T, V).
    /// For tests and scoring; generation uses a session, which computes only the last row.
    public func logits(_ ids: [Int]) throws -> [[Float]] {
        try validate(ids, past: 0, capacity: shape.nPositions)
        let session = GenerationSession(model: self, capacity: ids.count)
        let v = shape.vocabSize
        var result: [[Float]] = []
        result.reserveCapacity(ids.count)
        var start = 0
        while start < ids.count {
            let end = min(ids.count, start + session.scratch.rows)
            session.forward(ids[start..<end])
            // logits: (rows, V)
            let rows = end - start
            var block = [Float](repeating: 0, count: rows * v)
            block.withUnsafeMutableBufferPointer { out in
                Linear.forward(session.scratch.h.pointer, rows: rows, weight: lmHead, out: out.baseAddress!, pool: pool)
            }
            try ModelError.checkFinite(block, "logits")
            for r in 0..<rows { result.append(Array(block[(r * v)..<((r + 1) * v)])) }
            start = end
        }
        return result
    }

    /// Greedy or sampled continuation of `promptIDs`, ids only: up to `maxNewTokens` new ids, stopping
    /// after any id in `stopTokenIDs` (included) or when the context is full. For benchmarks and tests;
    /// `TextGenerator` adds text, stop strings and timings.
    public func generate(promptIDs: [Int], maxNewTokens: Int, sampling: SamplingOptions = .greedy,
                         stopTokenIDs: Set<Int> = []) throws -> [Int] {
        guard maxNewTokens >= 0 else {
            throw ModelError.invalidInput("maxNewTokens must be >= 0, got \(maxNewTokens)")
        }
        var sampler = try Sampler(options: sampling)
        try validate(promptIDs, past: 0, capacity: shape.nPositions)
        guard maxNewTokens > 0 else { return [] }
        let session = makeSession()
        var history = promptIDs
        var output: [Int] = []
        var next = try session.prefill(promptIDs) { sampler.sample($0, previousTokens: history) }
        while true {
            output.append(next)
            history.append(next)
            if stopTokenIDs.contains(next) || output.count == maxNewTokens
                || promptIDs.count + output.count >= shape.nPositions { break }
            next = try session.step(next) { sampler.sample($0, previousTokens: history) }
        }
        return output
    }

    /// Checks that `ids` can run at positions `past ..< past + ids.count` of a cache of `capacity`.
    func validate(_ ids: some Collection<Int>, past: Int, capacity: Int) throws {
        guard !ids.isEmpty else {
            throw ModelError.invalidInput("no token ids given: GPT-2 needs at least one token to condition on "
                + "(for an empty text, start from <|endoftext|>)")
        }
        let v = shape.vocabSize
        for (index, id) in ids.enumerated() where id < 0 || id >= v {
            throw ModelError.invalidInput("token id \(id) at index \(index) is outside the vocabulary (0..<\(v))")
        }
        if past + ids.count > min(capacity, shape.nPositions) {
            if past == 0 {
                throw ModelError.invalidInput("\(ids.count) tokens do not fit in the model's context length of "
                    + "\(shape.nPositions) tokens (n_positions); shorten the prompt")
            }
            throw ModelError.invalidInput("context full: the session holds \(past) of the model's "
                + "\(shape.nPositions) positions (n_positions) and \(ids.count) more token(s) do not fit; "
                + "reset the session or start a new one (there is no sliding window)")
        }
    }
}

/// Activation buffers of one session, for up to `rows` tokens per pass over `capacity` positions.
final class GPT2Scratch {
    let rows: Int
    let x: UninitializedFloats        // (rows, C) residual stream
    let h: UninitializedFloats        // (rows, C) LayerNorm output / projection output
    let qkv: UninitializedFloats      // (rows, 3C) fused c_attn output
    let context: UninitializedFloats  // (rows, C) attention output
    let ffn: UninitializedFloats      // (rows, I)
    let scores: UninitializedFloats   // threadCount * rows * capacity (Attention.causal)
    let logits: UninitializedFloats   // (V) the last position's logits

    init(shape s: GPT2Shape, rows: Int, capacity: Int, threads: Int) {
        self.rows = rows
        x = UninitializedFloats(count: rows * s.nEmbd)
        h = UninitializedFloats(count: rows * s.nEmbd)
        qkv = UninitializedFloats(count: rows * 3 * s.nEmbd)
        context = UninitializedFloats(count: rows * s.nEmbd)
        ffn = UninitializedFloats(count: rows * s.nInner)
        scores = UninitializedFloats(count: threads * rows * capacity)
        logits = UninitializedFloats(count: s.vocabSize)
    }
}

/// One sequence being generated: the model, its KV cache and its activation buffers, all sized once.
///
/// `prefill` runs new tokens in one batched pass, `step` runs one token; both return the logits of the
/// last position (only that row of the vocabulary projection is computed). A session belongs to one
/// task at a time (it is not `Sendable`); make one per concurrent generation.
public final class GenerationSession {
    /// The model this session runs.
    public let model: GPT2Model
    let cache: KVCache
    let scratch: GPT2Scratch

    init(model: GPT2Model, capacity: Int, chunkRows: Int = GPT2Model.prefillChunk) {
        self.model = model
        let rows = max(1, min(capacity, chunkRows))
        cache = KVCache(layers: model.shape.nLayer, capacity: capacity, width: model.shape.nEmbd)
        scratch = GPT2Scratch(shape: model.shape, rows: rows, capacity: capacity,
                              threads: model.pool.threadCount)
    }

    /// Number of tokens in the cache: the position the next token will take.
    public var position: Int { cache.count }
    /// Most tokens the session can hold (the model's context length).
    public var capacity: Int { cache.capacity }
    /// Tokens that still fit.
    public var remaining: Int { cache.remaining }

    /// Empties the cache so the session can start a new sequence (nothing is reallocated).
    public func reset() { cache.reset() }

    /// Runs `ids` (one or more tokens) at the next positions in batched passes and returns the
    /// logits of the last one (V floats). Throws `ModelError.invalidInput` for no ids, an id outside
    /// the vocabulary, or more tokens than the context has room for; the session is unchanged then.
    public func prefill(_ ids: [Int]) throws -> [Float] {
        try prefill(ids) { Array($0) }
    }

    /// `prefill(_:)` that lends the logits buffer to `body` instead of copying it (the buffer is the
    /// session's own and may be modified; it is valid only during the call).
    public func prefill<R>(_ ids: [Int], withLogits body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        try model.validate(ids, past: cache.count, capacity: cache.capacity)
        var start = 0
        while start < ids.count {
            let end = min(ids.count, start + scratch.rows)
            forward(ids[start..<end])
            start = end
        }
        return try lastLogits(rows: (ids.count - 1) % scratch.rows + 1, body)
    }

    /// Runs one token at the next position and returns its logits (V floats). Throws
    /// `ModelError.invalidInput` when the id is outside the vocabulary or the context is full.
    public func step(_ id: Int) throws -> [Float] {
        try step(id) { Array($0) }
    }

    /// `step(_:)` that lends the logits buffer to `body` instead of copying it.
    public func step<R>(_ id: Int, withLogits body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        try model.validate(CollectionOfOne(id), past: cache.count, capacity: cache.capacity)
        forward(CollectionOfOne(id))
        return try lastLogits(rows: 1, body)
    }

    /// logits = ln_f(x)[last] · wteᵀ, into the session's logits buffer.
    /// Non-finite weights surface as NaN in the last hidden state (LayerNorm spreads one NaN over
    /// the row) or, from the LM head's own rows, in single logits: both are checked whole (a few
    /// microseconds a step).
    private func lastLogits<R>(rows: Int, _ body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        let c = model.shape.nEmbd, v = model.shape.vocabSize
        let last = scratch.h.pointer + (rows - 1) * c
        try ModelError.checkFinite(UnsafeBufferPointer(start: last, count: c), "hidden states")
        Linear.forward(last, rows: 1, weight: model.lmHead, out: scratch.logits.pointer, pool: model.pool)
        let logits = UnsafeMutableBufferPointer(start: scratch.logits.pointer, count: v)
        try ModelError.checkFinite(UnsafeBufferPointer(logits), "logits")
        return try body(logits)
    }

    /// Runs the blocks over `ids` (at most `scratch.rows` valid tokens) at positions
    /// `cache.count ..< cache.count + T`, appends their keys and values to the cache and leaves
    /// ln_f of every row in `scratch.h`.
    func forward<Ids: Collection<Int>>(_ ids: Ids) {
        let m = model, s = m.shape, pool = m.pool
        let t = ids.count, c = s.nEmbd, past = cache.count
        let x = scratch.x.pointer, h = scratch.h.pointer, qkv = scratch.qkv.pointer
        let context = scratch.context.pointer, ffn = scratch.ffn.pointer

        // x = wte[id] + wpe[pos]   (T, C)
        for (r, id) in ids.enumerated() {
            let row = x + r * c
            m.wte.copy(row: id, into: row)
            m.wpe.add(row: past + r, into: row)
        }
        withExtendedLifetime((m.wte.owner, m.wpe.owner)) {}
        for (l, block) in m.blocks.enumerated() {
            // h = ln_1(x); from the second block on, the previous MLP output (in h) is added to x first.
            block.ln1(out: h, x: x, residual: l == 0 ? nil : UnsafePointer(h), rows: t, pool: pool)
            // qkv = c_attn(h)   (T, 3C); k and v rows go to the cache at their positions.
            Linear.forward(h, rows: t, weight: block.attn.cAttn, out: qkv, pool: pool)
            let keys = cache.keys(layer: l), values = cache.values(layer: l)
            for r in 0..<t {
                (keys + (past + r) * c).update(from: qkv + r * 3 * c + c, count: c)
                (values + (past + r) * c).update(from: qkv + r * 3 * c + 2 * c, count: c)
            }
            // context = causal attention of q over positions 0 ... past + r   (T, C)
            Attention.causal(q: qkv, ld: 3 * c, kCache: keys, vCache: values, ldKV: c, out: context, ldo: c,
                             queries: t, past: past, heads: s.nHead, headDim: s.headDim,
                             scratch: scratch.scores.pointer, pool: pool)
            // h = c_proj(context); then x += h and h = ln_2(x) in one pass.
            Linear.forward(context, rows: t, weight: block.attn.cProj, out: h, pool: pool)
            block.ln2(out: h, x: x, residual: UnsafePointer(h), rows: t, pool: pool)
            // h = mlp.c_proj(act(c_fc(h)))   (T, I) -> (T, C); added to x by the next LayerNorm.
            Linear.forward(h, rows: t, weight: block.mlp.cFc, out: ffn, activation: s.activation, pool: pool)
            Linear.forward(ffn, rows: t, weight: block.mlp.cProj, out: h, pool: pool)
        }
        // h = ln_f(x + h)
        m.lnF(out: h, x: x, residual: UnsafePointer(h), rows: t, pool: pool)
        cache.count = past + t
    }

    /// Bytes of the KV cache and activation buffers (reserved; pages are used as they are touched).
    public var reservedBytes: Int {
        let sc = scratch
        return cache.byteCount + 4 * (sc.x.count + sc.h.count + sc.qkv.count + sc.context.count + sc.ffn.count
                                      + sc.scores.count + sc.logits.count)
    }
}

@available(*, unavailable, message: "a generation session belongs to one task; make one per task")
extension GenerationSession: Sendable {}
