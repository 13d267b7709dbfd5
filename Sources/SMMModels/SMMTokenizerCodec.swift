// Tokenizers to and from `.smm` metadata: a WordPiece or byte-level BPE tokenizer written into the
// file by the converter and rebuilt from it at load.
import SMMFormat
import SMMKernels
import SMMTokenizers

/// Tokenizers to and from `.smm` metadata.
public enum SMMTokenizerCodec {
    /// The five special tokens a `BertTokenizer` built from a vocabulary registers.
    static let bertSpecials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    /// A WordPiece tokenizer from metadata.
    /// - Throws: `ModelError.unsupportedModel` for settings the public tokenizer API cannot rebuild,
    ///   `TokenizerError` for a bad vocabulary.
    public static func bert(_ t: SMMTokenizerMetadata, maxLength: Int) throws -> BertTokenizer {
        guard t.kind == .wordpiece else {
            throw ModelError.unsupportedModel("a BERT model needs a wordpiece tokenizer, the file has '\(t.kind.rawValue)'")
        }
        guard t.cleanText ?? true, t.handleChineseChars ?? true else {
            throw ModelError.unsupportedModel("tokenizer settings clean_text = false or handle_chinese_chars = false are not supported")
        }
        let tokenizer = try BertTokenizer(vocabulary: t.vocabulary, doLowerCase: t.doLowerCase ?? true,
                                          stripAccents: t.stripAccents, maxLength: max(2, maxLength))
        for token in t.addedTokens {
            guard bertSpecials.contains(token.content), tokenizer.id(forToken: token.content) == token.id,
                  token.special, !token.normalized, !token.lstrip, !token.rstrip, !token.singleWord else {
                throw ModelError.unsupportedModel("added token '\(token.content)' (id \(token.id)) is not one of BERT's standard special tokens")
            }
        }
        let actual = ["pad": tokenizer.padID, "cls": tokenizer.clsID, "sep": tokenizer.sepID, "unk": tokenizer.unkID]
        for (role, id) in t.specialTokenIDs {
            if let expected = actual[role], expected != id {
                throw ModelError.unsupportedModel("the tokenizer's \(role) token is id \(id) in the file but \(expected) in its vocabulary")
            }
        }
        return tokenizer
    }

    /// A byte-level BPE tokenizer from metadata.
    /// - Throws: `TokenizerError` for merges that do not fit the vocabulary, `ModelError` for a wrong kind.
    public static func gpt2(_ t: SMMTokenizerMetadata) throws -> GPT2Tokenizer {
        guard t.kind == .bpe else {
            throw ModelError.unsupportedModel("a GPT-2 model needs a bpe tokenizer, the file has '\(t.kind.rawValue)'")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(t.vocabulary.count)
        for (id, token) in t.vocabulary.enumerated() {
            guard vocabulary.updateValue(id, forKey: token) == nil else {
                throw ModelError.unsupportedModel("token \(debugQuoted(token)) appears twice in the vocabulary")
            }
        }
        let added = t.addedTokens.map {
            GPT2Tokenizer.AddedToken(content: $0.content, id: $0.id, isSpecial: $0.special, leftStrip: $0.lstrip,
                                     rightStrip: $0.rstrip, singleWord: $0.singleWord)
        }
        return try GPT2Tokenizer(vocabulary: vocabulary, merges: t.mergePairs, addedTokens: added)
    }

    /// The metadata of a WordPiece tokenizer.
    /// - Throws: `ModelError.unsupportedModel` when its ids have gaps.
    public static func metadata(of tokenizer: BertTokenizer) throws -> SMMTokenizerMetadata {
        var vocabulary: [String] = []
        vocabulary.reserveCapacity(tokenizer.vocabularySize)
        for id in 0..<tokenizer.vocabularySize {
            guard let token = tokenizer.token(forID: id) else {
                throw ModelError.unsupportedModel("the tokenizer has no token for id \(id) (ids with gaps are not supported)")
            }
            vocabulary.append(token)
        }
        var added: [SMMAddedToken] = []
        var special: [String: Int] = ["pad": tokenizer.padID, "cls": tokenizer.clsID, "sep": tokenizer.sepID,
                                      "unk": tokenizer.unkID]
        for name in bertSpecials {
            if let id = tokenizer.id(forToken: name) { added.append(SMMAddedToken(content: name, id: id)) }
        }
        if let mask = tokenizer.id(forToken: "[MASK]") { special["mask"] = mask }
        let options = tokenizer.normalizerOptions
        return SMMTokenizerMetadata(kind: .wordpiece, vocabulary: vocabulary, addedTokens: added, specialTokenIDs: special,
                                    doLowerCase: options.lowercase, stripAccents: options.stripAccents,
                                    cleanText: options.cleanText, handleChineseChars: options.handleChineseCharacters)
    }

    /// The metadata of a byte-level BPE tokenizer.
    /// - Throws: `ModelError.unsupportedModel` when its ids have gaps or a merge part holds a space.
    public static func metadata(of tokenizer: GPT2Tokenizer) throws -> SMMTokenizerMetadata {
        let byID = tokenizer.vocabulary.sorted { $0.value < $1.value }
        for (expected, entry) in byID.enumerated() where entry.value != expected {
            throw ModelError.unsupportedModel("the BPE vocabulary's ids are not 0..<\(byID.count) without gaps (id \(entry.value) at position \(expected))")
        }
        var merges: [String] = []
        merges.reserveCapacity(tokenizer.merges.count)
        for (a, b) in tokenizer.merges {
            guard !a.isEmpty, !b.isEmpty, !a.contains(" "), !b.contains(" ") else {
                throw ModelError.unsupportedModel("merge (\(debugQuoted(a)), \(debugQuoted(b))) has an empty part or a space")
            }
            merges.append(a + " " + b)
        }
        var special: [String: Int] = [:]
        if let eot = tokenizer.endOfTextID {
            special["bos"] = eot
            special["eos"] = eot
        }
        let added = tokenizer.addedTokens.map {
            SMMAddedToken(content: $0.content, id: $0.id, special: $0.isSpecial, normalized: false, lstrip: $0.leftStrip,
                          rstrip: $0.rightStrip, singleWord: $0.singleWord)
        }
        return SMMTokenizerMetadata(kind: .bpe, vocabulary: byID.map(\.key), merges: merges, addedTokens: added,
                                    specialTokenIDs: special)
    }

    private static func debugQuoted(_ s: String) -> String { String(reflecting: s) }
}
