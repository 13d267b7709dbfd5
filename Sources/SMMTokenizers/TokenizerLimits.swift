// Bounds on what a tokenizer file may declare, so that a hostile or broken file gets an error
// instead of an allocation sized by whatever id it names.

/// Limits the tokenizer loaders enforce on vocabulary files.
public enum TokenizerLimits {
    /// Token ids must be below this (ten million: the largest vocabulary the engine accepts, as
    /// `ConfigLimits.maxVocabSize` in the format layer; real models have 30-260 thousand tokens).
    public static let maxTokenID = 10_000_000

    /// Whether `id` is a token id a vocabulary may hold.
    static func accepts(_ id: Int) -> Bool { id >= 0 && id < maxTokenID }
}
