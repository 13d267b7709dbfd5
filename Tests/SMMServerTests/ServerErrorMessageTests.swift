// The server's public errors read by a user through `localizedDescription`: the status, the value
// and the option to change.
import Foundation
import XCTest
@testable import SMMServer

final class ServerErrorMessageTests: XCTestCase {
    func testServerErrorsNameTheValueAndTheOption() {
        let cases: [(ServerError, String)] = [
            (.tooManyInputs("input", count: 40, limit: 32),
             "413: 40 inputs in one request, at most 32 allowed (--max-client-batch-size); split them into smaller requests"),
            (.bodyTooLarge(limit: 4096), "413: the request body is larger than 4096 bytes (--max-body-bytes)"),
            (.overloaded(queue: 9, limit: 8), "429: model queue is full (9 of 8 texts waiting, --max-queue); retry shortly"),
            (.tooLong("input", tokens: 600, limit: 512),
             "422: input has 600 tokens but the model takes at most 512 (special tokens included); send shorter text or truncate: true"),
            (.modelNotFound("gpt-4", served: ["minilm"]), "404: model 'gpt-4' is not served here; served: minilm"),
        ]
        for (error, expected) in cases {
            XCTAssertEqual(error.localizedDescription, expected)
            XCTAssertEqual((error as any Error).localizedDescription, error.description)
        }
    }

    func testTimeoutsAndOptionErrors() {
        let timeout = RequestReadTimeout(seconds: 30)
        XCTAssertEqual(timeout.localizedDescription, timeout.description)
        XCTAssertEqual(timeout.localizedDescription, "the request was not received within 30 s (--read-timeout-s); send the "
            + "whole request sooner, or start the server with a larger --read-timeout-s")
        var options = ServerOptions()
        options.maxQueue = 0
        XCTAssertThrowsError(try options.validate()) { error in
            XCTAssertEqual(error.localizedDescription, "--max-queue must be >= 1, got 0")
            XCTAssertEqual(error.localizedDescription, "\(error)")
        }
    }
}
