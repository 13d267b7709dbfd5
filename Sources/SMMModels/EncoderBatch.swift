/// A padded batch of token sequences for an encoder: `batch` rows of `seqLength` ids each.
public struct EncoderBatch: Sendable, Equatable {
    /// Token ids, row-major (batch, seqLength).
    public var ids: [Int32]
    /// Segment ids (batch, seqLength); zeros for single texts.
    public var typeIDs: [Int32]
    /// 1 for real tokens, 0 for padding (batch, seqLength).
    public var attentionMask: [Int32]
    /// Number of sequences.
    public var batch: Int
    /// Length of every (padded) sequence.
    public var seqLength: Int

    /// Builds a batch from rows of equal length. Throws when rows differ in length or are empty.
    public init(ids: [[Int]], typeIDs: [[Int]]? = nil, attentionMask: [[Int]]? = nil) throws {
        guard let first = ids.first, !first.isEmpty else {
            throw ModelError.invalidInput("an encoder batch needs at least one sequence of at least one token")
        }
        let t = first.count
        guard ids.allSatisfy({ $0.count == t }) else {
            throw ModelError.invalidInput("all sequences in a batch must have the same (padded) length")
        }
        if let typeIDs, typeIDs.count != ids.count || !typeIDs.allSatisfy({ $0.count == t }) {
            throw ModelError.invalidInput("token_type_ids must have the same shape as input_ids")
        }
        if let attentionMask, attentionMask.count != ids.count || !attentionMask.allSatisfy({ $0.count == t }) {
            throw ModelError.invalidInput("attention_mask must have the same shape as input_ids")
        }
        batch = ids.count
        seqLength = t
        self.ids = ids.flatMap { $0.map { Int32(clamping: $0) } }
        self.typeIDs = typeIDs.map { $0.flatMap { $0.map { Int32(clamping: $0) } } }
            ?? [Int32](repeating: 0, count: batch * t)
        self.attentionMask = attentionMask.map { $0.flatMap { $0.map { Int32(clamping: $0) } } }
            ?? [Int32](repeating: 1, count: batch * t)
    }
}

/// The hidden states an encoder produced for a batch.
public struct EncoderOutput: Sendable {
    /// Last hidden states, row-major (batch, seqLength, hiddenSize).
    public var lastHiddenState: [Float]
    /// The BERT pooler output (tanh(dense(CLS))), (batch, hiddenSize); nil for models without a pooler.
    public var pooled: [Float]?
    /// Number of sequences.
    public var batch: Int
    /// Padded sequence length.
    public var seqLength: Int
    /// Hidden size.
    public var hiddenSize: Int
}
