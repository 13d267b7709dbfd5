import XCTest
import SMMJSON

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String, rejectDuplicates: Bool = false, maxDepth: Int = 128) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8), rejectDuplicateKeys: rejectDuplicates, maxDepth: maxDepth)
    }

    func testValuesAndEscapes() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "e": {}} "#)
        guard case let .object(object) = value else { return XCTFail() }
        XCTAssertEqual(object.keys, ["a", "s", "e"])
        XCTAssertEqual(object["a"], .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        XCTAssertEqual(object["s"], .string("x\"\\/\u{8}\u{c}\n\r\té😀"))
        XCTAssertEqual(object["e"], .object(JSONObject()))
        XCTAssertEqual(JSONValue.number("-2.5e3").doubleValue, -2500)
        XCTAssertEqual(JSONValue.number("42").exactInt, 42)
        XCTAssertNil(JSONValue.number("4.0").exactInt)
        XCTAssertNil(JSONValue.number("9223372036854775808").exactInt)
        XCTAssertEqual(try parse("\u{FEFF}[]"), .array([]), "a byte order mark is skipped")
    }

    func testRejectsMalformedInput() {
        let bad = ["", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul",
                   "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\u{1}b\"", "[1 2]", "{\"a\" 1}",
                   "NaN", "Infinity", "[] []", "'a'"]
        for text in bad {
            XCTAssertThrowsError(try parse(text), "accepted \(text.debugDescription)")
        }
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]), "invalid UTF-8")
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]), "encoded surrogate")
    }

    func testDuplicateKeysAndDepth() throws {
        XCTAssertEqual(try parse(#"{"a":1,"a":2}"#), .object({ var o = JSONObject(); o.set("a", .number("2")); return o }()))
        do {
            _ = try parse(#"{"x":{"a":1,"a":2}}"#, rejectDuplicates: true)
            XCTFail("duplicate accepted")
        } catch let error as JSONParseError {
            XCTAssertEqual(error.duplicateKey, "a")
            XCTAssertEqual(error.depth, 2)
        }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        XCTAssertThrowsError(try parse(deep)) { error in
            XCTAssertTrue("\(error)".contains("nesting deeper than 128"))
        }
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
    }

    func testKeysAreComparedAsBytesNotByCanonicalEquivalence() throws {
        // "é" precomposed and "e" + combining acute: equal as Swift Strings, two keys in JSON.
        let value = try parse("{\"\u{E9}\":1,\"e\u{301}\":2}", rejectDuplicates: true)
        guard case let .object(object) = value else { return XCTFail() }
        XCTAssertEqual(object.count, 2)
        XCTAssertEqual(object["\u{E9}"], .number("1"))
        XCTAssertEqual(object["e\u{301}"], .number("2"))
        // Past the linear-scan size too (the index is byte-keyed).
        var many = (0..<20).map { "\"k\($0)\":\($0)" }
        many.append("\"\u{E9}\":100")
        many.append("\"e\u{301}\":200")
        guard case let .object(big) = try parse("{" + many.joined(separator: ",") + "}", rejectDuplicates: true) else { return XCTFail() }
        XCTAssertEqual(big.count, 22)
        XCTAssertEqual(big["k13"], .number("13"))
        XCTAssertEqual(big["\u{E9}"], .number("100"))
        XCTAssertEqual(big["e\u{301}"], .number("200"))
    }

    func testSizeLimit() {
        XCTAssertNoThrow(try JSONParser.parse(Array("[1,2]".utf8), maxBytes: 5))
        XCTAssertThrowsError(try JSONParser.parse(Array("[1,2] ".utf8), maxBytes: 5)) { error in
            XCTAssertTrue("\(error)".contains("over the limit of 5"), "\(error)")
        }
    }

    func testWriterRoundTripsAndEscapes() throws {
        let value = JSONValue.record([("s", .string("q\"b\\n\n\t\u{1}é")), ("i", .int(-3)), ("f", .float(0.1)),
                                      ("d", .double(.nan)), ("a", .ints([1, 2])), ("o", .record([])), ("n", .null),
                                      ("b", .bool(false))])
        XCTAssertEqual(value.text, #"{"s":"q\"b\\n\n\t\u0001é","i":-3,"f":0.1,"d":null,"a":[1,2],"o":{},"n":null,"b":false}"#)
        XCTAssertEqual(try JSONParser.parse(value.serialized()), value)
        XCTAssertEqual(JSONValue.quoted("a\"b"), #""a\"b""#)
        XCTAssertEqual(JSONValue.double(2.5).text, "2.5")
        XCTAssertEqual(JSONValue.float(1e-5).text, "1e-05")
        XCTAssertEqual(try JSONParser.parse(Array("1e-05".utf8)).doubleValue, 1e-5)
    }
}
