import Foundation
import XCTest
@testable import SMMTokenizers

/// Token ids a file may name are bounded: an absurd id is an error, not an allocation of that size
/// or an arithmetic trap.
final class TokenizerLimitsTests: XCTestCase {
    private func write(_ text: String, _ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smm-toklimits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    private func assertRejects(_ expression: @autoclosure () throws -> Any, mentioning needle: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(needle), "\(error)", file: file, line: line)
        }
    }

    func testGPT2VocabularyIDsAreBounded() throws {
        for id in ["9223372036854775807", "10000000"] {
            let vocab = try write("{\"a\": 0, \"b\": \(id)}", "vocab.json")
            let merges = try write("#version: 0.2\n", "merges.txt")
            assertRejects(try GPT2Tokenizer(vocabularyFile: vocab, mergesFile: merges), mentioning: "has id \(id), outside 0 ..< 10000000")
        }
        // The largest allowed id loads.
        XCTAssertNoThrow(try GPT2Tokenizer(vocabulary: ["a": 0, "b": 9_999_999], merges: [], specialTokens: [:]))
        assertRejects(try GPT2Tokenizer(vocabulary: ["a": 0], merges: [], specialTokens: ["<|x|>": Int.max]),
                      mentioning: "outside 0 ..< 10000000")
    }

    func testWordPieceIDsAreBounded() throws {
        let json = """
        {"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1000000000000000}}}
        """
        assertRejects(try BertTokenizer(tokenizerJSON: try write(json, "tokenizer.json")),
                      mentioning: "is not an integer in 0 ..< 10000000")
        let added = """
        {"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}},
         "added_tokens": [{"content": "[X]", "id": 99999999999, "special": true}]}
        """
        assertRejects(try BertTokenizer(tokenizerJSON: try write(added, "tokenizer.json")),
                      mentioning: "added token \"[X]\" has id 99999999999")
    }
}
