import Foundation
import XCTest
@testable import SMMTokenizers

// MARK: - Fixture formats (written by Tools from Hugging Face `tokenizers`)

/// `wordpiece_{uncased,cased}_expected.json`.
private struct WordPieceExpected: Decodable {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var tokens: [String]?
    }
    struct Pair: Decodable {
        var text: String
        var text_pair: String
        var ids: [Int]
        var token_type_ids: [Int]
    }
    struct Truncation: Decodable {
        var text: String
        var text_pair: String?
        var max_length: Int
        var ids: [Int]
        var token_type_ids: [Int]?
        var truncated: Bool
    }
    var vocab: String?
    var do_lower_case: Bool?
    var strip_accents: Bool?
    var cases: [Case]
    var pairs: [Pair]?
    var truncation: [Truncation]?
    var pair_truncation: [Truncation]?
}

private func loadExpected(_ name: String) throws -> WordPieceExpected {
    let url = fixtureURL("tokenizers/\(name)")
    guard FileManager.default.fileExists(atPath: url.path) else {
        XCTFail("missing fixture \(url.path)")
        throw XCTSkip("missing fixture \(url.path)")
    }
    return try JSONDecoder().decode(WordPieceExpected.self, from: Data(contentsOf: url))
}

/// A fresh empty directory under the temporary directory.
private func makeScratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("wordpiece-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A small vocabulary for unit tests: specials, a few words and pieces.
private let tinyVocabulary: [String] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",           // 0-4
    "un", "##aff", "##able", "want", "##ed",                 // 5-9
    "runn", "##ing", ",", ".", "!",                          // 10-14
    "hello", "world", "中", "文", "cafe",                     // 15-19
    "café", "a", "##a", "i", "[",                            // 20-24
    "]", "cl", "##s", "Hello", "##ing ",                     // 25-29
]

private func tinyTokenizer(lower: Bool = true, strip: Bool? = nil, maxLength: Int = 512) throws -> BertTokenizer {
    try BertTokenizer(vocabulary: tinyVocabulary, doLowerCase: lower, stripAccents: strip, maxLength: maxLength)
}

final class WordPieceTests: XCTestCase {
    private static let uncasedDirectory = fixtureURL("tokenizers/bert-base-uncased")
    private static let casedDirectory = fixtureURL("tokenizers/cased")

    private func requireFile(_ url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("missing fixture \(url.path)")
            throw XCTSkip("missing fixture \(url.path)")
        }
    }

    /// Compares ids on every case; prints the first few differences in full.
    private func checkCases(_ tokenizer: BertTokenizer, _ cases: [WordPieceExpected.Case], label: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        var failures = 0
        for c in cases {
            let got = try tokenizer.encode(c.text, pair: nil, maxLength: Int.max, addSpecialTokens: true)
            if got.ids != c.ids {
                failures += 1
                if failures <= 8 {
                    print("[\(label)] MISMATCH text=\(c.text.debugDescription)\n  scalars=\(c.text.unicodeScalars.map { String($0.value, radix: 16) })\n  expected=\(c.ids)\n  actual  =\(got.ids)\n  expected tokens=\(c.tokens ?? [])\n  actual tokens  =\(got.tokens)")
                }
            } else if let tokens = c.tokens, tokens != got.tokens {
                failures += 1
                if failures <= 8 { print("[\(label)] TOKENS differ for \(c.text.debugDescription): \(tokens) vs \(got.tokens)") }
            }
        }
        print("[\(label)] \(cases.count - failures)/\(cases.count) cases identical")
        XCTAssertEqual(failures, 0, "\(label): \(failures) of \(cases.count) cases differ", file: file, line: line)
    }

    // MARK: - Fixtures from Hugging Face

    func testUncasedFixtureViaVocabTxt() throws {
        let expected = try loadExpected("wordpiece_uncased_expected.json")
        let vocab = Self.uncasedDirectory.appendingPathComponent("vocab.txt")
        try requireFile(vocab)
        let tokenizer = try BertTokenizer(vocabularyFile: vocab, doLowerCase: expected.do_lower_case ?? true,
                                          stripAccents: expected.strip_accents)
        XCTAssertGreaterThan(expected.cases.count, 0)
        try checkCases(tokenizer, expected.cases, label: "uncased vocab.txt")

        // A padded batch of the corpus: each row is the expected ids, then [PAD]s with mask 0.
        let rows = Array(expected.cases.filter { $0.ids.count <= tokenizer.maxLength }.prefix(200))
        let batch = try tokenizer.encodeBatch(rows.map(\.text), padding: .longest)
        let longest = rows.map(\.ids.count).max() ?? 0
        for (row, encoding) in zip(rows, batch) {
            let padding = longest - row.ids.count
            XCTAssertEqual(encoding.ids, row.ids + [Int](repeating: tokenizer.padID, count: padding))
            XCTAssertEqual(encoding.attentionMask, [Int](repeating: 1, count: row.ids.count) + [Int](repeating: 0, count: padding))
            XCTAssertEqual(encoding.typeIDs, [Int](repeating: 0, count: longest))
        }
    }

    func testUncasedFixtureViaTokenizerJSON() throws {
        let expected = try loadExpected("wordpiece_uncased_expected.json")
        let json = Self.uncasedDirectory.appendingPathComponent("tokenizer.json")
        try requireFile(json)
        let tokenizer = try BertTokenizer(tokenizerJSON: json)
        try checkCases(tokenizer, expected.cases, label: "uncased tokenizer.json")
        // And the directory loader picks tokenizer.json.
        let loaded = try BertTokenizer.load(directory: Self.uncasedDirectory, doLowerCase: nil, maxLength: 512)
        try checkCases(loaded, expected.cases, label: "uncased load(directory:)")
    }

    func testCasedFixture() throws {
        let expected = try loadExpected("wordpiece_cased_expected.json")
        let vocab = Self.casedDirectory.appendingPathComponent("vocab.txt")
        try requireFile(vocab)
        XCTAssertEqual(expected.do_lower_case, false)
        let tokenizer = try BertTokenizer(vocabularyFile: vocab, doLowerCase: expected.do_lower_case ?? false,
                                          stripAccents: expected.strip_accents)
        XCTAssertGreaterThan(expected.cases.count, 0)
        try checkCases(tokenizer, expected.cases, label: "cased vocab.txt")
        try checkPairs(tokenizer, expected.pairs ?? [], label: "cased pairs")
        try checkTruncation(tokenizer, expected.truncation ?? [], label: "cased truncation")
        try checkTruncation(tokenizer, expected.pair_truncation ?? [], label: "cased pair truncation")
    }

    func testPairsFixture() throws {
        let expected = try loadExpected("wordpiece_uncased_expected.json")
        let tokenizer = try BertTokenizer(vocabularyFile: Self.uncasedDirectory.appendingPathComponent("vocab.txt"))
        try checkPairs(tokenizer, expected.pairs ?? [], label: "uncased pairs")
    }

    func testTruncationFixture() throws {
        let expected = try loadExpected("wordpiece_uncased_expected.json")
        let tokenizer = try BertTokenizer(vocabularyFile: Self.uncasedDirectory.appendingPathComponent("vocab.txt"))
        try checkTruncation(tokenizer, expected.truncation ?? [], label: "uncased truncation")
        try checkTruncation(tokenizer, expected.pair_truncation ?? [], label: "uncased pair truncation")
    }

    private func checkPairs(_ tokenizer: BertTokenizer, _ pairs: [WordPieceExpected.Pair], label: String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertGreaterThan(pairs.count, 0, "\(label): the fixture has no pairs", file: file, line: line)
        var failures = 0
        for p in pairs {
            let got = try tokenizer.encode(p.text, pair: p.text_pair, maxLength: Int.max, addSpecialTokens: true)
            if got.ids != p.ids || got.typeIDs != p.token_type_ids || got.attentionMask != [Int](repeating: 1, count: got.ids.count) {
                failures += 1
                if failures <= 5 {
                    print("[\(label)] MISMATCH \(p.text.debugDescription) / \(p.text_pair.debugDescription)\n  expected=\(p.ids) \(p.token_type_ids)\n  actual  =\(got.ids) \(got.typeIDs)")
                }
            }
        }
        print("[\(label)] \(pairs.count - failures)/\(pairs.count) identical")
        XCTAssertEqual(failures, 0, "\(label): \(failures) of \(pairs.count) differ", file: file, line: line)
    }

    private func checkTruncation(_ tokenizer: BertTokenizer, _ cases: [WordPieceExpected.Truncation], label: String,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertGreaterThan(cases.count, 0, "\(label): the fixture has no cases", file: file, line: line)
        var failures = 0
        for t in cases {
            let got = try tokenizer.encode(t.text, pair: t.text_pair, maxLength: t.max_length, addSpecialTokens: true)
            // The same through the `maxLength` property and encode(_:), for single texts.
            var viaProperty = tokenizer
            viaProperty.maxLength = t.max_length
            let single = t.text_pair == nil ? try viaProperty.encode(t.text) : got
            let typesOK = t.token_type_ids.map { $0 == got.typeIDs } ?? true
            if got.ids != t.ids || got.wasTruncated != t.truncated || !typesOK || single != got || got.ids.count > t.max_length {
                failures += 1
                if failures <= 5 {
                    print("[\(label)] MISMATCH \(t.text.debugDescription) / \((t.text_pair ?? "-").debugDescription) max=\(t.max_length)\n  expected=\(t.ids) \(t.truncated)\n  actual  =\(got.ids) \(got.wasTruncated)")
                }
            }
        }
        let flagged = cases.filter(\.truncated).count
        print("[\(label)] \(cases.count - failures)/\(cases.count) identical (\(flagged) truncated)")
        XCTAssertEqual(failures, 0, "\(label): \(failures) of \(cases.count) differ", file: file, line: line)
    }

    // MARK: - Behaviour on a tiny vocabulary

    func testGreedyLongestMatchAndUnknown() throws {
        let t = try tinyTokenizer()
        XCTAssertEqual(t.tokenize("unaffable"), ["un", "##aff", "##able"])
        XCTAssertEqual(t.tokenize("UNwanted running"), ["[UNK]", "runn", "##ing"])  // "unwanted" cannot be covered
        XCTAssertEqual(t.tokenize("wanted,running!"), ["want", "##ed", ",", "runn", "##ing", "!"])
        XCTAssertEqual(t.tokenize("xyz hello"), ["[UNK]", "hello"])
        let e = try t.encode("hello world")
        XCTAssertEqual(e.ids, [2, 15, 16, 3])
        XCTAssertEqual(e.tokens, ["[CLS]", "hello", "world", "[SEP]"])
        XCTAssertEqual(e.typeIDs, [0, 0, 0, 0])
        XCTAssertEqual(e.attentionMask, [1, 1, 1, 1])
        XCTAssertFalse(e.wasTruncated)
        XCTAssertEqual(try t.encode("").ids, [2, 3])
        XCTAssertEqual(try t.encode(" \t\n ").ids, [2, 3])
    }

    func testNormalization() throws {
        let t = try tinyTokenizer()
        // Accents stripped after NFD, both for precomposed and decomposed input.
        XCTAssertEqual(t.tokenize("Café cafe\u{301}"), ["cafe", "cafe"])
        // CJK characters are words of their own.
        XCTAssertEqual(t.tokenize("hello中文world"), ["hello", "中", "文", "world"])
        // Control characters, NUL and U+FFFD vanish; other whitespace separates.
        XCTAssertEqual(t.tokenize("hel\u{0}lo\u{FFFD}\u{200B}\u{00A0}wor\u{7}ld"), ["hello", "world"])
        // "İ" decomposes to I + U+0307 before lowercasing, and the mark is stripped.
        XCTAssertEqual(t.tokenize("İ"), ["i"])
        // Punctuation in other scripts.
        XCTAssertEqual(t.tokenize("hello¡world"), ["hello", "[UNK]", "world"])

        let basic = BasicTokenizer(options: BertNormalizerOptions(lowercase: true, stripAccents: false))
        XCTAssertEqual(basic.normalize("İ").unicodeScalars.map(\.value), [0x69, 0x307])  // Rust's to_lowercase
        XCTAssertEqual(basic.normalize("ΣΑΣ"), "σασ")  // per character: no final sigma
        XCTAssertEqual(BasicTokenizer().tokenize("Hello, World! (it's)"), ["hello", ",", "world", "!", "(", "it", "'", "s", ")"])
        // tokenizers' CJK ranges start at U+2B920, not U+2B820.
        XCTAssertEqual(BasicTokenizer().tokenize("x\u{2B820}y\u{2B920}z").count, 3)
    }

    func testCasedKeepsCaseAndAccents() throws {
        let t = try tinyTokenizer(lower: false)
        XCTAssertEqual(t.tokenize("Hello hello café"), ["Hello", "hello", "café"])
        // "café" written with a combining accent is a different token (bytes differ): no match.
        XCTAssertEqual(t.tokenize("cafe\u{301}"), ["[UNK]"])
        let stripped = try tinyTokenizer(lower: false, strip: true)
        XCTAssertEqual(stripped.tokenize("café Hello"), ["cafe", "Hello"])
    }

    func testSpecialTokensInText() throws {
        let t = try tinyTokenizer()
        XCTAssertEqual(try t.encode("hello [SEP] world").ids, [2, 15, 3, 16, 3])
        XCTAssertEqual(t.tokenize("hello[MASK]"), ["hello", "[MASK]"])
        // Matched case-sensitively in the raw text; "[cls]" is ordinary text.
        XCTAssertEqual(t.tokenize("[cls]"), ["[", "cl", "##s", "]"])
        XCTAssertEqual(t.tokenize("[CLS]"), ["[CLS]"])
    }

    func testWordLengthLimit() throws {
        let t = try tinyTokenizer()
        let hundred = String(repeating: "a", count: 100)
        XCTAssertEqual(t.tokenize(hundred), ["a"] + [String](repeating: "##a", count: 99))
        XCTAssertEqual(t.tokenize(hundred + "a"), ["[UNK]"])
        // The limit counts Unicode scalars after normalization, not bytes or Characters.
        let accented = String(repeating: "a\u{301}", count: 60)  // 120 scalars, 60 after stripping accents
        XCTAssertEqual(t.tokenize(accented).count, 60)
        let cased = try tinyTokenizer(lower: false, strip: false)
        XCTAssertEqual(cased.tokenize(accented), ["[UNK]"])
    }

    func testPairsAndTruncation() throws {
        let t = try tinyTokenizer()
        let pair = try t.encode("hello world", pair: "unaffable", maxLength: nil, addSpecialTokens: true)
        XCTAssertEqual(pair.ids, [2, 15, 16, 3, 5, 6, 7, 3])
        XCTAssertEqual(pair.typeIDs, [0, 0, 0, 0, 1, 1, 1, 1])
        XCTAssertFalse(pair.wasTruncated)

        // Single text: [CLS] + 3 pieces + [SEP] = 5 > 4.
        let cut = try t.encode("hello world hello", pair: nil, maxLength: 4, addSpecialTokens: true)
        XCTAssertEqual(cut.ids, [2, 15, 16, 3])
        XCTAssertTrue(cut.wasTruncated)
        let exact = try t.encode("hello world", pair: nil, maxLength: 4, addSpecialTokens: true)
        XCTAssertFalse(exact.wasTruncated)

        // longest_first: 5 + 2 pieces into a budget of 4 → 2 + 2; 5 + 1 → 3 + 1.
        var a = [1, 2, 3, 4, 5], b = [6, 7]
        XCTAssertTrue(BertTokenizer.truncateLongestFirst(&a, &b, budget: 4))
        XCTAssertEqual(a, [1, 2]); XCTAssertEqual(b, [6, 7])
        a = [1, 2, 3, 4, 5]; b = [6]
        XCTAssertTrue(BertTokenizer.truncateLongestFirst(&a, &b, budget: 4))
        XCTAssertEqual(a, [1, 2, 3]); XCTAssertEqual(b, [6])
        a = [1, 2, 3, 4, 5, 6, 7, 8]; b = [9, 10, 11, 12, 13]
        XCTAssertTrue(BertTokenizer.truncateLongestFirst(&a, &b, budget: 7))
        XCTAssertEqual(a.count, 4); XCTAssertEqual(b.count, 3)
        a = [1]; b = [2]
        XCTAssertFalse(BertTokenizer.truncateLongestFirst(&a, &b, budget: 2))

        let pairCut = try t.encode("hello world hello world", pair: "hello", maxLength: 6, addSpecialTokens: true)
        XCTAssertEqual(pairCut.ids, [2, 15, 16, 3, 15, 3])
        XCTAssertEqual(pairCut.typeIDs, [0, 0, 0, 0, 1, 1])
        XCTAssertTrue(pairCut.wasTruncated)

        let noSpecials = try t.encode("hello world", pair: nil, maxLength: 1, addSpecialTokens: false)
        XCTAssertEqual(noSpecials.ids, [15])
        XCTAssertTrue(noSpecials.wasTruncated)
        XCTAssertThrowsError(try t.encode("hello", pair: "world", maxLength: 2, addSpecialTokens: true))

        // The default maxLength applies to encode(_:).
        let short = try tinyTokenizer(maxLength: 3)
        let e = try short.encode("hello world")
        XCTAssertEqual(e.ids, [2, 15, 3])
        XCTAssertTrue(e.wasTruncated)
    }

    func testBatchPadding() throws {
        let t = try tinyTokenizer()
        let batch = try t.encodeBatch(["hello", "hello world unaffable", ""])
        XCTAssertEqual(batch.map(\.ids.count), [7, 7, 7])
        XCTAssertEqual(batch[0].ids, [2, 15, 3, 0, 0, 0, 0])
        XCTAssertEqual(batch[0].attentionMask, [1, 1, 1, 0, 0, 0, 0])
        XCTAssertEqual(batch[0].tokens, ["[CLS]", "hello", "[SEP]", "[PAD]", "[PAD]", "[PAD]", "[PAD]"])
        XCTAssertEqual(batch[0].typeIDs, [0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(batch[1].attentionMask, [Int](repeating: 1, count: 7))
        XCTAssertEqual(batch[2].ids, [2, 3, 0, 0, 0, 0, 0])
        XCTAssertEqual(batch[2].attentionMask, [1, 1, 0, 0, 0, 0, 0])

        let fixed = try t.encodeBatch(["hello", "world"], padding: .fixed(5))
        XCTAssertEqual(fixed.map(\.ids), [[2, 15, 3, 0, 0], [2, 16, 3, 0, 0]])
        XCTAssertEqual(fixed[1].attentionMask, [1, 1, 1, 0, 0])
        let unpadded = try t.encodeBatch(["hello", "hello world"], padding: .none)
        XCTAssertEqual(unpadded.map(\.ids.count), [3, 4])
        XCTAssertEqual(try t.encodeBatch([]).count, 0)
        // Each element is what encode gives, plus padding.
        XCTAssertEqual(Array(batch[1].ids.prefix(7)), try t.encode("hello world unaffable").ids)
    }

    func testDecodeAndLookups() throws {
        let t = try tinyTokenizer()
        let e = try t.encode("unaffable hello, world!")
        XCTAssertEqual(try t.decode(e.ids, skipSpecialTokens: true), "unaffable hello, world!")
        XCTAssertEqual(try t.decode(e.ids, skipSpecialTokens: false), "[CLS] unaffable hello, world! [SEP]")
        XCTAssertThrowsError(try t.decode([99_999], skipSpecialTokens: false)) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownID(99_999))
        }
        XCTAssertEqual(t.token(forID: 6), "##aff")
        XCTAssertNil(t.token(forID: -1))
        XCTAssertNil(t.token(forID: tinyVocabulary.count))
        XCTAssertEqual(t.id(forToken: "##able"), 7)
        XCTAssertNil(t.id(forToken: "able"))
        XCTAssertEqual(t.vocabularySize, tinyVocabulary.count)
        XCTAssertEqual([t.padID, t.unkID, t.clsID, t.sepID], [0, 1, 2, 3])
        // Canonically equivalent but different strings are different tokens.
        XCTAssertEqual(t.id(forToken: "café"), 20)
        XCTAssertNil(t.id(forToken: "cafe\u{301}"))
    }

    // MARK: - Files and errors

    func testVocabularyFileFormats() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let crlf = dir.appendingPathComponent("crlf.txt")
        try Data(tinyVocabulary.joined(separator: "\r\n").appending("\r\n").utf8).write(to: crlf)
        let fromCRLF = try BertTokenizer(vocabularyFile: crlf)
        XCTAssertEqual(fromCRLF.vocabularySize, tinyVocabulary.count)
        XCTAssertEqual(fromCRLF.tokenize("unaffable"), ["un", "##aff", "##able"])
        XCTAssertEqual(fromCRLF.token(forID: 29), "##ing ")  // only the line end is removed

        let noFinalNewline = dir.appendingPathComponent("plain.txt")
        try Data(tinyVocabulary.joined(separator: "\n").utf8).write(to: noFinalNewline)
        XCTAssertEqual(try BertTokenizer(vocabularyFile: noFinalNewline).vocabularySize, tinyVocabulary.count)

        // load(directory:) with only vocab.txt reads do_lower_case from tokenizer_config.json.
        let model = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try Data(tinyVocabulary.joined(separator: "\n").utf8).write(to: model.appendingPathComponent("vocab.txt"))
        try Data(#"{"do_lower_case": false}"#.utf8).write(to: model.appendingPathComponent("tokenizer_config.json"))
        let cased = try BertTokenizer.load(directory: model, doLowerCase: nil, maxLength: 128)
        XCTAssertEqual(cased.tokenize("Hello"), ["Hello"])
        XCTAssertEqual(cased.maxLength, 128)
        let forcedLower = try BertTokenizer.load(directory: model, doLowerCase: true, maxLength: 128)
        XCTAssertEqual(forcedLower.tokenize("Hello"), ["hello"])
    }

    func testMinimalTokenizerJSON() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = tinyVocabulary.enumerated().map { "\"\($0.element.replacingOccurrences(of: "\"", with: "\\\""))\": \($0.offset)" }
        let json = """
        {"added_tokens": [
            {"id": 0, "content": "[PAD]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
            {"id": 2, "content": "[CLS]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
            {"id": 3, "content": "[SEP]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
            {"id": 30, "content": "<new>", "special": false, "normalized": true, "lstrip": false, "rstrip": false, "single_word": false}],
         "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": false},
         "pre_tokenizer": {"type": "BertPreTokenizer"},
         "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 5,
                   "vocab": {\(vocab.joined(separator: ", "))}}}
        """
        let url = dir.appendingPathComponent("tokenizer.json")
        try Data(json.utf8).write(to: url)
        let t = try BertTokenizer(tokenizerJSON: url)
        XCTAssertEqual(t.tokenize("Hello hello"), ["Hello", "hello"])  // lowercase false
        XCTAssertEqual(t.tokenize("runn runnin"), ["runn", "[UNK]"])  // max_input_chars_per_word 5
        XCTAssertEqual(t.tokenize("hello<new>world"), ["hello", "<new>", "world"])
        XCTAssertEqual(t.id(forToken: "<new>"), 30)
        XCTAssertEqual(t.token(forID: 30), "<new>")
        XCTAssertEqual(t.vocabularySize, 31)
        XCTAssertEqual(try t.decode([2, 15, 30, 3], skipSpecialTokens: true), "hello <new>")
    }

    func testLoadingErrors() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("nope/vocab.txt")
        XCTAssertThrowsError(try BertTokenizer(vocabularyFile: missing)) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound(missing.path))
        }
        XCTAssertThrowsError(try BertTokenizer(tokenizerJSON: dir.appendingPathComponent("tokenizer.json"))) { error in
            XCTAssertEqual(error as? TokenizerError, .fileNotFound(dir.appendingPathComponent("tokenizer.json").path))
        }
        XCTAssertThrowsError(try BertTokenizer.load(directory: dir.appendingPathComponent("nope"), doLowerCase: nil, maxLength: 512)) { error in
            guard case .fileNotFound? = error as? TokenizerError else { return XCTFail("\(error)") }
        }

        let empty = dir.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        XCTAssertThrowsError(try BertTokenizer(vocabularyFile: empty)) { error in
            guard case .invalidFile(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, empty.path)
        }
        let blankLines = dir.appendingPathComponent("blank.txt")
        try Data("\n\n".utf8).write(to: blankLines)
        XCTAssertThrowsError(try BertTokenizer(vocabularyFile: blankLines))
        XCTAssertThrowsError(try BertTokenizer(vocabularyFile: dir))  // a directory
        XCTAssertThrowsError(try BertTokenizer(vocabulary: []))

        for special in ["[UNK]", "[CLS]", "[SEP]", "[PAD]"] {
            let url = dir.appendingPathComponent("no\(special).txt")
            try Data(tinyVocabulary.filter { $0 != special }.joined(separator: "\n").utf8).write(to: url)
            XCTAssertThrowsError(try BertTokenizer(vocabularyFile: url)) { error in
                XCTAssertEqual(error as? TokenizerError, .missingSpecialToken(special))
            }
        }

        let badJSON: [(String, String)] = [
            ("truncated", #"{"model": {"type": "WordPiece", "vocab": {"a": 0"#),
            ("not-object", "[1, 2, 3]"),
            ("bpe", #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#),
            ("no-vocab", #"{"model": {"type": "WordPiece"}}"#),
            ("empty-vocab", #"{"model": {"type": "WordPiece", "vocab": {}}}"#),
            ("bad-id", #"{"model": {"type": "WordPiece", "vocab": {"a": "x"}}}"#),
            ("garbage", "\u{1}\u{2}not json"),
        ]
        for (name, text) in badJSON {
            let url = dir.appendingPathComponent("\(name).json")
            try Data(text.utf8).write(to: url)
            XCTAssertThrowsError(try BertTokenizer(tokenizerJSON: url), name) { error in
                guard case .invalidFile(let path, let reason)? = error as? TokenizerError else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(path, url.path)
                XCTAssertFalse(reason.isEmpty)
            }
        }
        let noUnk = dir.appendingPathComponent("nounk.json")
        try Data(#"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[CLS]": 0, "[SEP]": 1, "[PAD]": 2}}}"#.utf8).write(to: noUnk)
        XCTAssertThrowsError(try BertTokenizer(tokenizerJSON: noUnk)) { error in
            XCTAssertEqual(error as? TokenizerError, .missingSpecialToken("[UNK]"))
        }
    }

    // MARK: - A real vocabulary, when one is on disk

    private func realUncasedDirectory() -> URL? {
        let fixture = Self.uncasedDirectory
        if FileManager.default.fileExists(atPath: fixture.appendingPathComponent("vocab.txt").path) { return fixture }
        let weights = fixtureURL("../../Weights/models/all-MiniLM-L6-v2").standardizedFileURL
        if FileManager.default.fileExists(atPath: weights.appendingPathComponent("vocab.txt").path) { return weights }
        return nil
    }

    func testKnownIDsOnRealVocabulary() throws {
        guard let dir = realUncasedDirectory() else { throw XCTSkip("no bert-base-uncased vocabulary on disk") }
        let t = try BertTokenizer(vocabularyFile: dir.appendingPathComponent("vocab.txt"))
        XCTAssertEqual(try t.encode("Hello, world!").ids, [101, 7592, 1010, 2088, 999, 102])
        XCTAssertEqual(t.tokenize("unaffable"), ["una", "##ffa", "##ble"])
        XCTAssertEqual(try t.encode("[CLS]").ids, [101, 101, 102])
        XCTAssertEqual(try t.encode(String(repeating: "a", count: 101)).ids, [101, 100, 102])
        XCTAssertEqual(t.vocabularySize, 30522)
        let e = try t.encode("The quick brown fox jumps over the lazy dog.")
        XCTAssertEqual(try t.decode(e.ids, skipSpecialTokens: true), "the quick brown fox jumps over the lazy dog.")
    }

    /// Prints the speed of tokenizing 10k headline-like texts (not an assertion).
    func testSpeedOfTenThousandHeadlines() throws {
        guard let dir = realUncasedDirectory() else { throw XCTSkip("no bert-base-uncased vocabulary on disk") }
        let t = try BertTokenizer(vocabularyFile: dir.appendingPathComponent("vocab.txt"))
        let words = ["Stocks", "rally", "as", "Fed", "signals", "pause", "in", "rate", "hikes", "Scientists",
                     "discover", "new", "species", "of", "deep-sea", "fish", "near", "Japan", "Election", "results:",
                     "what", "we", "know", "so", "far", "Café", "owners", "brace", "for", "winter's", "energy", "bills",
                     "Tech", "giant's", "AI", "chatbot", "draws", "scrutiny", "from", "regulators", "U.S.", "économie",
                     "2024", "$1.5bn", "deal", "collapses", "after", "talks", "stall", "東京", "marathon", "record"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        let headlines = (0..<10_000).map { _ in (0..<(6 + next() % 10)).map { _ in words[next() % words.count] }.joined(separator: " ") }
        let start = Date()
        var total = 0
        for h in headlines { total += try t.encode(h).ids.count }
        let seconds = Date().timeIntervalSince(start)
        let batchStart = Date()
        let batch = try t.encodeBatch(headlines)
        let batchSeconds = Date().timeIntervalSince(batchStart)
        print(String(format: "[speed] 10k headlines: %.3f s (%d tokens, %.0f tokens/s); encodeBatch: %.3f s",
                     seconds, total, Double(total) / seconds, batchSeconds))
        XCTAssertEqual(batch.count, 10_000)
    }
}
