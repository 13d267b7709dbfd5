import Foundation
import SMMJSON

/// GPT-2's byte-level BPE tokenizer, giving the same ids as Hugging Face's `GPT2TokenizerFast`
/// (the `tokenizers` library's `ByteLevel` pre-tokenizer + BPE model + `ByteLevel` decoder).
///
/// Encoding: added tokens such as `<|endoftext|>` written literally in the text are split out first
/// and mapped straight to their ids (as the fast tokenizer does); the text between them is split
/// by GPT-2's pre-tokenization regex (see `GPT2PreTokenizer`), each piece's UTF-8 bytes are mapped
/// to the byte-level alphabet (see `ByteLevel`) and merged by rank (see `BytePairEncoder`).
/// No special tokens are added around the text.
///
/// Decoding maps every token back to its bytes, so `decode(encode(x)) == x` for every string.
///
/// The tokenizer is an immutable value (`Sendable`); share it freely between tasks.
public struct GPT2Tokenizer: Tokenizer {
    /// A token from `tokenizer.json`'s `added_tokens` (or a special token given to
    /// `init(vocabulary:merges:specialTokens:)`), matched in the raw text before pre-tokenization.
    public struct AddedToken: Sendable, Equatable {
        /// The token's text, matched literally.
        public var content: String
        /// Its id.
        public var id: Int
        /// Special tokens are left out by `decode(_:skipSpecialTokens: true)`.
        public var isSpecial: Bool
        /// Also swallow the whitespace just before a match (`lstrip`).
        public var leftStrip: Bool
        /// Also swallow the whitespace just after a match (`rstrip`).
        public var rightStrip: Bool
        /// Only match when not inside a word (`single_word`).
        public var singleWord: Bool

        /// Makes an added token; by default a special token that matches anywhere, stripping nothing.
        public init(content: String, id: Int, isSpecial: Bool = true, leftStrip: Bool = false,
                    rightStrip: Bool = false, singleWord: Bool = false) {
            self.content = content
            self.id = id
            self.isSpecial = isSpecial
            self.leftStrip = leftStrip
            self.rightStrip = rightStrip
            self.singleWord = singleWord
        }
    }

    /// Pre-tokenizer settings read from `tokenizer.json` (GPT-2 uses the defaults).
    struct Options: Sendable {
        /// `ByteLevel.add_prefix_space`: put a space before text that does not start with one.
        var addPrefixSpace = false
        /// `ByteLevel.use_regex`: split with GPT-2's regex (else each text segment is one word).
        var useRegex = true
        /// `BPE.ignore_merges`: a word that is itself in the vocabulary is taken whole.
        var ignoreMerges = false
        /// `BPE.unk_token`.
        var unknownToken: String?
        /// `BPE.fuse_unk`.
        var fuseUnknown = false
    }

    /// Everything the tokenizer needs, built once and shared by copies of the struct.
    private final class Storage: Sendable {
        let vocabulary: [String: Int]
        let merges: [(String, String)]
        let addedTokens: [AddedToken]
        let options: Options
        let encoder: BytePairEncoder
        let idToToken: [String?]
        let byteTable: TokenByteTable
        /// Added tokens' UTF-8, longest first (leftmost-longest matching).
        let addedTokenBytes: [[UInt8]]
        /// Indexes into `addedTokens`, parallel to `addedTokenBytes`.
        let addedTokenOrder: [Int]
        /// Whether some added token starts with this byte.
        let addedFirstByte: [Bool]
        let endOfTextID: Int?

        init(vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken],
             options: Options, source: String) throws {
            // Vocabulary ids.
            var size = 0
            for (token, id) in vocabulary {
                guard TokenizerLimits.accepts(id) else {
                    throw TokenizerError.invalidFile(path: source, reason: "token \(debugQuote(token)) has id \(id), outside 0 ..< \(TokenizerLimits.maxTokenID)")
                }
                size = max(size, id + 1)
            }
            for token in addedTokens {
                guard TokenizerLimits.accepts(token.id) else {
                    throw TokenizerError.invalidFile(path: source, reason: "added token \(debugQuote(token.content)) has id \(token.id), outside 0 ..< \(TokenizerLimits.maxTokenID)")
                }
                guard !token.content.isEmpty else {
                    throw TokenizerError.invalidFile(path: source, reason: "added token \(token.id) is empty")
                }
                size = max(size, token.id + 1)
            }
            var idToToken = [String?](repeating: nil, count: size)
            for (token, id) in vocabulary {
                // Two tokens on one id would encode different text to the same token.
                if let existing = idToToken[id] {
                    let (a, b) = existing < token ? (existing, token) : (token, existing)
                    throw TokenizerError.invalidFile(path: source, reason: "tokens \(debugQuote(a)) and \(debugQuote(b)) have the same id \(id)")
                }
                idToToken[id] = token
            }
            for token in addedTokens { idToToken[token.id] = token.content }

            // Byte symbols.
            var byteIDs = [Int32](repeating: -1, count: 256)
            for b in 0..<256 {
                if let id = vocabulary[String(ByteLevel.byteToScalar[b])] { byteIDs[b] = Int32(id) }
            }

            // Merge rules, checked against the vocabulary. A repeated pair keeps its last rank,
            // as in Hugging Face.
            var rules: [UInt64: BytePairEncoder.Merge] = [:]
            rules.reserveCapacity(merges.count)
            for (rank, (a, b)) in merges.enumerated() {
                guard let left = vocabulary[a] else {
                    throw TokenizerError.invalidFile(path: source, reason: "merge \(rank + 1) (\(debugQuote(a + " " + b))): \(debugQuote(a)) is not in the vocabulary")
                }
                guard let right = vocabulary[b] else {
                    throw TokenizerError.invalidFile(path: source, reason: "merge \(rank + 1) (\(debugQuote(a + " " + b))): \(debugQuote(b)) is not in the vocabulary")
                }
                guard let merged = vocabulary[a + b] else {
                    throw TokenizerError.invalidFile(path: source, reason: "merge \(rank + 1) (\(debugQuote(a + " " + b))): the merged token \(debugQuote(a + b)) is not in the vocabulary")
                }
                rules[BytePairEncoder.pairKey(Int32(left), Int32(right))] =
                    .init(rank: Int32(rank), newID: Int32(merged))
            }

            var unknownID: Int32?
            if let unk = options.unknownToken {
                guard let id = vocabulary[unk] else {
                    throw TokenizerError.invalidFile(path: source, reason: "unk_token \(debugQuote(unk)) is not in the vocabulary")
                }
                unknownID = Int32(id)
            }

            // Bytes of every id: vocabulary tokens through the byte-level table, added tokens as
            // their own UTF-8 (that is the text they were matched from).
            var tokenBytes = [[UInt8]?](repeating: nil, count: size)
            var special = [Bool](repeating: false, count: size)
            for (id, token) in idToToken.enumerated() {
                if let token { tokenBytes[id] = ByteLevel.bytes(ofToken: token) }
            }
            for token in addedTokens {
                tokenBytes[token.id] = Array(token.content.utf8)
                if token.isSpecial { special[token.id] = true }
            }

            let order = addedTokens.indices.sorted {
                let a = addedTokens[$0].content.utf8.count, b = addedTokens[$1].content.utf8.count
                return a != b ? a > b : $0 < $1
            }
            var firstByte = [Bool](repeating: false, count: 256)
            for token in addedTokens { firstByte[Int(token.content.utf8.first!)] = true }

            self.vocabulary = vocabulary
            self.merges = merges
            self.addedTokens = addedTokens
            self.options = options
            self.encoder = BytePairEncoder(byteIDs: byteIDs, merges: rules, unknownID: unknownID,
                                           fuseUnknown: options.fuseUnknown)
            self.idToToken = idToToken
            self.byteTable = TokenByteTable(tokenBytes: tokenBytes, special: special)
            self.addedTokenOrder = order
            self.addedTokenBytes = order.map { Array(addedTokens[$0].content.utf8) }
            self.addedFirstByte = firstByte
            self.endOfTextID = addedTokens.first(where: { $0.content == "<|endoftext|>" })?.id
                ?? vocabulary["<|endoftext|>"]
        }
    }

    private let storage: Storage

    // MARK: - Loading

    /// Builds a tokenizer from an in-memory vocabulary (byte-level token → id), merge rules in
    /// rank order, and special tokens (text → id) to be split out of the input before
    /// pre-tokenization and left out by `skipSpecialTokens`.
    ///
    /// Throws `TokenizerError.invalidFile` when a merge names a token (or yields a merged token)
    /// that is not in the vocabulary, or an id is negative.
    public init(vocabulary: [String: Int], merges: [(String, String)], specialTokens: [String: Int]) throws {
        let added = specialTokens.sorted { $0.value < $1.value }.map { AddedToken(content: $0.key, id: $0.value) }
        try self.init(vocabulary: vocabulary, merges: merges, addedTokens: added, options: Options(),
                      source: "<in-memory vocabulary>")
    }

    /// Builds a tokenizer from an in-memory vocabulary, merges and added tokens (with their
    /// matching options).
    public init(vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken]) throws {
        try self.init(vocabulary: vocabulary, merges: merges, addedTokens: addedTokens, options: Options(),
                      source: "<in-memory vocabulary>")
    }

    init(vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken],
         options: Options, source: String) throws {
        storage = try Storage(vocabulary: vocabulary, merges: merges, addedTokens: addedTokens,
                              options: options, source: source)
    }

    /// Loads GPT-2's `vocab.json` (token → id) and `merges.txt` (one `a b` pair a line, in rank
    /// order; a first `#version` line, blank lines and `\r\n` line ends are tolerated).
    ///
    /// `<|endoftext|>`, when in the vocabulary, is registered as a special token, as
    /// `GPT2TokenizerFast` does. Throws `TokenizerError.fileNotFound` or `.invalidFile` (with the
    /// path) for a missing or malformed file or a merge that does not fit the vocabulary.
    public init(vocabularyFile: URL, mergesFile: URL) throws {
        let vocabulary = try Self.readVocabulary(vocabularyFile)
        let merges = try Self.readMerges(mergesFile)
        var added: [AddedToken] = []
        if let eot = vocabulary["<|endoftext|>"] { added.append(AddedToken(content: "<|endoftext|>", id: eot)) }
        try self.init(vocabulary: vocabulary, merges: merges, addedTokens: added, options: Options(),
                      source: mergesFile.path)
    }

    /// Loads a Hugging Face `tokenizer.json` whose model is BPE with a `ByteLevel` pre-tokenizer
    /// (GPT-2, DistilGPT-2, …): the vocabulary, the merges (as `"a b"` strings or `["a", "b"]`
    /// pairs) and `added_tokens`.
    ///
    /// Throws `TokenizerError.fileNotFound` for a missing file and `.invalidFile` for malformed
    /// JSON, a model that is not BPE, or a pipeline this tokenizer cannot reproduce (a normalizer,
    /// a pre-tokenizer other than `ByteLevel`, subword prefixes or suffixes).
    public init(tokenizerJSON: URL) throws {
        let path = tokenizerJSON.path
        let data = try Self.readData(tokenizerJSON)
        let file: GPT2TokenizerFile
        do {
            file = try GPT2TokenizerFile(try JSONParser.parse([UInt8](data)))
        } catch let error as JSONParseError {
            throw TokenizerError.invalidFile(path: path, reason: "malformed JSON: \(error)")
        } catch let error as GPT2TokenizerFile.Invalid {
            throw TokenizerError.invalidFile(path: path, reason: error.reason)
        }
        let model = file.model
        if let prefix = model.continuingSubwordPrefix, !prefix.isEmpty {
            throw TokenizerError.invalidFile(path: path, reason: "continuing_subword_prefix \(debugQuote(prefix)) is not supported")
        }
        if let suffix = model.endOfWordSuffix, !suffix.isEmpty {
            throw TokenizerError.invalidFile(path: path, reason: "end_of_word_suffix \(debugQuote(suffix)) is not supported")
        }
        if let normalizer = file.normalizer {
            throw TokenizerError.invalidFile(path: path, reason: "normalizer \(normalizer.type ?? "?") is not supported (GPT-2 has none)")
        }
        var options = Options()
        options.ignoreMerges = model.ignoreMerges ?? false
        options.unknownToken = model.unknownToken
        options.fuseUnknown = model.fuseUnknown ?? false
        if let pre = file.preTokenizer {
            var byteLevel: GPT2TokenizerFile.PreTokenizer?
            if pre.type == "ByteLevel" {
                byteLevel = pre
            } else if pre.type == "Sequence", let list = pre.pretokenizers, list.count == 1, list[0].type == "ByteLevel" {
                byteLevel = list[0]
            }
            guard let byteLevel else {
                throw TokenizerError.invalidFile(path: path, reason: "pre_tokenizer \(pre.type ?? "?") is not supported (expected ByteLevel)")
            }
            options.addPrefixSpace = byteLevel.addPrefixSpace ?? false
            options.useRegex = byteLevel.useRegex ?? true
        }
        let added = (file.addedTokens ?? []).map {
            AddedToken(content: $0.content, id: $0.id, isSpecial: $0.special ?? false,
                       leftStrip: $0.lstrip ?? false, rightStrip: $0.rstrip ?? false,
                       singleWord: $0.singleWord ?? false)
        }
        try self.init(vocabulary: model.vocab, merges: model.merges.map { ($0.left, $0.right) },
                      addedTokens: added, options: options, source: path)
    }

    /// Loads the tokenizer in a model directory: `tokenizer.json` when present, otherwise
    /// `vocab.json` + `merges.txt`. Throws `TokenizerError.fileNotFound` naming what was looked
    /// for when neither is there.
    public static func load(directory: URL) throws -> GPT2Tokenizer {
        let fm = FileManager.default
        let json = directory.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: json.path) { return try GPT2Tokenizer(tokenizerJSON: json) }
        let vocab = directory.appendingPathComponent("vocab.json")
        let merges = directory.appendingPathComponent("merges.txt")
        let hasVocab = fm.fileExists(atPath: vocab.path), hasMerges = fm.fileExists(atPath: merges.path)
        if hasVocab || hasMerges { return try GPT2Tokenizer(vocabularyFile: vocab, mergesFile: merges) }
        throw TokenizerError.fileNotFound("\(json.path) (or vocab.json + merges.txt in \(directory.path))")
    }

    // MARK: - Vocabulary

    /// Number of ids: the largest id (vocabulary or added token) plus one.
    public var vocabularySize: Int { storage.idToToken.count }

    /// The byte-level vocabulary (`"Ġthe"` → 262), as loaded; added tokens not in it are in `addedTokens`.
    public var vocabulary: [String: Int] { storage.vocabulary }

    /// The merge rules in rank order (first merges first), as loaded.
    public var merges: [(String, String)] { storage.merges }

    /// The added tokens (`<|endoftext|>` and any from `tokenizer.json`), matched before pre-tokenization.
    public var addedTokens: [AddedToken] { storage.addedTokens }

    /// The special added tokens, text → id.
    public var specialTokens: [String: Int] {
        Dictionary(storage.addedTokens.filter(\.isSpecial).map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
    }

    /// The id of `<|endoftext|>`, or nil when the vocabulary has none.
    public var endOfTextID: Int? { storage.endOfTextID }

    /// The token string for an id (`"Ġthe"`, `"<|endoftext|>"`), or nil outside the vocabulary.
    public func token(forID id: Int) -> String? {
        guard id >= 0, id < storage.idToToken.count else { return nil }
        return storage.idToToken[id]
    }

    /// The id of a token string (byte-level form, or an added token's text), or nil.
    public func id(forToken token: String) -> Int? {
        if let id = storage.vocabulary[token] { return id }
        return storage.addedTokens.first(where: { $0.content == token })?.id
    }

    // MARK: - Encoding

    /// Encodes text into ids and token strings. No special tokens are added; `typeIDs` are all
    /// zero and `attentionMask` all one. Never fails for GPT-2 (every byte has a token).
    public func encode(_ text: String) throws -> Encoding {
        let ids = encodeIDs(text)
        let table = storage.idToToken
        return Encoding(ids: ids, tokens: ids.map { table[$0] ?? "" })
    }

    /// Encodes text into ids only (the fast path).
    public func encodeIDs(_ text: String) -> [Int] {
        var output: [Int] = []
        output.reserveCapacity(text.utf8.count / 3 + 1)
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { encode($0, into: &output) }
        if done == nil {
            let bytes = Array(text.utf8)
            bytes.withUnsafeBufferPointer { encode($0, into: &output) }
        }
        return output
    }

    private func encode(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int]) {
        let s = storage
        if s.addedTokens.isEmpty {
            encodeSegment(bytes, 0..<bytes.count, into: &output)
            return
        }
        var segmentStart = 0
        var position = 0
        let count = bytes.count
        while position < count {
            guard s.addedFirstByte[Int(bytes[position])],
                  let match = matchAddedToken(bytes, at: position) else {
                position += 1
                continue
            }
            let (k, matchEnd) = match
            let token = s.addedTokens[s.addedTokenOrder[k]]
            if token.singleWord && !isWordBoundary(bytes, start: position, end: matchEnd) {
                position = matchEnd
                continue
            }
            var start = position, end = matchEnd
            if token.leftStrip {
                while start > segmentStart, let previous = scalarBefore(bytes, start),
                      previous.0.properties.isWhitespace {
                    start -= previous.1
                }
            }
            if token.rightStrip {
                while end < count, let following = scalarAt(bytes, end), following.0.properties.isWhitespace {
                    end += following.1
                }
            }
            encodeSegment(bytes, segmentStart..<start, into: &output)
            output.append(token.id)
            segmentStart = end
            position = end
        }
        encodeSegment(bytes, segmentStart..<count, into: &output)
    }

    /// The longest added token matching at `position`: its index in the length-sorted list and
    /// the end of the match.
    private func matchAddedToken(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int) -> (Int, Int)? {
        let candidates = storage.addedTokenBytes
        for (k, candidate) in candidates.enumerated() where position + candidate.count <= bytes.count {
            var equal = true
            for (offset, b) in candidate.enumerated() where bytes[position + offset] != b {
                equal = false
                break
            }
            if equal { return (k, position + candidate.count) }
        }
        return nil
    }

    private func isWordBoundary(_ bytes: UnsafeBufferPointer<UInt8>, start: Int, end: Int) -> Bool {
        func isWordScalar(_ s: Unicode.Scalar) -> Bool {
            s.properties.isAlphabetic || s.properties.numericType != nil || s == "_"
        }
        if let previous = scalarBefore(bytes, start), isWordScalar(previous.0) { return false }
        if let following = scalarAt(bytes, end), isWordScalar(following.0) { return false }
        return true
    }

    private func scalarAt(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int)? {
        guard i < bytes.count else { return nil }
        var length = 1
        while i + length < bytes.count && bytes[i + length] & 0xC0 == 0x80 { length += 1 }
        let scalar = String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<(i + length)]), as: UTF8.self)
            .unicodeScalars.first!
        return (scalar, length)
    }

    private func scalarBefore(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int)? {
        guard i > 0 else { return nil }
        var start = i - 1
        while start > 0 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
        return scalarAt(bytes, start).map { ($0.0, i - start) }
    }

    /// Pre-tokenizes and merges the text between added tokens.
    private func encodeSegment(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into output: inout [Int]) {
        if range.isEmpty { return }
        let s = storage
        if s.options.addPrefixSpace && bytes[range.lowerBound] != 0x20 {
            let prefixed = [0x20] + Array(bytes[range])
            prefixed.withUnsafeBufferPointer { buffer in
                encodePieces(buffer, 0..<buffer.count, into: &output)
            }
        } else {
            encodePieces(bytes, range, into: &output)
        }
    }

    private func encodePieces(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into output: inout [Int]) {
        let s = storage
        let encoder = s.encoder
        let ignoreMerges = s.options.ignoreMerges
        func body(_ piece: Range<Int>) {
            if ignoreMerges, let id = s.vocabulary[ByteLevel.encode(bytes[piece])] {
                output.append(id)
            } else {
                encoder.encodeWord(bytes, piece, into: &output)
            }
        }
        if s.options.useRegex {
            GPT2PreTokenizer.split(bytes, range, body)
        } else {
            body(range)
        }
    }

    // MARK: - Decoding

    /// Turns ids back into text: every token's bytes, concatenated and read as UTF-8 (bytes that
    /// do not form valid UTF-8 become U+FFFD). With `skipSpecialTokens`, special added tokens
    /// (`<|endoftext|>`) are left out. Throws `TokenizerError.unknownID` for an id outside the
    /// vocabulary.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) throws -> String {
        let bytes = try decodeBytes(ids, skipSpecialTokens: skipSpecialTokens)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The raw bytes the ids stand for (special tokens included). Throws
    /// `TokenizerError.unknownID` for an id outside the vocabulary.
    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        try decodeBytes(ids, skipSpecialTokens: false)
    }

    /// The raw bytes the ids stand for, optionally leaving out special tokens.
    public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        let table = storage.byteTable
        for id in ids { try table.append(id, to: &bytes, skipSpecialTokens: skipSpecialTokens) }
        return bytes
    }

    /// A decoder to be fed ids one at a time (for generation), returning only complete text.
    public func makeStreamingDecoder() -> StreamingDecoder {
        StreamingDecoder(table: storage.byteTable, skipSpecialTokens: false)
    }

    /// A streaming decoder that optionally leaves out special tokens.
    public func makeStreamingDecoder(skipSpecialTokens: Bool) -> StreamingDecoder {
        StreamingDecoder(table: storage.byteTable, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: - File reading

    private static func readData(_ url: URL) throws -> Data { try BertVocabularyFile.readFile(url) }

    static func readVocabulary(_ url: URL) throws -> [String: Int] {
        let data = try readData(url)
        let vocabulary: [String: Int]
        do {
            vocabulary = try GPT2TokenizerFile.vocabulary(try JSONParser.parse([UInt8](data)), at: "the top level")
        } catch let error as JSONParseError {
            throw TokenizerError.invalidFile(path: url.path, reason: "expected a JSON object of token → id: malformed JSON: \(error)")
        } catch let error as GPT2TokenizerFile.Invalid {
            throw TokenizerError.invalidFile(path: url.path, reason: "expected a JSON object of token → id: \(error.reason)")
        }
        if let (token, id) = vocabulary.first(where: { $0.value < 0 }) {
            throw TokenizerError.invalidFile(path: url.path, reason: "token \(debugQuote(token)) has negative id \(id)")
        }
        // Checked here too (the initializer checks any vocabulary) so that the error names this file.
        var tokenOfID: [Int: String] = [:]
        for (token, id) in vocabulary.sorted(by: { $0.key < $1.key }) {
            if let other = tokenOfID.updateValue(token, forKey: id) {
                throw TokenizerError.invalidFile(path: url.path, reason: "tokens \(debugQuote(other)) and \(debugQuote(token)) have the same id \(id)")
            }
        }
        return vocabulary
    }

    static func readMerges(_ url: URL) throws -> [(String, String)] {
        let data = try readData(url)
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var merges: [(String, String)] = []
        merges.reserveCapacity(bytes.count / 8)
        var lineNumber = 0
        for var line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty { continue }
            if line.starts(with: Array("#version".utf8)) { continue }
            let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalidFile(path: url.path, reason: "line \(lineNumber): expected two tokens separated by one space, got \(debugQuote(String(decoding: line, as: UTF8.self)))")
            }
            guard let a = String(validating: parts[0], as: UTF8.self),
                  let b = String(validating: parts[1], as: UTF8.self) else {
                throw TokenizerError.invalidFile(path: url.path, reason: "line \(lineNumber): not valid UTF-8")
            }
            merges.append((a, b))
        }
        return merges
    }
}

/// Quotes a string for an error message, escaping what would be invisible, cut to 80 characters
/// (a binary file's "line" can be kilobytes).
func debugQuote(_ s: String) -> String {
    s.count > 80 ? String(reflecting: String(s.prefix(80))) + "… (\(s.utf8.count) bytes)" : String(reflecting: s)
}
