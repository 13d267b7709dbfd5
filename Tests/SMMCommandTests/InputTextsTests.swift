// How the CLI splits standard input into texts: LF, CRLF and mixed line ends, --jsonl records
// (a failed record in its place, the rest read on), chunked reading, and the errors for bad input.
import Foundation
import XCTest
@testable import smm

final class InputTextsTests: XCTestCase {
    func parse(_ text: String, jsonl: Bool = false) throws -> [String] {
        try texts(InputTexts.parse(Data(text.utf8), jsonl: jsonl))
    }

    func records(_ text: String) throws -> [InputRecord] {
        try InputTexts.parse(Data(text.utf8), jsonl: true)
    }

    func texts(_ records: [InputRecord]) throws -> [String] {
        try records.map {
            guard case .text(let t) = $0 else { throw CLIError("a failed record: \($0)") }
            return t
        }
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

    func testBlankLinesAreSkippedInPlainInputButAreFailedJSONLRecords() throws {
        XCTAssertEqual(try parse("\r\n  \r\nfirst\r\n\t\n\r\r\nsecond"), ["first", "second"])
        XCTAssertEqual(try records("{\"text\":\"a\"}\r\n\r\nnot json\r\n"), [
            .text("a"),
            .failed("the line is blank; expected a JSON object with a string \"text\""),
            .failed("the line is not valid JSON: invalid literal at byte 0"),
        ])
    }

    func testByteOrderMarkAtTheStartIsDropped() throws {
        var data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data("{\"text\":\"hi\"}\r\n".utf8))
        XCTAssertEqual(try InputTexts.parse(data, jsonl: true), [.text("hi")])
        data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data("hi\r\n".utf8))
        XCTAssertEqual(try InputTexts.parse(data, jsonl: false), [.text("hi")])
    }

    func testJSONLWithCRLF() throws {
        let texts = try parse("{\"text\":\"I love it\"}\r\n{\"text\":\"line\\r\\nbreak\"}\r\n", jsonl: true)
        XCTAssertEqual(texts, ["I love it", "line\r\nbreak"])
    }

    /// Empty and blank texts are texts, as in Hugging Face; a line that cannot be read is a failed
    /// record naming why, and the lines after it are read on.
    func testJSONLRecordsAnswerEveryLine() throws {
        let input = """
            {"text":"fine"}
            {"text":""}
            {"text":"   "}
            {"text":"\\r\\n"}
            {"txt":"a"}
            {"text":5}
            [1, 2]
            {"text":"\\u0000\\u0007"}
            {"text":"last"}
            """
        XCTAssertEqual(try records(input), [
            .text("fine"), .text(""), .text("   "), .text("\r\n"),
            .failed("the object has no field \"text\""),
            .failed("the field \"text\" is not a string"),
            .failed("the line is not a JSON object"),
            .text("\u{0000}\u{0007}"), .text("last"),
        ])
        var bad = Data("{\"text\":\"ok\"}\n{\"text\":\"caf".utf8)
        bad.append(0xE9)
        bad.append(Data("\"}\n{\"text\":\"after\"}\n".utf8))
        XCTAssertEqual(try InputTexts.parse(bad, jsonl: true), [
            .text("ok"), .failed("the line is not valid UTF-8 (first bad byte at offset 26 of the input)"), .text("after"),
        ])
        let long = "{\"text\":\"" + String(repeating: "a", count: InputTexts.maxTextBytes + 1) + "\"}"
        XCTAssertEqual(try records(long + "\n{\"text\":\"b\"}"),
                       [.failed("the text is 1048577 bytes; the limit is 1048576"), .text("b")])
    }

    func testJSONLWithTextArgumentsIsRejectedAndBlankArgumentsAreTexts() throws {
        XCTAssertThrowsError(try InputTexts.read(arguments: ["a text"], jsonl: true)) { error in
            XCTAssertEqual("\(error)", "--jsonl reads standard input; do not also pass texts")
        }
        XCTAssertEqual(try InputTexts.read(arguments: ["a", "b"], jsonl: false), ["a", "b"])
        XCTAssertEqual(try InputTexts.read(arguments: ["a", " \r\n", ""], jsonl: false), ["a", " \r\n", ""])
    }

    /// A line longer than `maxLineBytes` is not held: it is one failed record (--jsonl) or an error.
    func testOverlongLineIsOneFailedRecord() throws {
        var splitter = LineSplitter(maxLineBytes: 10)
        var lines = splitter.append(Data("short\n0123456789AB".utf8))
        lines += splitter.append(Data("CDEF\nnext\r".utf8))
        lines += splitter.append(Data("\n".utf8))
        XCTAssertNil(splitter.finish())
        XCTAssertEqual(lines.map(\.bytes), [Array("short".utf8), [], Array("next".utf8)])
        XCTAssertEqual(lines.map(\.overflowed), [false, true, false])
        XCTAssertEqual(lines.map(\.number), [1, 2, 3])
        XCTAssertEqual(lines.map(\.offset), [0, 6, 23])
        XCTAssertEqual(try InputTexts.record(lines[1], jsonl: true),
                       .failed("the line is over \(InputTexts.maxLineBytes) bytes"))
        XCTAssertThrowsError(try InputTexts.record(lines[1], jsonl: false)) {
            XCTAssertEqual("\($0)", "line 2 of standard input: the line is over \(InputTexts.maxLineBytes) bytes")
        }
    }

    /// Fed one byte at a time, the splitter gives the same lines and offsets as fed all at once,
    /// a byte order mark split across chunks included.
    func testChunkBoundariesDoNotMatter() throws {
        var input = Data([0xEF, 0xBB, 0xBF])
        input.append(Data("one\r\ntwo\n\nthree".utf8))
        var whole = LineSplitter(maxLineBytes: 100)
        var all = whole.append(input)
        if let last = whole.finish() { all.append(last) }
        var bytewise = LineSplitter(maxLineBytes: 100)
        var each: [Line] = []
        for b in input { each += bytewise.append(Data([b])) }
        if let last = bytewise.finish() { each.append(last) }
        XCTAssertEqual(all.map(\.bytes), [Array("one".utf8), Array("two".utf8), [], Array("three".utf8)])
        XCTAssertEqual(each.map(\.bytes), all.map(\.bytes))
        XCTAssertEqual(each.map(\.offset), [3, 8, 12, 13])
        XCTAssertEqual(all.map(\.offset), [3, 8, 12, 13])
        // A lone 0xEF is not a byte order mark: it is a (bad) line of its own.
        var lone = LineSplitter(maxLineBytes: 100)
        XCTAssertEqual(lone.append(Data([0xEF])).count, 0)
        XCTAssertEqual(lone.finish()?.bytes, [0xEF])
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
        XCTAssertEqual(try InputTexts.parse(Data([0xE2, 0x82, 0xAC, 0x0D, 0x0A]), jsonl: false), [.text("€")])
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
            XCTAssertEqual("\(error)", "line 2 of standard input is 1048577 bytes; the limit is 1048576")
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
