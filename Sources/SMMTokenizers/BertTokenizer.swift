import Foundation

/// How `BertTokenizer.encodeBatch` pads the encodings of a batch.
public enum Padding: Sendable, Equatable {
    /// No padding: every encoding keeps its own length.
    case none
    /// Pad every encoding to the longest one in the batch.
    case longest
    /// Pad every encoding to this length (longer encodings are left as they are; truncation is
    /// governed by `maxLength`).
    case fixed(Int)
}

/// A token matched in the text before WordPiece runs (`added_tokens` of a `tokenizer.json`):
/// the special tokens `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`, and any tokens a model added.
struct BertAddedToken: Sendable, Equatable {
    var content: String
    var id: Int
    var special: Bool
    /// Matched in the normalized text (true) or in the raw text (false, as for BERT's specials).
    var normalized: Bool
    var lstrip: Bool = false
    var rstrip: Bool = false
    var singleWord: Bool = false
}

/// Finds added tokens in a scalar buffer, leftmost-longest, as `tokenizers`' AddedVocabulary does.
struct AddedTokenMatcher: Sendable {
    /// A part of the buffer: either ordinary text or one added token.
    enum Piece {
        case text(Range<Int>)
        case token(id: Int)
    }

    private let patterns: [[UInt32]]
    private let tokens: [BertAddedToken]
    /// Candidate pattern indices by first scalar, longest first.
    private let byFirst: [UInt32: [Int]]
    /// Bitmap of ASCII first scalars, to skip most positions without hashing.
    private let asciiFirst: (UInt64, UInt64)
    private let anyNonASCIIFirst: Bool

    /// True when there is nothing to match.
    var isEmpty: Bool { patterns.isEmpty }

    init(tokens: [BertAddedToken], patterns: [[UInt32]]) {
        var keptTokens: [BertAddedToken] = []
        var keptPatterns: [[UInt32]] = []
        for (t, p) in zip(tokens, patterns) where !p.isEmpty {
            keptTokens.append(t)
            keptPatterns.append(p)
        }
        var map: [UInt32: [Int]] = [:]
        var lo: UInt64 = 0
        var hi: UInt64 = 0
        var nonASCII = false
        for (i, p) in keptPatterns.enumerated() {
            map[p[0], default: []].append(i)
            let f = p[0]
            if f < 64 { lo |= 1 << UInt64(f) } else if f < 128 { hi |= 1 << UInt64(f - 64) } else { nonASCII = true }
        }
        for (k, v) in map {
            map[k] = v.sorted { keptPatterns[$0].count > keptPatterns[$1].count || (keptPatterns[$0].count == keptPatterns[$1].count && $0 < $1) }
        }
        self.tokens = keptTokens
        self.patterns = keptPatterns
        self.byFirst = map
        self.asciiFirst = (lo, hi)
        self.anyNonASCIIFirst = nonASCII
    }

    @inline(__always)
    private func mayStart(_ v: UInt32) -> Bool {
        if v < 64 { return asciiFirst.0 & (1 << UInt64(v)) != 0 }
        if v < 128 { return asciiFirst.1 & (1 << UInt64(v - 64)) != 0 }
        return anyNonASCIIFirst
    }

    /// Letters, digits and `_` count as word characters for `single_word` tokens.
    private static func isWordCharacter(_ v: UInt32) -> Bool {
        if v == 0x5F { return true }
        guard let s = Unicode.Scalar(v) else { return false }
        return s.properties.isAlphabetic || s.properties.numericType != nil
    }

    /// Splits `s[range]` into text and added tokens.
    func split(_ s: [UInt32], _ range: Range<Int>) -> [Piece] {
        var pieces: [Piece] = []
        var segmentStart = range.lowerBound
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let v = s[i]
            guard mayStart(v), let candidates = byFirst[v] else {
                i += 1
                continue
            }
            var matched = -1
            for c in candidates {
                let p = patterns[c]
                if i + p.count <= end && s[i..<(i + p.count)].elementsEqual(p) {
                    matched = c
                    break
                }
            }
            if matched < 0 {
                i += 1
                continue
            }
            var matchStart = i
            var matchEnd = i + patterns[matched].count
            let token = tokens[matched]
            if token.singleWord {
                let before = matchStart > range.lowerBound && AddedTokenMatcher.isWordCharacter(s[matchStart - 1])
                let after = matchEnd < end && AddedTokenMatcher.isWordCharacter(s[matchEnd])
                if before || after {
                    i = matchEnd
                    continue
                }
            }
            if token.lstrip {
                while matchStart > segmentStart && BertCharClass.isWhitespace(s[matchStart - 1]) { matchStart -= 1 }
            }
            if token.rstrip {
                while matchEnd < end && BertCharClass.isWhitespace(s[matchEnd]) { matchEnd += 1 }
            }
            if segmentStart < matchStart { pieces.append(.text(segmentStart..<matchStart)) }
            pieces.append(.token(id: token.id))
            segmentStart = matchEnd
            i = matchEnd
        }
        if segmentStart < end { pieces.append(.text(segmentStart..<end)) }
        return pieces
    }
}

/// BERT's WordPiece tokenizer, giving the same ids as Hugging Face's `BertTokenizerFast`
/// (`BertNormalizer` + `BertPreTokenizer` + `WordPiece` + `[CLS] … [SEP]` post-processing).
///
/// Load it from a `vocab.txt` or a `tokenizer.json` (see ``load(directory:doLowerCase:maxLength:)``).
/// Encodings are truncated to ``maxLength`` tokens, and ``Encoding/wasTruncated`` says so.
/// Special tokens written in the text (`"[SEP]"`) are recognised as such, as in `tokenizers`.
public struct BertTokenizer: Tokenizer {
    /// The longest encoding `encode` returns, special tokens included (the model's positions).
    public var maxLength: Int
    /// Id of `[PAD]`.
    public private(set) var padID: Int
    /// Id of `[CLS]`.
    public private(set) var clsID: Int
    /// Id of `[SEP]`.
    public private(set) var sepID: Int
    /// Id of `[UNK]`.
    public private(set) var unkID: Int
    /// The normalizer settings in use.
    public let normalizerOptions: BertNormalizerOptions

    let basic: BasicTokenizer
    let model: WordPiece
    let rawAddedTokens: AddedTokenMatcher
    let normalizedAddedTokens: AddedTokenMatcher
    /// Token strings by id, vocabulary and added tokens together.
    let idToToken: [String?]
    /// Added tokens (content → id), for ids outside the WordPiece vocabulary.
    let addedTokenIDs: [String: Int]
    /// Ids that `decode(_:skipSpecialTokens: true)` leaves out.
    let specialIDs: Set<Int>
    let padToken: String
    /// Whether decoding removes spaces before punctuation (the WordPiece decoder's `cleanup`).
    let decoderCleanup: Bool

    // MARK: - Initialisers

    /// Loads a `vocab.txt` (one token per line, the line number being the id).
    ///
    /// - Parameters:
    ///   - vocabularyFile: the vocabulary file.
    ///   - doLowerCase: lowercase the text (true for uncased models).
    ///   - stripAccents: remove accents; nil follows `doLowerCase`, like Hugging Face.
    ///   - maxLength: longest encoding, special tokens included.
    /// - Throws: `TokenizerError.fileNotFound`, `.invalidFile` (unreadable, not UTF-8 or empty), or
    ///   `.missingSpecialToken` when `[UNK]`, `[CLS]`, `[SEP]` or `[PAD]` is missing.
    public init(vocabularyFile: URL, doLowerCase: Bool = true, stripAccents: Bool? = nil, maxLength: Int = 512) throws {
        let vocabulary = try BertVocabularyFile.read(vocabularyFile)
        try self.init(vocabulary: vocabulary, doLowerCase: doLowerCase, stripAccents: stripAccents, maxLength: maxLength)
    }

    /// Makes a tokenizer from token strings indexed by id (the lines of a `vocab.txt`).
    ///
    /// - Throws: `TokenizerError.invalidInput` for an empty vocabulary, or `.missingSpecialToken`.
    public init(vocabulary: [String], doLowerCase: Bool = true, stripAccents: Bool? = nil, maxLength: Int = 512) throws {
        try self.init(vocabulary: vocabulary,
                      normalizer: BertNormalizerOptions(lowercase: doLowerCase, stripAccents: stripAccents),
                      maxLength: maxLength)
    }

    /// Makes a tokenizer from token strings indexed by id, with any normalizer settings.
    init(vocabulary: [String], normalizer: BertNormalizerOptions, maxLength: Int) throws {
        guard !vocabulary.isEmpty else { throw TokenizerError.invalidInput("the vocabulary is empty") }
        let model = try WordPiece(vocabulary: vocabulary)
        // Like `BertTokenizerFast` built from a vocab.txt: the five special tokens, when present,
        // are added tokens matched in the raw text.
        var added: [BertAddedToken] = []
        for name in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] {
            if let id = model.id(forToken: name) {
                added.append(BertAddedToken(content: name, id: id, special: true, normalized: false))
            }
        }
        try self.init(model: model, normalizer: normalizer, addedTokens: added, clsToken: "[CLS]", sepToken: "[SEP]", padToken: "[PAD]",
                      maxLength: maxLength, decoderCleanup: true)
    }

    /// The designated initialiser, shared by the vocabulary and `tokenizer.json` loaders.
    init(model: WordPiece, normalizer: BertNormalizerOptions, addedTokens: [BertAddedToken],
         clsToken: String, sepToken: String, padToken: String, maxLength: Int, decoderCleanup: Bool) throws {
        guard maxLength >= 2 else {
            throw TokenizerError.invalidInput("maxLength must leave room for [CLS] and [SEP], got \(maxLength)")
        }
        self.model = model
        self.normalizerOptions = normalizer
        self.basic = BasicTokenizer(options: normalizer)
        self.maxLength = maxLength
        self.decoderCleanup = decoderCleanup
        self.padToken = padToken

        var names = model.idToToken
        var addedIDs: [String: Int] = [:]
        for t in addedTokens {
            guard TokenizerLimits.accepts(t.id) else {
                throw TokenizerError.invalidInput("added token \"\(t.content)\" has id \(t.id), outside 0 ..< \(TokenizerLimits.maxTokenID)")
            }
            if t.id >= names.count { names += [String?](repeating: nil, count: t.id + 1 - names.count) }
            if names[t.id] == nil { names[t.id] = t.content }
            addedIDs[t.content] = t.id
        }
        self.idToToken = names
        self.addedTokenIDs = addedIDs
        self.specialIDs = Set(addedTokens.filter(\.special).map(\.id))

        let raw = addedTokens.filter { !$0.normalized }
        rawAddedTokens = AddedTokenMatcher(tokens: raw, patterns: raw.map { $0.content.unicodeScalars.map(\.value) })
        let normalized = addedTokens.filter(\.normalized)
        let basic = self.basic
        normalizedAddedTokens = AddedTokenMatcher(tokens: normalized, patterns: normalized.map { token in
            var out: [UInt32] = []
            basic.normalize(token.content.unicodeScalars.map(\.value)[...], into: &out)
            return out
        })

        func requireID(_ token: String) throws -> Int {
            if let id = model.id(forToken: token) ?? addedIDs[token] { return id }
            throw TokenizerError.missingSpecialToken(token)
        }
        unkID = model.unknownID
        clsID = try requireID(clsToken)
        sepID = try requireID(sepToken)
        padID = try requireID(padToken)
    }

    // MARK: - Tokenizer

    /// Number of ids (the largest id plus one).
    public var vocabularySize: Int { idToToken.count }

    /// The token string for an id, or nil when the id is outside the vocabulary.
    public func token(forID id: Int) -> String? {
        guard id >= 0 && id < idToToken.count else { return nil }
        return idToToken[id]
    }

    /// The id for a token string (exact match, no normalization), or nil.
    public func id(forToken token: String) -> Int? {
        model.id(forToken: token) ?? addedTokenIDs[token]
    }

    /// Encodes one text as `[CLS] text [SEP]`, truncated to ``maxLength`` tokens.
    public func encode(_ text: String) throws -> Encoding {
        try encode(text, pair: nil, maxLength: nil, addSpecialTokens: true)
    }

    /// Encodes a text, or a pair of texts as `[CLS] a [SEP] b [SEP]` with type ids 0…0 1…1.
    ///
    /// An empty `pair` counts as no pair, as in `transformers` (`tokenizer("a", "")` gives `[CLS] a [SEP]`).
    ///
    /// - Parameters:
    ///   - text: the (first) text.
    ///   - pair: the second text of a pair, or nil.
    ///   - maxLength: longest result, special tokens included; nil uses ``maxLength``. Pairs are cut
    ///     "longest first", like Hugging Face. Pass `Int.max` for no truncation.
    ///   - addSpecialTokens: add `[CLS]`/`[SEP]`.
    /// - Throws: `TokenizerError.invalidInput` when `maxLength` cannot hold the special tokens.
    public func encode(_ text: String, pair: String?, maxLength: Int?, addSpecialTokens: Bool) throws -> Encoding {
        // Like `transformers`, an empty second text means "no pair" (`if text_pair` in Python).
        let pair = pair?.isEmpty == true ? nil : pair
        let limit = maxLength ?? self.maxLength
        let specials = addSpecialTokens ? (pair == nil ? 2 : 3) : 0
        guard limit >= specials else {
            throw TokenizerError.invalidInput("maxLength \(limit) cannot hold the \(specials) special tokens")
        }
        let budget = limit - specials
        var first = pieceIDs(text)
        var truncated = false
        var second: [Int]? = nil
        if let pair {
            var b = pieceIDs(pair)
            truncated = BertTokenizer.truncateLongestFirst(&first, &b, budget: budget)
            second = b
        } else if first.count > budget {
            first.removeSubrange(budget...)
            truncated = true
        }

        var ids: [Int] = []
        ids.reserveCapacity(first.count + (second?.count ?? 0) + specials)
        if addSpecialTokens { ids.append(clsID) }
        ids += first
        if addSpecialTokens { ids.append(sepID) }
        var typeIDs = [Int](repeating: 0, count: ids.count)
        if let second {
            ids += second
            if addSpecialTokens { ids.append(sepID) }
            typeIDs += [Int](repeating: 1, count: ids.count - typeIDs.count)
        }
        return Encoding(ids: ids, tokens: ids.map { idToToken[$0] ?? "" }, typeIDs: typeIDs,
                        attentionMask: nil, wasTruncated: truncated)
    }

    /// Encodes several texts (each as ``encode(_:)`` does) and pads them.
    ///
    /// Padding uses the `[PAD]` id, type id 0 and attention mask 0, on the right.
    public func encodeBatch(_ texts: [String], padding: Padding = .longest) throws -> [Encoding] {
        var encodings = try texts.map { try encode($0) }
        let target: Int
        switch padding {
        case .none: return encodings
        case .longest: target = encodings.map(\.ids.count).max() ?? 0
        case .fixed(let n): target = n
        }
        for i in encodings.indices where encodings[i].ids.count < target {
            let extra = target - encodings[i].ids.count
            encodings[i].ids += [Int](repeating: padID, count: extra)
            encodings[i].tokens += [String](repeating: padToken, count: extra)
            encodings[i].typeIDs += [Int](repeating: 0, count: extra)
            encodings[i].attentionMask += [Int](repeating: 0, count: extra)
        }
        return encodings
    }

    /// The word pieces of a text, without `[CLS]`/`[SEP]` and without truncation.
    public func tokenize(_ text: String) -> [String] {
        pieceIDs(text).map { idToToken[$0] ?? "" }
    }

    /// Turns ids back into text: pieces joined by spaces, `##` pieces glued to the previous one,
    /// and the spaces before punctuation and contractions removed (Hugging Face's cleanup).
    ///
    /// - Parameters:
    ///   - ids: token ids of this vocabulary.
    ///   - skipSpecialTokens: leave out `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`.
    /// - Throws: `TokenizerError.unknownID` for an id outside the vocabulary.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) throws -> String {
        let prefix = Array(model.continuingSubwordPrefix.utf8)
        var out: [UInt8] = []
        var first = true
        for id in ids {
            guard let token = token(forID: id) else { throw TokenizerError.unknownID(id) }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            var piece = Array(token.utf8)
            if !first {
                if !prefix.isEmpty && piece.starts(with: prefix) {
                    piece.removeFirst(prefix.count)
                } else {
                    piece.insert(0x20, at: 0)
                }
            }
            first = false
            out += decoderCleanup ? BertTokenizer.cleanUp(piece) : piece
        }
        if decoderCleanup { out = BertTokenizer.cleanUp(out) }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Internals

    /// Reusable buffers for one encoding.
    struct Scratch {
        var normalized: [UInt32] = []
        var utf8: [UInt8] = []
        var bounds: [Int32] = []
        var words: [Range<Int>] = []
    }

    /// WordPiece ids of a text, added tokens included, no special tokens added, no truncation.
    func pieceIDs(_ text: String) -> [Int] {
        var input: [UInt32] = []
        input.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars { input.append(s.value) }
        var ids: [Int] = []
        ids.reserveCapacity(input.count / 3 + 4)
        var scratch = Scratch()
        if rawAddedTokens.isEmpty {
            encodeSegment(input[...], into: &ids, &scratch)
        } else {
            for piece in rawAddedTokens.split(input, 0..<input.count) {
                switch piece {
                case .text(let r): encodeSegment(input[r], into: &ids, &scratch)
                case .token(let id): ids.append(id)
                }
            }
        }
        return ids
    }

    /// Normalizes, pre-tokenizes and WordPiece-splits one piece of raw text.
    private func encodeSegment(_ segment: ArraySlice<UInt32>, into ids: inout [Int], _ scratch: inout Scratch) {
        scratch.normalized.removeAll(keepingCapacity: true)
        basic.normalize(segment, into: &scratch.normalized)
        let count = scratch.normalized.count
        if count == 0 { return }

        // UTF-8 of the whole normalized segment, with the byte offset of every scalar.
        scratch.utf8.removeAll(keepingCapacity: true)
        scratch.bounds.removeAll(keepingCapacity: true)
        scratch.utf8.reserveCapacity(count * 2)
        scratch.bounds.reserveCapacity(count + 1)
        for v in scratch.normalized {
            scratch.bounds.append(Int32(scratch.utf8.count))
            if v < 0x80 {
                scratch.utf8.append(UInt8(v))
            } else if v < 0x800 {
                scratch.utf8.append(UInt8(0xC0 | (v >> 6)))
                scratch.utf8.append(UInt8(0x80 | (v & 0x3F)))
            } else if v < 0x10000 {
                scratch.utf8.append(UInt8(0xE0 | (v >> 12)))
                scratch.utf8.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                scratch.utf8.append(UInt8(0x80 | (v & 0x3F)))
            } else {
                scratch.utf8.append(UInt8(0xF0 | (v >> 18)))
                scratch.utf8.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
                scratch.utf8.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                scratch.utf8.append(UInt8(0x80 | (v & 0x3F)))
            }
        }
        scratch.bounds.append(Int32(scratch.utf8.count))

        scratch.words.removeAll(keepingCapacity: true)
        if normalizedAddedTokens.isEmpty {
            BasicTokenizer.splitWords(scratch.normalized, 0..<count, into: &scratch.words)
            wordPieces(scratch, into: &ids)
        } else {
            for piece in normalizedAddedTokens.split(scratch.normalized, 0..<count) {
                switch piece {
                case .text(let r):
                    scratch.words.removeAll(keepingCapacity: true)
                    BasicTokenizer.splitWords(scratch.normalized, r, into: &scratch.words)
                    wordPieces(scratch, into: &ids)
                case .token(let id):
                    ids.append(id)
                }
            }
        }
    }

    @inline(__always)
    private func wordPieces(_ scratch: Scratch, into ids: inout [Int]) {
        scratch.utf8.withUnsafeBufferPointer { utf8 in
            scratch.bounds.withUnsafeBufferPointer { bounds in
                for word in scratch.words {
                    model.tokenize(utf8: utf8.baseAddress!, bounds: bounds.baseAddress!, scalarRange: word, into: &ids)
                }
            }
        }
    }

    /// Hugging Face's `longest_first` truncation of a pair to `budget` tokens in all.
    /// Returns whether anything was cut.
    static func truncateLongestFirst(_ a: inout [Int], _ b: inout [Int], budget: Int) -> Bool {
        guard a.count + b.count > budget else { return false }
        var n1 = a.count
        var n2 = b.count
        let swapped = n1 > n2
        if swapped { swap(&n1, &n2) }
        if n1 > budget {
            n2 = n1
        } else {
            n2 = max(n1, budget - n1)
        }
        if n1 + n2 > budget {
            n1 = budget / 2
            n2 = n1 + budget % 2
        }
        if swapped { swap(&n1, &n2) }
        if a.count > n1 { a.removeSubrange(n1...) }
        if b.count > n2 { b.removeSubrange(n2...) }
        return true
    }

    /// The space clean-up of Hugging Face's WordPiece decoder and `clean_up_tokenization`.
    static func cleanUp(_ text: [UInt8]) -> [UInt8] {
        var s = text
        for (from, to) in cleanUpRules { s = replaceAll(s, from, to) }
        return s
    }

    private static let cleanUpRules: [([UInt8], [UInt8])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
        (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.utf8), Array($0.1.utf8)) }

    private static func replaceAll(_ s: [UInt8], _ from: [UInt8], _ to: [UInt8]) -> [UInt8] {
        guard s.count >= from.count, let first = from.first else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if s[i] == first && i + from.count <= s.count && s[i..<(i + from.count)].elementsEqual(from) {
                out += to
                i += from.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }
}
