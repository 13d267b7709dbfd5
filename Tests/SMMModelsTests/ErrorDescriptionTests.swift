// Every public error type reads the same through `localizedDescription` as through `description`
// (without `LocalizedError`, Foundation prints "The operation could not be completed. (… error 5.)").
import Foundation
import SMMKernels
import SMMModels
import SMMTokenizers
import XCTest

final class ErrorDescriptionTests: XCTestCase {
    func testLocalizedDescriptionIsTheMessage() {
        let errors: [any Error & CustomStringConvertible] = [
            ModelError.wrongShape(name: "encoder.layer.0.attention.self.query.weight", expected: [384, 384], actual: [384, 383]),
            TokenizerError.fileNotFound("/models/minilm/vocab.txt"),
            WorkerPoolError.invalidThreadCount(0),
        ]
        for error in errors {
            XCTAssertEqual(error.localizedDescription, error.description)
            XCTAssertFalse(error.localizedDescription.contains("could not be completed"), error.localizedDescription)
        }
        XCTAssertTrue(ModelError.wrongShape(name: "w", expected: [2], actual: [3]).localizedDescription.contains("w"))
        XCTAssertTrue(TokenizerError.fileNotFound("/models/minilm/vocab.txt").localizedDescription.contains("/models/minilm/vocab.txt"))
        XCTAssertTrue(WorkerPoolError.invalidThreadCount(0).localizedDescription.contains("invalid thread count 0"))
    }
}
