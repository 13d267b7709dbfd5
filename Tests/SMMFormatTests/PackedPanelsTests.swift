import Foundation
import XCTest
@testable import SMMFormat

/// Format 1.1's packed-panel f32 tensors (quantization code 2): the documented order, the round
/// trip through a file, and the reader's checks on every field that could lie.
final class PackedPanelsTests: XCTestCase {
    /// (96 out, 5 in) as `nn.Linear`, and (7 in, 48 out) as GPT-2's `Conv1D`.
    let linear: [Float] = (0..<(96 * 5)).map { Float($0) * 0.5 - 17 }
    let conv: [Float] = (0..<(7 * 48)).map { Float($0 % 13) - Float($0) * 0.125 }

    private func writer() throws -> SMMFileWriter {
        var w = SMMFileWriter(metadata: try SMMTestFile.metadata())
        w.add(name: "plain", shape: [2, 2], floats: [1, 2, 3, 4])
        w.addPackedPanels(name: "linear.weight", shape: [96, 5], axis: 0, floats: linear)
        w.addPackedPanels(name: "conv.weight", shape: [7, 48], axis: 1, floats: conv)
        return w
    }

    func testPanelOrderIsTheDocumentedFormula() {
        var packed = [Float](repeating: .nan, count: linear.count)
        linear.withUnsafeBufferPointer { src in
            packed.withUnsafeMutableBufferPointer { SMMPanelLayout.pack(src.baseAddress!, shape: [96, 5], axis: 0, into: $0.baseAddress!) }
        }
        // W[n][k] at ((n / 48) * K + k) * 48 + n % 48.
        for n in 0..<96 {
            for k in 0..<5 { XCTAssertEqual(packed[((n / 48) * 5 + k) * 48 + n % 48], linear[n * 5 + k], "[\(n)][\(k)]") }
        }
        var back = [Float](repeating: .nan, count: linear.count)
        packed.withUnsafeBufferPointer { src in
            back.withUnsafeMutableBufferPointer { SMMPanelLayout.unpack(src.baseAddress!, shape: [96, 5], axis: 0, into: $0.baseAddress!) }
        }
        XCTAssertEqual(back, linear)
        // (in, out): W[n][k] is element (k, n) of the checkpoint tensor.
        var packedConv = [Float](repeating: .nan, count: conv.count)
        conv.withUnsafeBufferPointer { src in
            packedConv.withUnsafeMutableBufferPointer { SMMPanelLayout.pack(src.baseAddress!, shape: [7, 48], axis: 1, into: $0.baseAddress!) }
        }
        for n in 0..<48 {
            for k in 0..<7 { XCTAssertEqual(packedConv[k * 48 + n], conv[k * 48 + n]) }
        }
        XCTAssertFalse(SMMPanelLayout.accepts(shape: [95, 5], axis: 0))
        XCTAssertFalse(SMMPanelLayout.accepts(shape: [96, 5, 1], axis: 0))
        XCTAssertFalse(SMMPanelLayout.accepts(shape: [96, 0], axis: 0))
        XCTAssertTrue(SMMPanelLayout.accepts(shape: [5, 96], axis: 1))
    }

    func testRoundTripThroughAFile() throws {
        let url = try makeTemporaryDirectory(self).appendingPathComponent("packed.smm")
        try writer().write(to: url)
        let file = try SMMFile(path: url.path, options: SMMFileReadOptions(verifyBody: true))
        XCTAssertEqual(file.header.minorVersion, 1)
        let entry = try XCTUnwrap(file.entry("linear.weight"))
        XCTAssertEqual(entry.quantization, .packedPanels(axis: 0))
        XCTAssertEqual(entry.byteLength, 96 * 5 * 4)
        XCTAssertEqual(file.entry("conv.weight")?.quantization, .packedPanels(axis: 1))
        XCTAssertEqual(file.entry("plain")?.quantization, SMMQuantization.none)
        // Read back as plain f32 in the checkpoint's order.
        XCTAssertEqual(try file.floats("linear.weight"), linear)
        XCTAssertEqual(try file.floats("conv.weight"), conv)
        // The stored bytes are the panels: element (n = 50, k = 3) of the linear weight.
        let raw = file.rawBytes(entry)
        XCTAssertEqual(raw.load(fromByteOffset: 4 * ((1 * 5 + 3) * 48 + 2), as: Float.self), linear[50 * 5 + 3])
    }

    func testReaderRejectsInconsistentPanelEntries() throws {
        let bytes = try writer().serialized()
        let entry = SMMTestFile.entryOffset(bytes, 1)   // linear.weight
        func expectError(_ what: String, _ contains: String, line: UInt = #line, _ edit: (inout [UInt8]) -> Void) {
            assertRefused(bytes, what, contains, line: line, edit)
        }
        XCTAssertNoThrow(try parseSMM(bytes))
        expectError("not f32", "packed panels need dtype f32") {
            $0[entry + 6] = ElementType.i32.smmCode   // same byte size, so only the packing rule can object
        }
        expectError("outputs along the short axis", "multiple of 48 outputs along axis 1") { $0[entry + 25] = 1 }
        expectError("axis beyond rank 2", "along axis 7") { $0[entry + 25] = 7 }
        expectError("a scale tensor", "has a scale tensor") { SMMTestFile.put(&$0, entry + 28, UInt32(0)) }
    }

    func testWriterRejectsShapesThatAreNotWholePanels() throws {
        var w = SMMFileWriter(metadata: try SMMTestFile.metadata())
        w.add(name: "bad", dtype: .f32, shape: [95, 5], quantization: .packedPanels(axis: 0)) { _ in }
        XCTAssertThrowsError(try w.serialized()) { XCTAssertTrue("\($0)".contains("multiple of 48"), "\($0)") }
        var f16 = SMMFileWriter(metadata: try SMMTestFile.metadata())
        f16.add(name: "half", dtype: .f16, shape: [48, 2], quantization: .packedPanels(axis: 0)) { _ in }
        XCTAssertThrowsError(try f16.serialized()) { XCTAssertTrue("\($0)".contains("needs dtype f32"), "\($0)") }
    }
}
