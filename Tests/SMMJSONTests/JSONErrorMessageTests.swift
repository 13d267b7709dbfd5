// JSONParseError read by a user: what is wrong and the byte where, through `localizedDescription`.
import Foundation
import SMMJSON
import XCTest

final class JSONErrorMessageTests: XCTestCase {
    func testParseErrorsNameTheProblemAndTheByte() {
        XCTAssertThrowsError(try JSONParser.parse(Array(#"{"a": 1,}"#.utf8))) { error in
            XCTAssertEqual(error.localizedDescription, "\(error)")
            XCTAssertTrue(error.localizedDescription.hasSuffix(" at byte 8"), error.localizedDescription)
            XCTAssertFalse(error.localizedDescription.contains("could not be completed"))
        }
        XCTAssertThrowsError(try JSONParser.parse(Array(#"{"a": 1, "a": 2}"#.utf8), rejectDuplicateKeys: true)) { error in
            XCTAssertEqual(error.localizedDescription, "\(error)")
            XCTAssertEqual(error.localizedDescription, "duplicate key \"a\" at byte 9")
        }
        XCTAssertThrowsError(try JSONParser.parse(Array("[1, 2]".utf8), maxBytes: 3)) { error in
            XCTAssertEqual(error.localizedDescription, "input of 6 bytes is over the limit of 3 at byte 0")
        }
    }
}
