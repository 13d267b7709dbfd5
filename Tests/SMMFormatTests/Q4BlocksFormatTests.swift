import Foundation
import XCTest
@testable import SMMFormat

/// Format 1.2's q4 blocks (quantization code 3): the round trip through a file, the minor version
/// the writer stores, and the reader's checks on every field that could lie.
final class Q4BlocksFormatTests: XCTestCase {
    /// (48 out, 64 in) as `nn.Linear`, and (32 in, 5 out) as GPT-2's `Conv1D`.
    let linear: [Float] = (0..<(48 * 64)).map { Float(($0 * 37) % 101) * 0.01 - 0.5 }
    let conv: [Float] = (0..<(32 * 5)).map { Float($0 % 13) - Float($0) * 0.125 }

    private func writer() throws -> SMMFileWriter {
        var w = SMMFileWriter(metadata: try SMMTestFile.metadata())
        w.add(name: "plain", shape: [2, 2], floats: [1, 2, 3, 4])
        w.addQ4(name: "linear.weight", shape: [48, 64], axis: 0, floats: linear)
        w.addQ4(name: "conv.weight", shape: [32, 5], axis: 1, floats: conv)
        return w
    }

    private func roundTripped(_ values: [Float], shape: [Int], axis: Int) -> [Float] {
        var copy = values
        copy.withUnsafeMutableBufferPointer { _ = SMMQ4Blocks.roundTrip($0.baseAddress!, shape: shape, axis: axis) }
        return copy
    }

    func testRoundTripThroughAFile() throws {
        let url = try makeTemporaryDirectory(self).appendingPathComponent("q4.smm")
        try writer().write(to: url)
        let file = try SMMFile(path: url.path, options: SMMFileReadOptions(verifyBody: true))
        XCTAssertEqual(file.header.minorVersion, 2, "q4 blocks are a 1.2 feature")
        let entry = try XCTUnwrap(file.entry("linear.weight"))
        let scale = try XCTUnwrap(file.entry("linear.weight:scale"))
        XCTAssertEqual(entry.quantization, .q4Blocks(axis: 0, scaleTensor: try XCTUnwrap(file.index(of: scale.name))))
        XCTAssertEqual(entry.dtype, .u8)
        XCTAssertEqual(entry.byteLength, 48 * 64 / 2)
        XCTAssertEqual(scale.dtype, .f16)
        XCTAssertEqual(scale.shape, [48, 2])
        XCTAssertEqual(file.scaleEntry(for: entry), scale)
        XCTAssertEqual(file.entry("conv.weight:scale")?.shape, [5, 1], "one block of 32 inputs per output")
        // Read back as f32: the values the blocks stand for.
        XCTAssertEqual(try file.floats("linear.weight"), roundTripped(linear, shape: [48, 64], axis: 0))
        XCTAssertEqual(try file.floats("conv.weight"), roundTripped(conv, shape: [32, 5], axis: 1))
        // The stored bytes are the documented layout: byte (n·K/32 + b)·16 + j holds codes j and j + 16.
        var values = [UInt8](repeating: 0, count: 48 * 32), scales = [UInt16](repeating: 0, count: 96)
        SMMQ4Blocks.quantize(linear, shape: [48, 64], axis: 0, values: &values, scales: &scales)
        XCTAssertEqual(Array(file.rawBytes(entry)), values)
        let rawScales = file.rawBytes(scale)
        XCTAssertEqual((0..<96).map { UInt16(littleEndian: rawScales.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }, scales)
        // A file without q4 blocks stays 1.0 (or 1.1 with panels).
        var plain = SMMFileWriter(metadata: try SMMTestFile.metadata())
        plain.add(name: "plain", shape: [2, 2], floats: [1, 2, 3, 4])
        XCTAssertEqual(try parseSMM(try plain.serialized()).header.minorVersion, 0)
    }

    func testReaderRejectsInconsistentQ4Entries() throws {
        let bytes = try writer().serialized()
        let entry = SMMTestFile.entryOffset(bytes, 1)   // linear.weight
        let scaleEntry = SMMTestFile.entryOffset(bytes, 2)   // linear.weight:scale
        func expectError(_ what: String, _ contains: String, line: UInt = #line, _ edit: (inout [UInt8]) -> Void) {
            assertRefused(bytes, what, contains, line: line, edit)
        }
        XCTAssertNoThrow(try parseSMM(bytes))
        expectError("not u8", "q4 blocks need dtype u8") { $0[entry + 6] = ElementType.i8.smmCode }
        expectError("inputs along the wrong axis", "multiple of 32 inputs across axis 1") { $0[entry + 25] = 1 }
        expectError("axis beyond rank 2", "across axis 7") { $0[entry + 25] = 7 }
        expectError("no scale tensor", "is not another entry") { SMMTestFile.put(&$0, entry + 28, UInt32(0xFFFF_FFFF)) }
        expectError("itself as scale", "is not another entry") { SMMTestFile.put(&$0, entry + 28, UInt32(1)) }
        expectError("an f32 tensor as scales", "must be f16 of shape [48, 2]") { SMMTestFile.put(&$0, entry + 28, UInt32(0)) }
        expectError("scales of the wrong dtype", "must be f16") { $0[scaleEntry + 6] = ElementType.bf16.smmCode }
        expectError("byte length of a full u8 tensor", "needs 1536 bytes") {
            SMMTestFile.put(&$0, entry + 16, UInt64(48 * 64))
        }
        // A 1.1 reader sees code 3 as unknown; this reader names an unknown code 4 too (its byte
        // length, half the u8 size, is the first thing that no longer fits).
        expectError("unknown quantization code", "needs 3072 bytes but the entry says 1536") { $0[entry + 24] = 4 }
    }

    func testWriterRejectsShapesThatAreNotWholeBlocks() throws {
        var w = SMMFileWriter(metadata: try SMMTestFile.metadata())
        w.addQ4(name: "bad", shape: [4, 33], axis: 0, floats: [Float](repeating: 1, count: 4 * 33))
        XCTAssertThrowsError(try w.serialized()) { XCTAssertTrue("\($0)".contains("cannot be stored in q4 blocks"), "\($0)") }
        var huge = SMMFileWriter(metadata: try SMMTestFile.metadata())
        huge.addQ4(name: "huge", shape: [1, 32], axis: 0, floats: [Float](repeating: 1e6, count: 32))
        XCTAssertThrowsError(try huge.serialized()) { XCTAssertTrue("\($0)".contains("too large for an f16 scale"), "\($0)") }
        var wrong = SMMFileWriter(metadata: try SMMTestFile.metadata())
        wrong.add(name: "w", dtype: .u8, shape: [2, 32], quantization: .q4Blocks(axis: 0, scaleTensor: "w:scale")) { _ in }
        wrong.add(name: "w:scale", dtype: .f32, shape: [2, 1]) { _ in }
        XCTAssertThrowsError(try wrong.serialized()) { XCTAssertTrue("\($0)".contains("must be f16 of shape [2, 1]"), "\($0)") }
    }
}
