import Foundation
import XCTest
@testable import SMMFormat

/// Tensors added with values that do not fit their shape, or an axis outside it, make `write` throw
/// (naming the tensor) instead of writing past a buffer or trapping.
final class WriterValidationTests: XCTestCase {
    private func assertWriteFails(_ writer: SMMFileWriter, mentioning needle: String, line: UInt = #line) throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smm-writer-\(UUID().uuidString).smm")
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try writer.write(to: url), line: line) { error in
            XCTAssertTrue("\(error)".contains(needle), "\(error)", line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path), "nothing written", line: line)
    }

    func testMismatchedValuesAndAxesAreRejected() throws {
        let metadata = try SMMTestFile.metadata()
        var tooMany = SMMFileWriter(metadata: metadata)
        tooMany.add(name: "t", shape: [2, 2], floats: [1, 2, 3, 4, 5])
        try assertWriteFails(tooMany, mentioning: "tensor 't' has shape [2, 2] (4 elements) but 5 values")

        var badAxis = SMMFileWriter(metadata: metadata)
        badAxis.addInt8(name: "q", shape: [2, 2], axis: 2, floats: [1, 2, 3, 4])
        try assertWriteFails(badAxis, mentioning: "axis 2 is not a dimension")

        var badDType = SMMFileWriter(metadata: metadata)
        badDType.add(name: "i", shape: [1], floats: [1], as: ElementType.i8)
        try assertWriteFails(badDType, mentioning: "floats can be stored as f32, f16 or bf16")

        var badPanels = SMMFileWriter(metadata: metadata)
        badPanels.addPackedPanels(name: "p", shape: [2, 5], axis: 0, floats: [Float](repeating: 0, count: 10))
        try assertWriteFails(badPanels, mentioning: "cannot be stored in packed panels")

        var negative = SMMFileWriter(metadata: metadata)
        negative.add(name: "n", shape: [-1, -4], floats: [1, 2, 3, 4])
        try assertWriteFails(negative, mentioning: "tensor 'n' has shape [-1, -4]")
    }

    func testAValidWriterStillWrites() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smm-writer-\(UUID().uuidString).smm")
        defer { try? FileManager.default.removeItem(at: url) }
        try SMMTestFile.writer().write(to: url)
        XCTAssertEqual(try SMMFile(path: url.path).tensors.map(\.name).first, "t0")
    }
}
