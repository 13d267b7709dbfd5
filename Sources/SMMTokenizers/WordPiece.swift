import Foundation

// Greedy longest-match-first WordPiece (the `WordPiece` model of Hugging Face `tokenizers`).
//
// Vocabulary look-ups are keyed by the exact UTF-8 bytes of a token. A `[String: Int]` would be
// wrong as well as slow: Swift compares strings by canonical equivalence, so "é" (U+00E9) and
// "e\u{301}" would be the same key, while `tokenizers` tells them apart.

/// An immutable open-addressing hash table from UTF-8 byte strings to ids.
///
/// Built once, then only read, so sharing it between threads is safe.
final class UTF8KeyTable: @unchecked Sendable {
    private struct Slot {
        var hash: UInt32
        var length: Int32  // -1 marks an empty slot
        var offset: Int32
        var id: Int32
    }

    private let slots: UnsafeMutablePointer<Slot>
    private let mask: Int
    private let keys: UnsafeMutablePointer<UInt8>
    /// Number of distinct keys.
    let count: Int
    /// Length in bytes of the longest key (0 when empty).
    let maxKeyLength: Int

    /// Builds the table; a key given twice keeps the id given last (as `tokenizers` does for a
    /// token that appears twice in `vocab.txt`).
    init(entries: [(key: ArraySlice<UInt8>, id: Int)]) {
        var capacity = 16
        while capacity < entries.count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        let slots = UnsafeMutablePointer<Slot>.allocate(capacity: capacity)
        slots.initialize(repeating: Slot(hash: 0, length: -1, offset: 0, id: 0), count: capacity)
        let totalBytes = entries.reduce(0) { $0 + $1.key.count }
        let keys = UnsafeMutablePointer<UInt8>.allocate(capacity: max(totalBytes, 1))
        var used = 0
        var distinct = 0
        var longest = 0
        for (key, id) in entries {
            key.withUnsafeBufferPointer { kb in
                let n = kb.count
                let h = UTF8KeyTable.hash(kb.baseAddress, n)
                var i = Int(truncatingIfNeeded: h) & mask
                while slots[i].length >= 0 {
                    let s = slots[i]
                    if s.hash == h && Int(s.length) == n && (n == 0 || memcmp(keys + Int(s.offset), kb.baseAddress!, n) == 0) {
                        break
                    }
                    i = (i + 1) & mask
                }
                if slots[i].length >= 0 {
                    slots[i].id = Int32(truncatingIfNeeded: id)  // the same key again: the last id wins
                    return
                }
                if n > 0 { (keys + used).update(from: kb.baseAddress!, count: n) }
                slots[i] = Slot(hash: h, length: Int32(n), offset: Int32(used), id: Int32(truncatingIfNeeded: id))
                used += n
                distinct += 1
                longest = max(longest, n)
            }
        }
        self.slots = slots
        self.keys = keys
        self.mask = mask
        count = distinct
        maxKeyLength = longest
    }

    deinit {
        slots.deallocate()
        keys.deallocate()
    }

    @inline(__always)
    private static func hash(_ p: UnsafePointer<UInt8>?, _ n: Int) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        guard let p else { return h }
        for i in 0..<n {
            h = (h ^ UInt32(p[i])) &* 16_777_619
        }
        return h
    }

    /// The id stored for the `n` bytes at `p`, or -1.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        if n > maxKeyLength { return -1 }
        let h = UTF8KeyTable.hash(p, n)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s.length < 0 { return -1 }
            if s.hash == h && Int(s.length) == n && memcmp(keys + Int(s.offset), p, n) == 0 {
                return Int(s.id)
            }
            i = (i + 1) & mask
        }
    }

    /// The id stored for `key`, or nil.
    func lookup(_ key: String) -> Int? {
        var key = key
        return key.withUTF8 { b -> Int? in
            guard let base = b.baseAddress, b.count > 0 else { return nil }
            let id = lookup(base, b.count)
            return id >= 0 ? id : nil
        }
    }
}

/// The WordPiece model: splits one pre-tokenized word into the longest vocabulary pieces,
/// left to right, marking every piece after the first with the continuation prefix (`##`).
///
/// A word longer than `maxInputCharactersPerWord` Unicode scalars, or one that cannot be covered
/// by vocabulary pieces, becomes a single unknown token, exactly as in Hugging Face `tokenizers`.
public struct WordPiece: Sendable {
    /// Token string for each id (nil for ids that no token maps to).
    let idToToken: [String?]
    /// Whole-vocabulary table (pieces that start a word).
    let wordStarts: UTF8KeyTable
    /// Pieces that begin with the continuation prefix, stored without it.
    let continuations: UTF8KeyTable
    /// The unknown token, e.g. `[UNK]`.
    public let unknownToken: String
    /// Id of `unknownToken`.
    public let unknownID: Int
    /// Prefix of pieces that continue a word, `##` for BERT.
    public let continuingSubwordPrefix: String
    /// Words with more Unicode scalars than this become `unknownToken` (100 for BERT).
    public let maxInputCharactersPerWord: Int

    /// Builds the model from token strings indexed by id.
    ///
    /// - Throws: `TokenizerError.missingSpecialToken` when `unknownToken` is not in the vocabulary.
    public init(vocabulary: [String], unknownToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharactersPerWord: Int = 100) throws {
        try self.init(tokenIDs: vocabulary.enumerated().map { ($0.element, $0.offset) },
                      unknownToken: unknownToken, continuingSubwordPrefix: continuingSubwordPrefix,
                      maxInputCharactersPerWord: maxInputCharactersPerWord)
    }

    /// Builds the model from (token, id) pairs; a token listed twice keeps the id listed last.
    init(tokenIDs: [(String, Int)], unknownToken: String, continuingSubwordPrefix: String,
         maxInputCharactersPerWord: Int) throws {
        let prefix = Array(continuingSubwordPrefix.utf8)
        var all: [(key: ArraySlice<UInt8>, id: Int)] = []
        var cont: [(key: ArraySlice<UInt8>, id: Int)] = []
        all.reserveCapacity(tokenIDs.count)
        var maxID = -1
        for (token, id) in tokenIDs {
            guard TokenizerLimits.accepts(id) else {
                throw TokenizerError.invalidInput("vocabulary token \"\(token)\" has id \(id), outside 0 ..< \(TokenizerLimits.maxTokenID)")
            }
            let bytes = Array(token.utf8)[...]
            all.append((bytes, id))
            if !prefix.isEmpty, bytes.count >= prefix.count, bytes.starts(with: prefix) {
                cont.append((bytes.dropFirst(prefix.count), id))
            } else if prefix.isEmpty {
                cont.append((bytes, id))
            }
            maxID = max(maxID, id)
        }
        var names = [String?](repeating: nil, count: maxID + 1)
        for (token, id) in tokenIDs where id >= 0 { names[id] = token }
        idToToken = names
        wordStarts = UTF8KeyTable(entries: all)
        continuations = UTF8KeyTable(entries: cont)
        guard let unk = wordStarts.lookup(unknownToken) else {
            throw TokenizerError.missingSpecialToken(unknownToken)
        }
        self.unknownToken = unknownToken
        self.unknownID = unk
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
    }

    /// Number of ids (the largest id plus one).
    public var vocabularySize: Int { idToToken.count }

    /// Splits one word (already normalized and pre-tokenized) into piece ids.
    public func tokenize(word: String) -> [Int] {
        var bytes = Array(word.utf8)
        var bounds: [Int32] = [0]
        var offset: Int32 = 0
        for s in word.unicodeScalars {
            offset += Int32(UTF8.width(s))
            bounds.append(offset)
        }
        var ids: [Int] = []
        bytes.withUnsafeMutableBufferPointer { b in
            bounds.withUnsafeBufferPointer { bd in
                guard let base = b.baseAddress else { return }
                tokenize(utf8: UnsafePointer(base), bounds: bd.baseAddress!, scalarRange: 0..<(bd.count - 1), into: &ids)
            }
        }
        return ids
    }

    /// The hot path: splits the word whose scalars are `scalarRange` of a UTF-8 buffer, where
    /// `bounds[i]` is the byte offset of scalar `i` (and `bounds[n]` the end), appending piece ids.
    @inline(__always)
    func tokenize(utf8: UnsafePointer<UInt8>, bounds: UnsafePointer<Int32>, scalarRange: Range<Int>,
                  into ids: inout [Int]) {
        let n = scalarRange.count
        if n == 0 { return }
        if n > maxInputCharactersPerWord {
            ids.append(unknownID)
            return
        }
        let firstPiece = ids.count
        var start = scalarRange.lowerBound
        let wordEnd = scalarRange.upperBound
        while start < wordEnd {
            let table = start == scalarRange.lowerBound ? wordStarts : continuations
            let startByte = Int(bounds[start])
            // No piece is longer than the longest key, so skip ends that cannot match.
            var end = wordEnd
            let limit = table.maxKeyLength
            while end > start && Int(bounds[end]) - startByte > limit { end -= 1 }
            var found = -1
            while end > start {
                let id = table.lookup(utf8 + startByte, Int(bounds[end]) - startByte)
                if id >= 0 {
                    found = id
                    break
                }
                end -= 1
            }
            if found < 0 {
                ids.removeSubrange(firstPiece...)
                ids.append(unknownID)
                return
            }
            ids.append(found)
            start = end
        }
    }

    /// The token string for an id, or nil when the id is outside the vocabulary.
    public func token(forID id: Int) -> String? {
        guard id >= 0 && id < idToToken.count else { return nil }
        return idToToken[id]
    }

    /// The id for a token string (exact UTF-8 match), or nil.
    public func id(forToken token: String) -> Int? {
        wordStarts.lookup(token)
    }
}
