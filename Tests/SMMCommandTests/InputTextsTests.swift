// How the CLI splits standard input into texts: LF, CRLF and mixed line ends, --jsonl, and the
// errors for bad input.
import Foundation
import XCTest
@testable import smm

final class InputTextsTests: XCTestCase {
    func parse(_ text: String, jsonl: Bool = false) throws -> [String] {
        try InputTexts.parse(Data(text.utf8), jsonl: jsonl)
    }

    func testCRLFGivesOneTextPerLineWithoutCR() throws {
        let texts = try parse("I love it\r\nI hate it\r\n")
        XCTAssertEqual(texts, ["I love it", "I hate it"])
        XCTAssertFalse(texts.contains { $0.utf8.contains(0x0D) })
    }

    func testMixedLFAndCRLF() throws {
        XCTAssertEqual(try parse("one\ntwo\r\nthree\nfour\r\n"), ["one", "two", "three", "four"])
        XCTAssertEqual(try parse("no final newline\r\nlast"), ["no final newline", "last"])
    }

    func testLoneCRInsideALineIsKept() throws {
        let texts = try parse("a\rb\r\nc\n")
        XCTAssertEqual(texts.count, 2)
        XCTAssertEqual(Array(texts[0].utf8), [0x61, 0x0D, 0x62])
        XCTAssertEqual(texts[1], "c")
        // Only one CR before the LF is a line end; a second one belongs to the text.
        XCTAssertEqual(Array(try parse("x\r\r\n")[0].utf8), [0x78, 0x0D])
    }

    func testBlankLinesAreSkippedAndNumberingKept() throws {
        XCTAssertEqual(try parse("\r\n  \r\nfirst\r\n\t\n\r\r\nsecond"), ["first", "second"])
        XCTAssertThrowsError(try parse("{\"text\":\"a\"}\r\n\r\nnot json\r\n", jsonl: true)) { error in
            XCTAssertEqual("\(error)", "line 3 of standard input is not a JSON object")
        }
    }

    func testByteOrderMarkAtTheStartIsDropped() throws {
        var data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data("{\"text\":\"hi\"}\r\n".utf8))
        XCTAssertEqual(try InputTexts.parse(data, jsonl: true), ["hi"])
        data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data("hi\r\n".utf8))
        XCTAssertEqual(try InputTexts.parse(data, jsonl: false), ["hi"])
    }

    func testJSONLWithCRLF() throws {
        let texts = try parse("{\"text\":\"I love it\"}\r\n{\"text\":\"line\\r\\nbreak\"}\r\n", jsonl: true)
        XCTAssertEqual(texts, ["I love it", "line\r\nbreak"])
    }

    func testJSONLEmptyTextIsRejected() throws {
        for empty in ["\"\"", "\"   \"", "\"\\r\\n\""] {
            XCTAssertThrowsError(try parse("{\"text\":\"fine\"}\n{\"text\":\(empty)}\n", jsonl: true)) { error in
                XCTAssertEqual("\(error)", "line 2 of standard input has an empty \"text\"")
            }
        }
        XCTAssertThrowsError(try parse("{\"txt\":\"a\"}\r\n", jsonl: true)) { error in
            XCTAssertEqual("\(error)", "line 1 of standard input has no string field \"text\"")
        }
        XCTAssertThrowsError(try parse("[1, 2]\n", jsonl: true)) { error in
            XCTAssertEqual("\(error)", "line 1 of standard input is not a JSON object")
        }
    }

    func testJSONLWithTextArgumentsIsRejected() throws {
        XCTAssertThrowsError(try InputTexts.read(arguments: ["a text"], jsonl: true)) { error in
            XCTAssertEqual("\(error)", "--jsonl reads standard input; do not also pass texts")
        }
        XCTAssertEqual(try InputTexts.read(arguments: ["a", "b"], jsonl: false), ["a", "b"])
        XCTAssertThrowsError(try InputTexts.read(arguments: ["a", " \r\n"], jsonl: false)) { error in
            XCTAssertEqual("\(error)", "text argument 2 is empty")
        }
    }

    func testInvalidUTF8NamesTheOffsetInTheWholeInput() throws {
        var data = Data("ok\r\nab".utf8)
        data.append(0xFF)
        data.append(Data("\r\n".utf8))
        XCTAssertThrowsError(try InputTexts.parse(data, jsonl: false)) { error in
            XCTAssertEqual("\(error)", "standard input is not valid UTF-8 (first bad byte at offset 6)")
        }
        // A truncated 3-byte sequence right before the line end.
        XCTAssertThrowsError(try InputTexts.parse(Data([0x61, 0x0A, 0xE2, 0x82, 0x0D, 0x0A]), jsonl: false)) { error in
            XCTAssertEqual("\(error)", "standard input is not valid UTF-8 (first bad byte at offset 2)")
        }
        XCTAssertEqual(try InputTexts.parse(Data([0xE2, 0x82, 0xAC, 0x0D, 0x0A]), jsonl: false), ["€"])
    }

    func testNoTextsAndTooLongTexts() throws {
        for input in ["", "\r\n\r\n", "  \n\t\r\n"] {
            XCTAssertThrowsError(try parse(input)) { error in
                XCTAssertEqual("\(error)",
                               "no input texts: pass TEXT arguments or write one text per line to standard input")
            }
        }
        let long = String(repeating: "a", count: InputTexts.maxTextBytes + 1)
        XCTAssertThrowsError(try parse("short\r\n" + long + "\r\n")) { error in
            XCTAssertEqual("\(error)", "text 2 is 1048577 bytes; the limit is 1048576")
        }
        XCTAssertEqual(try parse(String(repeating: "a", count: InputTexts.maxTextBytes) + "\r\n")[0].utf8.count,
                       InputTexts.maxTextBytes)
    }

    /// An argument whose raw bytes were not UTF-8 (Swift shows them as U+FFFD) is refused, as
    /// standard input is; a real U+FFFD typed by the user is a text like any other.
    func testArgumentsThatWereNotUTF8AreRefused() throws {
        let decoded = "caf\u{FFFD}"
        XCTAssertThrowsError(try InputTexts.check(arguments: ["ok", decoded], invalid: [decoded])) {
            XCTAssertEqual("\($0)", "text argument 2 is not valid UTF-8")
        }
        XCTAssertEqual(try InputTexts.check(arguments: ["ok", decoded], invalid: []), ["ok", decoded])
    }
}
