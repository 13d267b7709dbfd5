/// The bytes each token id stands for, shared (read-only) between a `GPT2Tokenizer` and the
/// streaming decoders it makes.
final class TokenByteTable: Sendable {
    /// All tokens' bytes back to back.
    let bytes: [UInt8]
    /// `bytes[offsets[id]..<offsets[id + 1]]` are the bytes of `id`; ids without a token have an
    /// empty range and `present[id] == false`.
    let offsets: [Int]
    /// Whether the id has a token at all.
    let present: [Bool]
    /// Whether the id is a special token (left out by `skipSpecialTokens`).
    let special: [Bool]

    init(tokenBytes: [[UInt8]?], special: [Bool]) {
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        var present: [Bool] = []
        offsets.reserveCapacity(tokenBytes.count + 1)
        present.reserveCapacity(tokenBytes.count)
        for token in tokenBytes {
            if let token { bytes.append(contentsOf: token) }
            offsets.append(bytes.count)
            present.append(token != nil)
        }
        self.bytes = bytes
        self.offsets = offsets
        self.present = present
        self.special = special
    }

    /// Number of ids the table covers.
    var count: Int { present.count }

    /// Appends the bytes of `id` to `output`; throws `.unknownID` for an id without a token.
    @inline(__always)
    func append(_ id: Int, to output: inout [UInt8], skipSpecialTokens: Bool) throws {
        guard id >= 0, id < present.count, present[id] else { throw TokenizerError.unknownID(id) }
        if skipSpecialTokens && special[id] { return }
        output.append(contentsOf: bytes[offsets[id]..<offsets[id + 1]])
    }
}

/// Decodes token ids to text one id at a time, for showing generated text as it is produced.
///
/// Byte-level BPE tokens are bytes, not characters: an emoji or a CJK character is often split
/// across two or three tokens. `append(_:)` returns only text whose UTF-8 is complete and holds
/// back the bytes of a character that has not been finished yet; `finish()` flushes what is left
/// (bytes that never formed a valid character become U+FFFD). Concatenating every returned
/// string gives exactly `tokenizer.decode(ids, skipSpecialTokens:)`.
///
///     var stream = tokenizer.makeStreamingDecoder()
///     for id in generatedIDs { print(try stream.append(id), terminator: "") }
///     print(stream.finish())
public struct StreamingDecoder: Sendable {
    private let table: TokenByteTable
    private let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    init(table: TokenByteTable, skipSpecialTokens: Bool) {
        self.table = table
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Number of bytes held back because they do not form a complete character yet.
    public var pendingByteCount: Int { pending.count }

    /// Adds one token id and returns the text that became complete (often empty while a
    /// multi-byte character is still being built). Throws `TokenizerError.unknownID` for an id
    /// outside the vocabulary, leaving the decoder unchanged.
    public mutating func append(_ id: Int) throws -> String {
        try table.append(id, to: &pending, skipSpecialTokens: skipSpecialTokens)
        let cut = Self.completePrefixLength(pending)
        if cut == 0 { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is still held back, with invalid or unfinished sequences as U+FFFD, and
    /// empties the decoder so it can be used again.
    public mutating func finish() -> String {
        defer { pending.removeAll(keepingCapacity: true) }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The length of the longest prefix that can be decoded now: everything except a trailing,
    /// so-far valid but unfinished UTF-8 sequence. Invalid bytes are not held back (they decode
    /// to U+FFFD the same way whether now or later).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        var i = count - 1
        var continuations = 0
        while i >= 0 && continuations < 3 && bytes[i] & 0xC0 == 0x80 {
            i -= 1
            continuations += 1
        }
        guard i >= 0 else { return count }
        let lead = bytes[i]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return count
        }
        let available = count - i
        if available >= needed { return count }
        if available >= 2 {
            let second = bytes[i + 1]
            let valid: Bool
            switch lead {
            case 0xE0: valid = (0xA0...0xBF).contains(second)
            case 0xED: valid = (0x80...0x9F).contains(second)
            case 0xF0: valid = (0x90...0xBF).contains(second)
            case 0xF4: valid = (0x80...0x8F).contains(second)
            default: valid = true
            }
            if !valid { return count }
        }
        return i
    }
}
