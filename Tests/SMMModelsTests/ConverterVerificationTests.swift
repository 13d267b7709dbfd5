// ModelConverter.verify: the converter's own policy (outputs equal to the source's at the same
// dtype, to 1e-5), which smm-convert --verify prints and enforces.
import Foundation
import XCTest
import SMMFormat
import SMMModels

final class ConverterVerificationTests: XCTestCase {
    func testAConversionMatchesItsSourceAtTheSameDType() throws {
        let dir = try Fixtures.scratchDirectory(self, prefix: "verify")
        for (model, dtype) in [("tiny-distilbert", ModelDType.int8), ("tiny-gpt2", .f16), ("tiny-bert", .f32)] {
            let file = try Fixtures.convert(model, dtype, into: dir)
            let converted = try ModelLoader.load(path: file.path)
            let v = try ModelConverter.verify(converted: converted, source: Fixtures.url("models/\(model)"), dtype: dtype)
            XCTAssertEqual(v.failures, [], "\(model) \(dtype)")
            XCTAssertFalse(v.comparisons.isEmpty)
            for c in v.comparisons {
                XCTAssertLessThanOrEqual(c.maxAbsDiff, ModelConverter.verificationTolerance, "\(model) \(dtype) \(c.output)")
                XCTAssertTrue(c.tokenizationEqual)
            }
        }
    }

    func testAFileJudgedAgainstAnotherDTypeFails() throws {
        let dir = try Fixtures.scratchDirectory(self, prefix: "verify")
        let file = try Fixtures.convert("tiny-distilbert", .int8, into: dir)
        let converted = try ModelLoader.load(path: file.path)
        // The int8 file against the f32 source: quantization error, far above 1e-5.
        let v = try ModelConverter.verify(converted: converted, source: Fixtures.url("models/tiny-distilbert"), dtype: .f32)
        XCTAssertFalse(v.failures.isEmpty)
        XCTAssertTrue(v.failures.contains { $0.contains("differ from the source's at f32") }, "\(v.failures)")
    }
}
