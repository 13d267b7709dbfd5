import Foundation
import XCTest
@testable import SMMTokenizers

private struct GPT2ExpectedFile: Decodable {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
    }
    var cases: [Case]
}

private struct GPT2CorpusFile: Decodable {
    var texts: [String]
}

/// A byte-level vocabulary with every byte's character (ids 0…255) plus `extra` tokens, and
/// merges built from `pairs` (each merged token added to the vocabulary).
private func makeByteTokenizer(merges pairs: [(String, String)], special: [String: Int] = [:]) throws -> GPT2Tokenizer {
    var vocabulary: [String: Int] = [:]
    for b in 0..<256 { vocabulary[String(ByteLevel.byteToScalar[b])] = b }
    for (a, b) in pairs where vocabulary[a + b] == nil { vocabulary[a + b] = vocabulary.count }
    var special = special
    for (token, id) in special where vocabulary[token] == nil && id < 0 {
        special[token] = vocabulary.count
        vocabulary[token] = vocabulary.count
    }
    return try GPT2Tokenizer(vocabulary: vocabulary, merges: pairs, specialTokens: special)
}

private func gpt2TemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("gpt2-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

final class GPT2TokenizerTests: XCTestCase {
    // MARK: - Shared fixtures (loaded once)

    /// The real GPT-2 tokenizer from `vocab.json` + `merges.txt`, loaded once for all tests.
    private static let sharedFixtureTokenizer = Result<GPT2Tokenizer, any Error> {
        let dir = fixtureURL("tokenizers/gpt2")
        return try GPT2Tokenizer(vocabularyFile: dir.appendingPathComponent("vocab.json"),
                                 mergesFile: dir.appendingPathComponent("merges.txt"))
    }

    private func fixtureTokenizer() throws -> GPT2Tokenizer {
        try Self.sharedFixtureTokenizer.get()
    }

    private func expectedCases() throws -> [GPT2ExpectedFile.Case] {
        let url = fixtureURL("tokenizers/gpt2_expected.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("missing fixture \(url.path)")
            return []
        }
        return try JSONDecoder().decode(GPT2ExpectedFile.self, from: Data(contentsOf: url)).cases
    }

    private func corpusTexts() throws -> [String] {
        let url = fixtureURL("tokenizers/corpus.json")
        var texts: [String] = []
        if FileManager.default.fileExists(atPath: url.path) {
            texts = try JSONDecoder().decode(GPT2CorpusFile.self, from: Data(contentsOf: url)).texts
            XCTAssertFalse(texts.isEmpty, "no texts in \(url.path)")
        } else {
            XCTFail("missing fixture \(url.path)")
        }
        var seen = Set(texts)
        for text in try expectedCases().map(\.text) where seen.insert(text).inserted { texts.append(text) }
        return texts
    }

    /// Compares against the expected ids and prints every mismatch with its text.
    private func checkAgainstHF(_ tokenizer: GPT2Tokenizer, label: String) throws {
        let cases = try expectedCases()
        XCTAssertGreaterThanOrEqual(cases.count, 600, "corpus too small")
        var passed = 0
        for c in cases {
            let ids = tokenizer.encodeIDs(c.text)
            if ids == c.ids {
                passed += 1
            } else {
                let firstDiff = (0..<min(ids.count, c.ids.count)).first(where: { ids[$0] != c.ids[$0] }) ?? min(ids.count, c.ids.count)
                XCTFail("""
                    [\(label)] mismatch for \(String(reflecting: c.text)) (scalars: \(c.text.unicodeScalars.map { String($0.value, radix: 16) }))
                      expected \(c.ids)
                      actual   \(ids)
                      first difference at \(firstDiff): expected tokens \(c.ids.dropFirst(firstDiff).prefix(4).map { tokenizer.token(forID: $0) ?? "?" }), actual \(ids.dropFirst(firstDiff).prefix(4).map { tokenizer.token(forID: $0) ?? "?" })
                    """)
            }
        }
        print("[\(label)] \(passed)/\(cases.count) corpus cases identical to Hugging Face")
    }

    // MARK: - Byte-level table

    func testByteLevelTable() {
        let table = ByteLevel.byteToScalar
        XCTAssertEqual(table.count, 256)
        XCTAssertEqual(Set(table).count, 256)
        XCTAssertEqual(table[Int(UInt8(ascii: " "))], "\u{0120}")   // Ġ
        XCTAssertEqual(table[Int(UInt8(ascii: "\n"))], "\u{010A}")  // Ċ
        XCTAssertEqual(table[0], "\u{0100}")
        XCTAssertEqual(table[0xAD], "\u{0143}")                      // soft hyphen, the last shifted byte
        XCTAssertEqual(table[Int(UInt8(ascii: "A"))], "A")
        XCTAssertEqual(table[0xA1], "¡")
        XCTAssertEqual(table[0xFF], "ÿ")
        for b in 0..<256 { XCTAssertEqual(ByteLevel.byte(for: table[b]), UInt8(b)) }
        XCTAssertNil(ByteLevel.byte(for: "\u{0144}"))
        XCTAssertNil(ByteLevel.byte(for: " "))
        XCTAssertEqual(ByteLevel.encode(Array("Hello world\n".utf8)), "HelloĠworldĊ")
        XCTAssertEqual(ByteLevel.decode("HelloĠworldĊ"), Array("Hello world\n".utf8))
        XCTAssertEqual(ByteLevel.encode(Array("é".utf8)), "Ã©")
    }

    // MARK: - Pre-tokenizer

    func testPreTokenizerRegexSemantics() {
        let cases: [(String, [String])] = [
            ("", []),
            ("Hello world", ["Hello", " world"]),
            ("Hello, world!", ["Hello", ",", " world", "!"]),
            ("a  b", ["a", " ", " b"]),
            ("a   b", ["a", "  ", " b"]),
            ("a\nb", ["a", "\n", "b"]),
            ("a\n\nb", ["a", "\n", "\n", "b"]),
            ("a \n b", ["a", " \n", " b"]),
            ("a \nb", ["a", " ", "\n", "b"]),
            ("\t\tx", ["\t", "\t", "x"]),
            ("x   ", ["x", "   "]),
            (" ", [" "]),
            ("   ", ["   "]),
            ("I'm here's it'll we've they're I'd don't", ["I", "'m", " here", "'s", " it", "'ll", " we", "'ve", " they", "'re", " I", "'d", " don", "'t"]),
            ("'S 'LL", ["'", "S", " '", "LL"]),
            ("'sa", ["'s", "a"]),
            ("!'s", ["!'", "s"]),
            ("x's", ["x", "'s"]),
            ("'", ["'"]),
            ("' s", ["'", " s"]),
            ("123abc 456", ["123", "abc", " 456"]),
            (" !!?", [" !!?"]),
            ("a!!b", ["a", "!!", "b"]),
            ("Ünïcödé 東京 ٣٤ Ⅻ ½", ["Ünïcödé", " 東京", " ٣٤", " Ⅻ", " ½"]),
            ("e\u{301}", ["e", "\u{301}"]),          // a combining mark is not \p{L}
            ("a\u{00A0}b", ["a", "\u{00A0}", "b"]),   // NBSP is \s but not the optional plain space
            ("a\u{3000} b", ["a", "\u{3000}", " b"]),
            ("😀😀 x", ["😀😀", " x"]),
            ("x\r\ny", ["x", "\r", "\n", "y"]),
            ("x \r\n", ["x", " \r\n"]),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(GPT2PreTokenizer.split(text), expected, "split of \(String(reflecting: text))")
        }
    }

    // MARK: - BPE on hand-made vocabularies

    func testMergesFollowRank() throws {
        let t = try makeByteTokenizer(merges: [("a", "b"), ("b", "c"), ("ab", "c"), ("Ġ", "a")])
        func tokens(_ s: String) throws -> [String] { try t.encode(s).tokens }
        XCTAssertEqual(try tokens("abc"), ["abc"])        // (a b) ranks before (b c)
        XCTAssertEqual(try tokens("bc"), ["bc"])
        XCTAssertEqual(try tokens("abcbc"), ["abc", "bc"])
        XCTAssertEqual(try tokens(" abc"), ["Ġ", "abc"])  // (a b) takes the "a" before (Ġ a) can
        XCTAssertEqual(try tokens("cab"), ["c", "ab"])
        XCTAssertEqual(try tokens("ab ab"), ["ab", "Ġ", "ab"])
        XCTAssertEqual(try tokens(" ac"), ["Ġa", "c"])

        let u = try makeByteTokenizer(merges: [("b", "c"), ("a", "b"), ("ab", "c")])
        XCTAssertEqual(try u.encode("abc").tokens, ["a", "bc"])  // (b c) first, then nothing applies

        let repeated = try makeByteTokenizer(merges: [("a", "a")])
        XCTAssertEqual(try repeated.encode("aaa").tokens, ["aa", "a"])  // leftmost first
        XCTAssertEqual(try repeated.encode("aaaa").tokens, ["aa", "aa"])
    }

    func testEncodingShape() throws {
        let t = try makeByteTokenizer(merges: [("h", "i")])
        let e = try t.encode("hi!")
        XCTAssertEqual(e.tokens, ["hi", "!"])
        XCTAssertEqual(e.ids, [256, Int(UInt8(ascii: "!"))])
        XCTAssertEqual(e.typeIDs, [0, 0])
        XCTAssertEqual(e.attentionMask, [1, 1])
        XCTAssertFalse(e.wasTruncated)
        XCTAssertEqual(try t.encode("").ids, [])
        XCTAssertEqual(t.vocabularySize, 257)
        XCTAssertEqual(t.token(forID: 256), "hi")
        XCTAssertEqual(t.id(forToken: "hi"), 256)
        XCTAssertNil(t.token(forID: 257))
        XCTAssertNil(t.token(forID: -1))
        XCTAssertNil(t.id(forToken: "nope"))
        XCTAssertEqual(t.merges.count, 1)
        XCTAssertEqual(t.merges.first?.0, "h")
        XCTAssertEqual(t.vocabulary.count, 257)
        XCTAssertNil(t.endOfTextID)
    }

    /// The heap-based merge (long words) and the scanning merge (short words) must agree.
    func testHeapMergeAgreesWithScanning() throws {
        var rng = SystemRandomNumberGenerator()
        let letters = ["a", "b", "c", "d"]
        var merges: [(String, String)] = []
        var tokens = letters
        for _ in 0..<40 {
            let a = tokens.randomElement(using: &rng)!, b = tokens.randomElement(using: &rng)!
            if (a + b).count > 6 || merges.contains(where: { $0 == (a, b) }) { continue }
            merges.append((a, b))
            if !tokens.contains(a + b) { tokens.append(a + b) }
        }
        let t = try makeByteTokenizer(merges: merges)
        let encoder = try XCTUnwrap(Mirror(reflecting: t).descendant("storage", "encoder") as? BytePairEncoder)
        for _ in 0..<500 {
            let length = Int.random(in: 2...120, using: &rng)
            let word = (0..<length).map { _ in letters.randomElement(using: &rng)! }.joined()
            let start = Array(word.utf8).map { encoder.byteIDs[Int($0)] }
            var scanned = start, heaped = start
            encoder.mergeByScanning(&scanned)
            encoder.mergeWithHeap(&heaped)
            XCTAssertEqual(scanned, heaped, "word \(word)")
        }
    }

    func testLongWordIsFast() throws {
        let t = try fixtureTokenizer()
        let long = String(repeating: "abcdefghij", count: 20_000)  // one 200k-byte pre-token
        let start = Date()
        let ids = t.encodeIDs(long)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertEqual(try t.decode(ids, skipSpecialTokens: false), long)
    }

    // MARK: - Special tokens

    func testSpecialTokensAreSplitOut() throws {
        let t = try makeByteTokenizer(merges: [("a", "b")], special: ["<|endoftext|>": -1, "<|x|>": -1])
        let eot = try XCTUnwrap(t.endOfTextID)
        let x = try XCTUnwrap(t.id(forToken: "<|x|>"))
        XCTAssertEqual(t.encodeIDs("ab<|endoftext|>ab"), [256, eot, 256])
        XCTAssertEqual(t.encodeIDs("<|endoftext|><|x|>"), [eot, x])
        let space = try XCTUnwrap(t.id(forToken: "Ġ"))
        XCTAssertEqual(t.encodeIDs(" <|endoftext|> "), [space, eot, space])
        XCTAssertFalse(t.encodeIDs("<|endoftext").contains(eot))
        XCTAssertEqual(try t.encode("<|endoftext|>").tokens, ["<|endoftext|>"])
        let ids = t.encodeIDs("ab<|endoftext|>b")
        XCTAssertEqual(try t.decode(ids, skipSpecialTokens: false), "ab<|endoftext|>b")
        XCTAssertEqual(try t.decode(ids, skipSpecialTokens: true), "abb")
        XCTAssertEqual(t.specialTokens["<|endoftext|>"], eot)
    }

    func testAddedTokenOptions() throws {
        var vocabulary: [String: Int] = [:]
        for b in 0..<256 { vocabulary[String(ByteLevel.byteToScalar[b])] = b }
        let added = [
            GPT2Tokenizer.AddedToken(content: "<mask>", id: 300, isSpecial: true, leftStrip: true),
            GPT2Tokenizer.AddedToken(content: "<m>", id: 301, isSpecial: false, rightStrip: true),
            GPT2Tokenizer.AddedToken(content: "ü!", id: 302, isSpecial: false),
        ]
        let t = try GPT2Tokenizer(vocabulary: vocabulary, merges: [], addedTokens: added)
        XCTAssertEqual(t.vocabularySize, 303)
        XCTAssertEqual(t.encodeIDs("a  <mask>b"), [Int(UInt8(ascii: "a")), 300, Int(UInt8(ascii: "b"))])
        XCTAssertEqual(t.encodeIDs("<m>  b"), [301, Int(UInt8(ascii: "b"))])
        XCTAssertEqual(t.encodeIDs("<mask>"), [300])  // longest match wins over nothing shorter
        XCTAssertEqual(t.encodeIDs("xü!"), [Int(UInt8(ascii: "x")), 302])
        XCTAssertEqual(try t.decode([302, 300], skipSpecialTokens: true), "ü!")
        XCTAssertEqual(try t.decode([302, 300], skipSpecialTokens: false), "ü!<mask>")
    }

    // MARK: - Decoding

    func testDecodeRoundTripOnHandMadeVocabulary() throws {
        let t = try makeByteTokenizer(merges: [("Ġ", "t"), ("Ġt", "h")])
        for text in ["", " the", "héllo wörld", "😀 👩‍👩‍👧", "\u{0}\u{1}\t\r\n", "日本語のテキスト", "a\u{FFFD}b", "\u{10FFFF}"] {
            let ids = t.encodeIDs(text)
            XCTAssertEqual(try t.decode(ids, skipSpecialTokens: false), text)
            XCTAssertEqual(try t.decodeBytes(ids), Array(text.utf8))
        }
    }

    func testDecodeUnknownIDThrows() throws {
        let t = try makeByteTokenizer(merges: [])
        XCTAssertThrowsError(try t.decode([1, 256], skipSpecialTokens: false)) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownID(256))
        }
        XCTAssertThrowsError(try t.decodeBytes([-1])) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownID(-1))
        }
        var stream = t.makeStreamingDecoder()
        XCTAssertThrowsError(try stream.append(999)) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownID(999))
        }
    }

    func testInvalidBytesDecodeToReplacementCharacter() throws {
        let t = try makeByteTokenizer(merges: [])
        // 0xF0 0x9F (start of an emoji) then "a".
        XCTAssertEqual(try t.decode([0xF0, 0x9F, Int(UInt8(ascii: "a"))].map { t.id(forToken: String(ByteLevel.byteToScalar[$0]))! },
                                    skipSpecialTokens: false), "\u{FFFD}a")
    }

    // MARK: - Streaming

    func testStreamingHoldsBackIncompleteCharacters() throws {
        let t = try makeByteTokenizer(merges: [])  // every byte is its own token
        let ids = t.encodeIDs("a😀é")
        XCTAssertEqual(ids.count, 1 + 4 + 2)
        var stream = t.makeStreamingDecoder()
        XCTAssertEqual(try stream.append(ids[0]), "a")
        XCTAssertEqual(try stream.append(ids[1]), "")
        XCTAssertEqual(try stream.append(ids[2]), "")
        XCTAssertEqual(try stream.append(ids[3]), "")
        XCTAssertEqual(stream.pendingByteCount, 3)
        XCTAssertEqual(try stream.append(ids[4]), "😀")
        XCTAssertEqual(try stream.append(ids[5]), "")
        XCTAssertEqual(try stream.append(ids[6]), "é")
        XCTAssertEqual(stream.finish(), "")

        // An unfinished character is flushed as U+FFFD by finish().
        XCTAssertEqual(try stream.append(ids[1]), "")
        XCTAssertEqual(try stream.append(ids[2]), "")
        XCTAssertEqual(stream.finish(), "\u{FFFD}")
        XCTAssertEqual(stream.pendingByteCount, 0)

        // A sequence broken by an ASCII byte is released at once, as U+FFFD.
        XCTAssertEqual(try stream.append(ids[1]), "")
        XCTAssertEqual(try stream.append(ids[0]), "\u{FFFD}a")
        // Bytes that can never start a valid character are not held back.
        let lone = t.id(forToken: String(ByteLevel.byteToScalar[0x9F]))!
        XCTAssertEqual(try stream.append(lone), "\u{FFFD}")
        let c0 = t.id(forToken: String(ByteLevel.byteToScalar[0xC0]))!
        XCTAssertEqual(try stream.append(c0), "\u{FFFD}")
        // E0 80 is an overlong start: invalid at once.
        let e0 = t.id(forToken: String(ByteLevel.byteToScalar[0xE0]))!
        let x80 = t.id(forToken: String(ByteLevel.byteToScalar[0x80]))!
        XCTAssertEqual(try stream.append(e0), "")
        XCTAssertEqual(try stream.append(x80), "\u{FFFD}\u{FFFD}")
    }

    func testStreamingEmojiWithRealVocabulary() throws {
        let t = try fixtureTokenizer()
        let text = "Party 🎉🦜 time"
        let ids = t.encodeIDs(text)
        var stream = t.makeStreamingDecoder()
        var pieces: [String] = []
        var sawHeldBack = false
        for id in ids {
            let piece = try stream.append(id)
            if stream.pendingByteCount > 0 { sawHeldBack = true }
            pieces.append(piece)
            XCTAssertFalse(piece.contains("\u{FFFD}"), "partial character leaked: \(pieces)")
        }
        pieces.append(stream.finish())
        XCTAssertTrue(sawHeldBack, "the emoji should be split across tokens in GPT-2's vocabulary")
        XCTAssertEqual(pieces.joined(), text)
    }

    func testStreamingSkipsSpecialTokens() throws {
        let t = try fixtureTokenizer()
        let eot = try XCTUnwrap(t.endOfTextID)
        XCTAssertEqual(eot, 50256)
        let ids = t.encodeIDs("Hi<|endoftext|>there")
        XCTAssertTrue(ids.contains(eot))
        var skip = t.makeStreamingDecoder(skipSpecialTokens: true)
        var keep = t.makeStreamingDecoder()
        var a = "", b = ""
        for id in ids {
            try a += skip.append(id)
            try b += keep.append(id)
        }
        a += skip.finish()
        b += keep.finish()
        XCTAssertEqual(a, "Hithere")
        XCTAssertEqual(b, "Hi<|endoftext|>there")
    }

    // MARK: - Loading and errors

    func testMergesFileFormats() throws {
        let dir = try gpt2TemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var vocabulary: [String: Int] = [:]
        for b in 0..<256 { vocabulary[String(ByteLevel.byteToScalar[b])] = b }
        vocabulary["ab"] = 256
        vocabulary["Ġab"] = 257
        let vocabURL = dir.appendingPathComponent("vocab.json")
        try JSONEncoder().encode(vocabulary).write(to: vocabURL)
        let mergesURL = dir.appendingPathComponent("merges.txt")
        for content in ["#version: 0.2\r\na b\r\nĠ ab\r\n", "a b\nĠ ab", "#version: 0.2\na b\nĠ ab\n\n"] {
            try Data(content.utf8).write(to: mergesURL)
            let t = try GPT2Tokenizer(vocabularyFile: vocabURL, mergesFile: mergesURL)
            XCTAssertEqual(t.merges.count, 2, "merges file \(String(reflecting: content))")
            XCTAssertEqual(try t.encode(" ab ab").tokens, ["Ġab", "Ġab"])
        }
        let loaded = try GPT2Tokenizer.load(directory: dir)
        XCTAssertEqual(loaded.encodeIDs("ab"), [256])
    }

    func testMissingAndMalformedFiles() throws {
        let dir = try gpt2TemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocabURL = dir.appendingPathComponent("vocab.json")
        let mergesURL = dir.appendingPathComponent("merges.txt")

        // Neither file.
        XCTAssertThrowsError(try GPT2Tokenizer.load(directory: dir)) { error in
            guard case .fileNotFound(let what)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(what.contains("tokenizer.json"), what)
        }
        XCTAssertThrowsError(try GPT2Tokenizer(vocabularyFile: vocabURL, mergesFile: mergesURL)) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound(vocabURL.path))
        }
        XCTAssertThrowsError(try GPT2Tokenizer(tokenizerJSON: dir.appendingPathComponent("tokenizer.json"))) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound(dir.appendingPathComponent("tokenizer.json").path))
        }

        // Malformed vocabulary JSON.
        try Data("{\"a\": 0, ".utf8).write(to: vocabURL)
        try Data("".utf8).write(to: mergesURL)
        XCTAssertThrowsError(try GPT2Tokenizer(vocabularyFile: vocabURL, mergesFile: mergesURL)) { error in
            guard case .invalidFile(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, vocabURL.path)
        }
        try Data("{\"a\": -1}".utf8).write(to: vocabURL)
        XCTAssertThrowsError(try GPT2Tokenizer(vocabularyFile: vocabURL, mergesFile: mergesURL)) { error in
            guard case .invalidFile(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, vocabURL.path)
        }
        try Data("[1, 2]".utf8).write(to: vocabURL)
        XCTAssertThrowsError(try GPT2Tokenizer(vocabularyFile: vocabURL, mergesFile: mergesURL)) { error in
            guard case .invalidFile(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, vocabURL.path)
        }

        // Missing merges file.
        try Data("{\"a\": 0, \"b\": 1, \"ab\": 2}".utf8).write(to: vocabURL)
        try FileManager.default.removeItem(at: mergesURL)
        XCTAssertThrowsError(try GPT2Tokenizer.load(directory: dir)) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound(mergesURL.path))
        }

        // Malformed merges line, and merges naming tokens not in the vocabulary.
        for bad in ["a b c\n", "ab\n", "a  b\n", "a x\n", "x b\n", "b a\n"] {
            try Data(("#version: 0.2\n" + bad).utf8).write(to: mergesURL)
            XCTAssertThrowsError(try GPT2Tokenizer(vocabularyFile: vocabURL, mergesFile: mergesURL), bad) { error in
                guard case .invalidFile(let path, let reason)? = error as? TokenizerError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, mergesURL.path)
                XCTAssertFalse(reason.isEmpty)
            }
        }
        XCTAssertThrowsError(try GPT2Tokenizer(vocabulary: ["a": 0], merges: [("a", "z")], specialTokens: [:]))

        // tokenizer.json: malformed, and not BPE.
        let jsonURL = dir.appendingPathComponent("tokenizer.json")
        for bad in ["{", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "{\"model\": {\"type\": \"BPE\"}}",
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}",
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\", \"a\"]]}}"] {
            try Data(bad.utf8).write(to: jsonURL)
            XCTAssertThrowsError(try GPT2Tokenizer(tokenizerJSON: jsonURL), bad) { error in
                guard case .invalidFile(let path, let reason)? = error as? TokenizerError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, jsonURL.path)
                print("error for \(bad): \(reason)")
            }
        }
    }

    func testTokenizerJSONWithBothMergeFormats() throws {
        let dir = try gpt2TemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(ByteLevel.byteToScalar[b])] = b }
        vocab["ab"] = 256
        vocab["Ġab"] = 257
        vocab["<|endoftext|>"] = 258
        let vocabJSON = String(decoding: try JSONEncoder().encode(vocab), as: UTF8.self)
        let added = """
            [{"id": 258, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": true}]
            """
        for merges in ["[\"a b\", \"Ġ ab\"]", "[[\"a\", \"b\"], [\"Ġ\", \"ab\"]]"] {
            let json = """
                {"version": "1.0", "added_tokens": \(added), "normalizer": null,
                 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
                 "post_processor": null, "decoder": {"type": "ByteLevel"},
                 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                           "end_of_word_suffix": "", "fuse_unk": false, "vocab": \(vocabJSON), "merges": \(merges)}}
                """
            try Data(json.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
            let t = try GPT2Tokenizer.load(directory: dir)
            XCTAssertEqual(t.encodeIDs(" ab<|endoftext|>ab"), [257, 258, 256])
            XCTAssertEqual(t.endOfTextID, 258)
            XCTAssertEqual(t.merges.count, 2)
        }
    }

    // MARK: - Real GPT-2 vocabulary against Hugging Face

    func testRealVocabularyBasics() throws {
        let t = try fixtureTokenizer()
        XCTAssertEqual(t.vocabularySize, 50257)
        XCTAssertEqual(t.endOfTextID, 50256)
        XCTAssertEqual(t.encodeIDs("Hello world"), [15496, 995])
        XCTAssertEqual(try t.encode("Hello world").tokens, ["Hello", "Ġworld"])
        XCTAssertEqual(t.encodeIDs("<|endoftext|>"), [50256])
    }

    func testCorpusMatchesHuggingFaceViaVocabAndMerges() throws {
        try checkAgainstHF(try fixtureTokenizer(), label: "vocab.json+merges.txt")
    }

    /// Through `tokenizer.json`: the fixture's when there is one, else one written here from
    /// `vocab.json` + `merges.txt` in the layout `tokenizers` saves (merges as pairs).
    func testCorpusMatchesHuggingFaceViaTokenizerJSON() throws {
        var url = fixtureURL("tokenizers/gpt2/tokenizer.json")
        var label = "tokenizer.json"
        var cleanup: URL?
        defer { if let cleanup { try? FileManager.default.removeItem(at: cleanup) } }
        if !FileManager.default.fileExists(atPath: url.path) {
            let dir = try gpt2TemporaryDirectory()
            cleanup = dir
            let fixtures = fixtureURL("tokenizers/gpt2")
            let vocab = try String(contentsOf: fixtures.appendingPathComponent("vocab.json"), encoding: .utf8)
            let merges = try GPT2Tokenizer.readMerges(fixtures.appendingPathComponent("merges.txt"))
            let mergesJSON = String(decoding: try JSONEncoder().encode(merges.map { [$0.0, $0.1] }), as: UTF8.self)
            let json = """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                                   "rstrip": false, "normalized": true, "special": true}],
                 "normalizer": null,
                 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
                 "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
                 "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
                 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                           "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                           "vocab": \(vocab), "merges": \(mergesJSON)}}
                """
            url = dir.appendingPathComponent("tokenizer.json")
            try Data(json.utf8).write(to: url)
            label = "tokenizer.json (written from vocab.json + merges.txt)"
        }
        let t = try GPT2Tokenizer(tokenizerJSON: url)
        let fromFiles = try fixtureTokenizer()
        XCTAssertEqual(t.vocabularySize, fromFiles.vocabularySize)
        XCTAssertEqual(t.endOfTextID, fromFiles.endOfTextID)
        XCTAssertEqual(t.merges.count, fromFiles.merges.count)
        try checkAgainstHF(t, label: label)
    }

    func testCorpusRoundTrip() throws {
        let t = try fixtureTokenizer()
        let texts = try corpusTexts()
        XCTAssertGreaterThanOrEqual(texts.count, 600)
        var passed = 0
        for text in texts {
            let ids = t.encodeIDs(text)
            let decoded = try t.decode(ids, skipSpecialTokens: false)
            let bytes = try t.decodeBytes(ids)
            if decoded == text && bytes == Array(text.utf8) {
                passed += 1
            } else {
                XCTFail("round trip failed for \(String(reflecting: text)): got \(String(reflecting: decoded))")
            }
        }
        print("round trip: \(passed)/\(texts.count)")
    }

    func testCorpusStreamingDecoding() throws {
        let t = try fixtureTokenizer()
        let texts = try corpusTexts()
        var passed = 0
        for text in texts {
            var stream = t.makeStreamingDecoder()
            var out = ""
            for id in t.encodeIDs(text) { try out += stream.append(id) }
            out += stream.finish()
            if out == text { passed += 1 } else {
                XCTFail("streaming failed for \(String(reflecting: text)): got \(String(reflecting: out))")
            }
        }
        print("streaming: \(passed)/\(texts.count)")
    }

    private struct TinyReference: Decodable {
        struct Prompt: Decodable {
            var text: String
            var ids: [Int]
        }
        var prompts_text: [Prompt]
    }

    func testTinyTruncatedTokenizer() throws {
        let dir = fixtureURL("models/tiny-gpt2")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("vocab.json").path) else {
            return XCTFail("missing fixture \(dir.path)/vocab.json")
        }
        let t = try GPT2Tokenizer.load(directory: dir)
        XCTAssertEqual(t.vocabularySize, 1024)
        XCTAssertEqual(t.endOfTextID, 1023)
        var checked = 0
        for text in try corpusTexts() {
            let ids = t.encodeIDs(text)
            XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < 1024 }, "ids out of range for \(String(reflecting: text))")
            XCTAssertEqual(try t.decode(ids, skipSpecialTokens: false), text)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0, "no corpus texts checked")
        let referenceURL = dir.appendingPathComponent("reference.json")
        guard FileManager.default.fileExists(atPath: referenceURL.path) else {
            return XCTFail("missing fixture \(referenceURL.path)")
        }
        let reference = try JSONDecoder().decode(TinyReference.self, from: Data(contentsOf: referenceURL))
        XCTAssertFalse(reference.prompts_text.isEmpty, "no prompts_text in \(referenceURL.path)")
        for prompt in reference.prompts_text {
            XCTAssertEqual(t.encodeIDs(prompt.text), prompt.ids, "tiny tokenizer on \(String(reflecting: prompt.text))")
        }
        print("tiny-gpt2: \(checked) corpus texts in range, \(reference.prompts_text.count) reference prompts identical")
    }

    func testSpeedOnHeadlines() throws {
        let t = try fixtureTokenizer()
        let texts = try corpusTexts().filter { $0.utf8.count < 200 }
        guard !texts.isEmpty else { return XCTFail("no corpus texts under 200 bytes in Tests/Fixtures/tokenizers") }
        let headlines = (0..<10_000).map { texts[$0 % texts.count] }
        let bytes = headlines.reduce(0) { $0 + $1.utf8.count }
        let start = Date()
        var total = 0
        for h in headlines { total += t.encodeIDs(h).count }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "encoded %d headlines (%d bytes, %d tokens) in %.3f s", headlines.count, bytes, total, seconds))
        XCTAssertGreaterThan(total, 0)
    }
}
