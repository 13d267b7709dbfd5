import Foundation
import XCTest
@testable import SMMModels

/// `EncoderBatch`'s fields are public and mutable; a batch whose arrays no longer match its
/// (batch, seqLength) is refused before anything reads them.
final class EncoderBatchValidationTests: XCTestCase {
    func testInconsistentBatchesAreRefused() throws {
        let model = try XCTUnwrap({ () -> EncoderModel? in
            if case .encoder(let e) = try ModelLoader.load(directory: Fixtures.url("models/tiny-bert")) { return e.model }
            return nil
        }(), "tiny-bert loads as an encoder")
        let good = try EncoderBatch(ids: [[2, 5, 3], [2, 6, 3]])
        XCTAssertEqual(try model.logits(good).count, 2)

        var longer = good
        longer.seqLength = 4
        var shorter = good
        shorter.ids.removeLast()
        var empty = good
        empty.seqLength = 0
        var overflow = good
        overflow.batch = Int.max
        var types = good
        types.typeIDs = [0]
        for (name, batch) in [("seqLength 4", longer), ("ids short", shorter), ("seqLength 0", empty),
                              ("batch Int.max", overflow), ("typeIDs short", types)] {
            XCTAssertThrowsError(try model.logits(batch), name) { error in
                guard case ModelError.invalidInput(let reason) = error else { return XCTFail("\(name): \(error)") }
                XCTAssertTrue(reason.contains("encoder batch") || reason.contains("needs"), "\(name): \(reason)")
            }
        }
    }
}
