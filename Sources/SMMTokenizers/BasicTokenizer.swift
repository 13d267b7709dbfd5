import Foundation

/// Settings of BERT's text normalizer (`BertNormalizer` in Hugging Face `tokenizers`).
public struct BertNormalizerOptions: Sendable, Equatable {
    /// Remove control characters, U+0000 and U+FFFD, and turn every kind of whitespace into a space.
    public var cleanText: Bool
    /// Put spaces around CJK ideographs so that each becomes a word of its own.
    public var handleChineseCharacters: Bool
    /// Decompose (NFD) and drop nonspacing marks; nil means "do it when lowercasing".
    public var stripAccents: Bool?
    /// Lowercase every character (character by character, like Rust's `char::to_lowercase`).
    public var lowercase: Bool

    /// Makes normalizer settings; the defaults are those of uncased BERT.
    public init(lowercase: Bool = true, stripAccents: Bool? = nil, cleanText: Bool = true,
                handleChineseCharacters: Bool = true) {
        self.lowercase = lowercase
        self.stripAccents = stripAccents
        self.cleanText = cleanText
        self.handleChineseCharacters = handleChineseCharacters
    }

    /// Whether accents are stripped once `stripAccents == nil` is resolved.
    public var stripsAccents: Bool { stripAccents ?? lowercase }
}

/// BERT's normalization and pre-tokenization, working on Unicode scalars throughout.
///
/// Normalization runs in the order of `tokenizers`' `BertNormalizer`: clean text, space out CJK
/// ideographs, strip accents (NFD, then drop Mn), lowercase. Pre-tokenization (`BertPreTokenizer`)
/// then splits on whitespace, and isolates every punctuation character as a word of its own.
public struct BasicTokenizer: Sendable {
    /// The normalizer settings.
    public var options: BertNormalizerOptions

    /// Makes a basic tokenizer with the given normalizer settings.
    public init(options: BertNormalizerOptions = BertNormalizerOptions()) {
        self.options = options
    }

    /// The normalized text (what the WordPiece model sees before the split into words).
    public func normalize(_ text: String) -> String {
        var out: [UInt32] = []
        normalize(Array(text.unicodeScalars.map(\.value))[...], into: &out)
        return BasicTokenizer.string(fromScalars: out[...])
    }

    /// The words of a text after normalization and pre-tokenization.
    public func tokenize(_ text: String) -> [String] {
        var out: [UInt32] = []
        normalize(Array(text.unicodeScalars.map(\.value))[...], into: &out)
        var words: [Range<Int>] = []
        BasicTokenizer.splitWords(out, 0..<out.count, into: &words)
        return words.map { BasicTokenizer.string(fromScalars: out[$0]) }
    }

    /// Appends the normalized form of `input` (scalar values) to `out`.
    func normalize(_ input: ArraySlice<UInt32>, into out: inout [UInt32]) {
        let start = out.count
        out.reserveCapacity(start + input.count + 8)
        let clean = options.cleanText
        let chinese = options.handleChineseCharacters
        let strip = options.stripsAccents
        var maybeDecomposable = false
        var allASCII = true
        for scalar in input {
            var v = scalar
            if clean {
                if BertCharClass.isRemovedByCleaning(v) { continue }
                if BertCharClass.isCleaningWhitespace(v) { v = 0x20 }
            }
            if v >= 0x80 {
                allASCII = false
                if v >= 0xC0 { maybeDecomposable = true }
                if chinese && BertCharClass.isChineseCharacter(v) {
                    out.append(0x20)
                    out.append(v)
                    out.append(0x20)
                    continue
                }
            }
            out.append(v)
        }
        if allASCII {
            if options.lowercase {
                for i in start..<out.count {
                    let v = out[i]
                    if v >= 0x41 && v <= 0x5A { out[i] = v | 0x20 }
                }
            }
            return
        }
        if strip {
            if maybeDecomposable { BasicTokenizer.decomposeCanonically(&out, from: start) }
            var w = start
            for i in start..<out.count {
                let v = out[i]
                if !BertCharClass.isNonspacingMark(v) {
                    out[w] = v
                    w += 1
                }
            }
            out.removeSubrange(w...)
        }
        if options.lowercase {
            var i = start
            while i < out.count {
                let v = out[i]
                if v < 0x80 {
                    if v >= 0x41 && v <= 0x5A { out[i] = v | 0x20 }
                    i += 1
                    continue
                }
                guard let s = Unicode.Scalar(v), s.properties.changesWhenLowercased else {
                    i += 1
                    continue
                }
                let lower = s.properties.lowercaseMapping.unicodeScalars.map(\.value)
                out.replaceSubrange(i..<(i + 1), with: lower)
                i += lower.count
            }
        }
    }

    /// Replaces `buffer[from...]` by its canonical decomposition (NFD), as `tokenizers` computes it.
    ///
    /// The text is decomposed in runs of at most about `nfdRun` scalars: Foundation's NFD of one
    /// long string grows faster than its length (a 1 MiB line of "é" took 6 s), and NFD(a + b) is
    /// NFD(a) + NFD(b) when b starts with a starter that decomposes to a starter (reordering only
    /// moves combining marks among themselves), so the runs are cut just before such a scalar.
    static func decomposeCanonically(_ buffer: inout [UInt32], from start: Int) {
        let input = Array(buffer[start...])
        buffer.removeSubrange(start...)
        var runStart = 0
        for i in 0...input.count {
            // Characters that Swift's newer Unicode data decomposes but `tokenizers` leaves whole;
            // each is a starter, so the text on either side can be decomposed separately.
            let keptWhole = i < input.count && keptWholeByNFD(input[i])
            let cut = i < input.count && !keptWhole && i - runStart >= nfdRun && startsStably(input[i])
            guard i == input.count || keptWhole || cut else { continue }
            if runStart < i {
                let text = string(fromScalars: input[runStart..<i])
                for s in text.decomposedStringWithCanonicalMapping.unicodeScalars { buffer.append(s.value) }
            }
            if keptWhole {
                buffer.append(input[i])
                runStart = i + 1
            } else {
                runStart = i
            }
        }
    }

    /// Length of the runs `decomposeCanonically` hands to Foundation at a time.
    static let nfdRun = 256

    /// Whether `v` is a starter (combining class 0) whose canonical decomposition also begins with
    /// a starter, so that decomposition never reorders anything across a cut made before it.
    static func startsStably(_ v: UInt32) -> Bool {
        if v < 0x80 { return true }
        guard let s = Unicode.Scalar(v), s.properties.canonicalCombiningClass == .notReordered else { return false }
        let first = String(Character(s)).decomposedStringWithCanonicalMapping.unicodeScalars.first
        return first.map { $0.properties.canonicalCombiningClass == .notReordered } ?? false
    }

    /// U+11938 DIVES AKURU VOWEL SIGN O got its decomposition in Unicode 13, after the tables of
    /// the `unicode-normalization-alignments` crate that `tokenizers` uses.
    @inline(__always)
    static func keptWholeByNFD(_ v: UInt32) -> Bool { v == 0x11938 }

    /// Splits `scalars[range]` (already normalized) into words: whitespace separates words and
    /// is dropped, and each punctuation character becomes a word of its own.
    static func splitWords(_ scalars: [UInt32], _ range: Range<Int>, into words: inout [Range<Int>]) {
        var wordStart = -1
        for i in range {
            let v = scalars[i]
            if BertCharClass.isWhitespace(v) {
                if wordStart >= 0 {
                    words.append(wordStart..<i)
                    wordStart = -1
                }
            } else if BertCharClass.isPunctuation(v) {
                if wordStart >= 0 {
                    words.append(wordStart..<i)
                    wordStart = -1
                }
                words.append(i..<(i + 1))
            } else if wordStart < 0 {
                wordStart = i
            }
        }
        if wordStart >= 0 { words.append(wordStart..<range.upperBound) }
    }

    /// Makes a String from scalar values (invalid values, which cannot occur, are skipped).
    static func string(fromScalars scalars: ArraySlice<UInt32>) -> String {
        var view = String.UnicodeScalarView()
        for v in scalars {
            if let s = Unicode.Scalar(v) { view.append(s) }
        }
        return String(view)
    }
}
