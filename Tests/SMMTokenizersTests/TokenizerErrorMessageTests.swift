// TokenizerError read by a user: the file, token or id, and what to do, through
// `localizedDescription` (the same text as `description`).
import Foundation
import SMMTokenizers
import XCTest

final class TokenizerErrorMessageTests: XCTestCase {
    private func text(_ error: any Error, file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertTrue(error is TokenizerError, "\(error)", file: file, line: line)
        XCTAssertEqual(error.localizedDescription, "\(error)", file: file, line: line)
        return error.localizedDescription
    }

    func testAMissingVocabularyNamesThePathAndTheFix() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("smm-no-such-\(UUID().uuidString)/vocab.txt")
        XCTAssertThrowsError(try BertTokenizer(vocabularyFile: missing)) { error in
            XCTAssertEqual(text(error), "tokenizer file not found: \(missing.path); copy it from the model's original "
                + "files into that folder")
        }
    }

    func testAVocabularyWithoutSpecialTokensNamesTheToken() {
        XCTAssertThrowsError(try BertTokenizer(vocabulary: ["hello", "world"])) { error in
            let message = text(error)
            XCTAssertTrue(message.hasPrefix("the vocabulary has no special token [UNK]"), message)
            XCTAssertTrue(message.hasSuffix("; use the tokenizer files the model was trained with"), message)
        }
    }

    func testTheOtherCases() {
        XCTAssertEqual(text(TokenizerError.invalidFile(path: "/m/tokenizer.json", reason: "is a directory, not a file")),
                       "invalid tokenizer file /m/tokenizer.json: is a directory, not a file; replace it with the model's original file")
        XCTAssertEqual(text(TokenizerError.unknownID(99_999)),
                       "token id 99999 is not in the vocabulary; decode only ids this model's tokenizer produced")
        XCTAssertEqual(text(TokenizerError.invalidInput("maxLength must leave room for [CLS] and [SEP], got 1")),
                       "cannot tokenize: maxLength must leave room for [CLS] and [SEP], got 1")
    }
}
