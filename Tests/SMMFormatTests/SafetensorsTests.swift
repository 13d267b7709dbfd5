import Foundation
import XCTest
@testable import SMMFormat

final class SafetensorsTests: XCTestCase {

    private let weights: [Float] = [0.5, -1.25, 3.0, 0.0, 100.0, -0.001953125]   // exact in f16 and bf16

    // MARK: Round trips

    func testRoundTripF32F16BF16() throws {
        let dir = try makeTemporaryDirectory(self)
        var writer = SafetensorsTestWriter()
        writer.metadata = ["format": "pt", "note": "tiny \"test\""]
        writer.add("w32", shape: [2, 3], floats: weights, as: .f32)
        writer.add("w16", shape: [3, 2], floats: weights, as: .f16)
        writer.add("wbf", shape: [6], floats: weights, as: .bf16)
        writer.add("w64", shape: [1, 6], floats: weights, as: .f64)
        let url = dir.appendingPathComponent("model.safetensors")
        try writer.write(to: url)

        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.tensorNames, ["w16", "w32", "w64", "wbf"])
        XCTAssertEqual(file.count, 4)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "tiny \"test\""])
        XCTAssertEqual(try file.floats("w32"), weights)
        XCTAssertEqual(try file.floats("w16"), weights)
        XCTAssertEqual(try file.floats("wbf"), weights)
        XCTAssertEqual(try file.floats("w64"), weights)

        let headerLength = writer.header().utf8.count
        let dataStart = 8 + (headerLength + 7) / 8 * 8
        XCTAssertEqual(file.dataStart, dataStart)
        XCTAssertEqual(file.info("w32"), TensorInfo(name: "w32", dtype: .f32, shape: [2, 3],
                                                    byteRange: dataStart..<(dataStart + 24)))
        XCTAssertEqual(file.info("w16"), TensorInfo(name: "w16", dtype: .f16, shape: [3, 2],
                                                    byteRange: (dataStart + 24)..<(dataStart + 36)))
        XCTAssertEqual(file.info("wbf")?.byteRange.count, 12)
        XCTAssertEqual(file.info("w64")?.elementCount, 6)
        XCTAssertNil(file.info("nope"))

        // rawBytes is a view into the mapping, not a copy.
        let raw = try file.rawBytes("w16")
        XCTAssertEqual(raw.baseAddress, file.mapping.baseAddress + dataStart + 24)
        XCTAssertEqual(Array(raw), SafetensorsTestWriter.encode(weights, as: .f16))
        XCTAssertEqual(try file.withRawBytes("w32") { Array($0) }, SafetensorsTestWriter.encode(weights, as: .f32))

        var buffer = [Float](repeating: 0, count: 6)
        try buffer.withUnsafeMutableBufferPointer { try file.copyFloats("wbf", into: $0) }
        XCTAssertEqual(buffer, weights)
        var tooSmall = [Float](repeating: 0, count: 5)
        XCTAssertEqual(expectFormatError { try tooSmall.withUnsafeMutableBufferPointer { try file.copyFloats("w32", into: $0) } },
                       .bufferSizeMismatch(path: url.path, tensor: "w32", expectedCount: 6, actualCount: 5))
        XCTAssertEqual(expectFormatError { try file.floats("nope") },
                       .tensorNotFound(name: "nope", location: url.path, tried: ["nope"]))
        withExtendedLifetime(file) {}
    }

    func testRandomValuesRoundTripThroughEachDType() throws {
        let dir = try makeTemporaryDirectory(self)
        var rng = SeededGenerator(seed: 42)
        let values = (0..<1000).map { _ in Float.random(in: -4...4, using: &rng) }
        var writer = SafetensorsTestWriter()
        writer.add("a", shape: [10, 100], floats: values, as: .f32)
        writer.add("b", shape: [1000], floats: values, as: .f16)
        writer.add("c", shape: [10, 10, 10], floats: values, as: .bf16)
        let url = dir.appendingPathComponent("r.safetensors")
        try writer.write(to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(try file.floats("a"), values)
        let f16 = try file.floats("b")
        let bf16 = try file.floats("c")
        for i in 0..<values.count {
            XCTAssertEqual(f16[i], values[i], accuracy: 4.0 / 2048)    // half an ulp of f16 at |x| < 4
            XCTAssertEqual(bf16[i], values[i], accuracy: 4.0 / 256)    // half an ulp of bf16 at |x| < 4
        }
    }

    func testUnalignedHeaderScalarZeroSizeAndGaps() throws {
        let dir = try makeTemporaryDirectory(self)
        // Header not padded (odd length), a scalar, an empty tensor, and a gap before the last tensor.
        let scalar = SafetensorsTestWriter.encode([7.5], as: .f32)
        let vector = SafetensorsTestWriter.encode([1, 2, 3], as: .f32)
        let header = #"{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4]},"v":{"dtype":"F32","shape":[3],"data_offsets":[8,20]}}"#
        let bytes = SafetensorsTestWriter.file(header: header, data: scalar + [0, 0, 0, 0] + vector, align: false)
        let url = try writeFile(bytes, named: "odd.safetensors", in: dir)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.dataStart, 8 + header.utf8.count)
        XCTAssertEqual(try file.floats("s"), [7.5])
        XCTAssertEqual(file.info("s")?.shape, [])
        XCTAssertEqual(file.info("s")?.elementCount, 1)
        XCTAssertEqual(try file.floats("e"), [])
        XCTAssertEqual(file.info("e")?.elementCount, 0)
        XCTAssertEqual(try file.floats("v"), [1, 2, 3])
        XCTAssertEqual(file.metadata, [:])
        XCTAssertEqual(try file.view("v").isAligned, (8 + header.utf8.count + 8) % 4 == 0)
        XCTAssertEqual(try file.view("s").isAligned, (8 + header.utf8.count) % 4 == 0)
    }

    func testIntegerTensorsAreListedButUnsupportedAsFloats() throws {
        let dir = try makeTemporaryDirectory(self)
        var writer = SafetensorsTestWriter()
        var ids: [UInt8] = []
        for value: Int64 in [0, 1, 2, 511] { withUnsafeBytes(of: value.littleEndian) { ids += $0 } }
        writer.add("position_ids", dtype: "I64", shape: [1, 4], data: ids)
        writer.add("mask", dtype: "U8", shape: [3], data: [1, 0, 1])
        writer.add("w", shape: [2], floats: [1, 2])
        let url = dir.appendingPathComponent("ints.safetensors")
        try writer.write(to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.info("position_ids")?.dtype, .i64)
        XCTAssertEqual(file.info("mask")?.dtype, .u8)
        XCTAssertEqual(Array(try file.rawBytes("mask")), [1, 0, 1])
        let raw = try file.rawBytes("position_ids")
        XCTAssertEqual((0..<4).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }, [0, 1, 2, 511])
        XCTAssertEqual(expectFormatError { try file.floats("position_ids") },
                       .unsupportedDType(path: url.path, tensor: "position_ids", dtype: .i64, operation: "conversion to Float32"))
        XCTAssertEqual(try file.floats("w"), [1, 2])
        withExtendedLifetime(file) {}
    }

    func testUnicodeAndEscapedNames() throws {
        let dir = try makeTemporaryDirectory(self)
        var writer = SafetensorsTestWriter()
        writer.add("emb.wörter", shape: [1], floats: [1])
        writer.add("quote\"slash\\", shape: [1], floats: [2])
        let url = dir.appendingPathComponent("u.safetensors")
        try writer.write(to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(try file.floats("emb.wörter"), [1])
        XCTAssertEqual(try file.floats("quote\"slash\\"), [2])
    }

    // MARK: Validation

    /// Writes `bytes`, opens it as safetensors, and returns the FormatError it must raise.
    private func openError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> (FormatError?, String) {
        let dir = try makeTemporaryDirectory(self)
        let url = try writeFile(bytes, named: "bad.safetensors", in: dir)
        return (expectFormatError({ try SafetensorsFile(url: url) }, file: file, line: line), url.path)
    }

    private func validFile() -> [UInt8] {
        var writer = SafetensorsTestWriter()
        writer.add("a", shape: [2, 2], floats: [1, 2, 3, 4])
        writer.add("b", shape: [2], floats: [5, 6], as: .f16)
        return writer.bytes()
    }

    private func header(_ json: String, data: [UInt8] = [UInt8](repeating: 0, count: 64)) -> [UInt8] {
        SafetensorsTestWriter.file(header: json, data: data)
    }

    func testEmptyAndMissingFiles() throws {
        let (empty, path) = try openError([])
        XCTAssertEqual(empty, .emptyFile(path: path))
        let dir = try makeTemporaryDirectory(self)
        let missing = dir.appendingPathComponent("missing.safetensors")
        guard case let .cannotOpen(missingPath, reason)? = expectFormatError({ try SafetensorsFile(url: missing) }) else {
            return XCTFail("expected cannotOpen")
        }
        XCTAssertEqual(missingPath, missing.path)
        XCTAssertTrue(reason.contains("No such file"), reason)
    }

    func testTruncatedFiles() throws {
        let valid = validFile()
        // Shorter than the length prefix.
        let (tiny, tinyPath) = try openError(Array(valid.prefix(5)))
        XCTAssertEqual(tiny, .fileTooSmall(path: tinyPath, size: 5))
        // Cut inside the header.
        let (inHeader, headerPath) = try openError(Array(valid.prefix(30)))
        let headerLength = UInt64(valid.count - 8 - 20)   // 16 bytes of F32 + 4 of F16
        XCTAssertEqual(inHeader, .headerBeyondFile(path: headerPath, headerLength: headerLength, fileSize: 30))
        // Cut inside the data: the last tensor now reaches past the end.
        let (inData, dataPath) = try openError(Array(valid.dropLast(2)))
        XCTAssertEqual(inData, .offsetsOutOfRange(path: dataPath, tensor: "b", begin: 16, end: 20, dataLength: 18))
    }

    func testHeaderLengthBeyondFileAndHuge() throws {
        let json = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let beyondBytes = SafetensorsTestWriter.file(header: json, data: [0, 0, 0, 0], declaredLength: 1000)
        let (beyond, path) = try openError(beyondBytes)
        XCTAssertEqual(beyond, .headerBeyondFile(path: path, headerLength: 1000, fileSize: beyondBytes.count))
        XCTAssertTrue(beyond?.description.contains("1000") == true)

        let (huge, hugePath) = try openError(SafetensorsTestWriter.file(header: json, data: [], declaredLength: UInt64.max))
        XCTAssertEqual(huge, .headerTooLarge(path: hugePath, headerLength: UInt64.max, limit: 100_000_000))
        let (justOver, _) = try openError(SafetensorsTestWriter.file(header: json, data: [], declaredLength: 100_000_001))
        guard case .headerTooLarge(_, 100_000_001, _)? = justOver else { return XCTFail("\(String(describing: justOver))") }

        let (zero, zeroPath) = try openError(SafetensorsTestWriter.file(header: "", data: [1, 2, 3], declaredLength: 0))
        XCTAssertEqual(zero, .invalidHeader(path: zeroPath, reason: "the header is empty (length 0)"))
    }

    func testNonJSONAndWrongShapeHeaders() throws {
        let (garbage, _) = try openError(header("this is not json"))
        guard case let .invalidHeader(_, reason)? = garbage else { return XCTFail("\(String(describing: garbage))") }
        XCTAssertTrue(reason.contains("at byte 0"), reason)

        let (unterminated, _) = try openError(header(#"{"a":{"dtype":"F32""#))
        guard case .invalidHeader? = unterminated else { return XCTFail("\(String(describing: unterminated))") }

        let (array, _) = try openError(header(#"[{"dtype":"F32","shape":[1],"data_offsets":[0,4]}]"#))
        guard case let .invalidHeader(_, arrayReason)? = array else { return XCTFail("\(String(describing: array))") }
        XCTAssertTrue(arrayReason.contains("found an array"), arrayReason)

        let (entryNotObject, _) = try openError(header(#"{"a":[1,2]}"#))
        guard case let .invalidHeader(_, r1)? = entryNotObject else { return XCTFail() }
        XCTAssertTrue(r1.contains("'a'") && r1.contains("must be an object"), r1)

        let (noDType, _) = try openError(header(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#))
        guard case let .invalidHeader(_, r2)? = noDType else { return XCTFail() }
        XCTAssertTrue(r2.contains("no \"dtype\""), r2)

        let (badOffsets, _) = try openError(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#))
        guard case let .invalidHeader(_, r3)? = badOffsets else { return XCTFail() }
        XCTAssertTrue(r3.contains("data_offsets"), r3)

        let (badMeta, _) = try openError(header(#"{"__metadata__":{"n":5},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#))
        guard case let .invalidHeader(_, r4)? = badMeta else { return XCTFail() }
        XCTAssertTrue(r4.contains("__metadata__") && r4.contains("'n'"), r4)

        let (trailing, _) = try openError(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x"#))
        guard case let .invalidHeader(_, r5)? = trailing else { return XCTFail() }
        XCTAssertTrue(r5.contains("after the JSON value"), r5)

        // Invalid UTF-8 in a name.
        var json = Array(#"{"aX":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        json[3] = 0xFF
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
        let (utf8, _) = try openError(bytes + json + [0, 0, 0, 0])
        guard case let .invalidHeader(_, r6)? = utf8 else { return XCTFail("\(String(describing: utf8))") }
        XCTAssertTrue(r6.contains("UTF-8"), r6)
    }

    func testUnknownDType() throws {
        let (error, path) = try openError(header(#"{"a":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,1]}}"#))
        XCTAssertEqual(error, .unknownDType(path: path, tensor: "a", dtype: "Q4_K"))
        XCTAssertTrue(error?.description.contains("BF16") == true, "lists the known dtypes")
    }

    func testShapeLengthMismatch() throws {
        let (error, path) = try openError(header(#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#))
        XCTAssertEqual(error, .sizeMismatch(path: path, tensor: "a", dtype: .f32, shape: [2, 3], expectedBytes: 24, actualBytes: 20))
        XCTAssertTrue(error?.description.contains("24") == true && error?.description.contains("20") == true)
    }

    func testNegativeNonIntegerAndOverflowingShapes() throws {
        let (negative, path) = try openError(header(#"{"a":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,0]}}"#))
        XCTAssertEqual(negative, .invalidShape(path: path, tensor: "a", reason: "entry 1 (-3) is negative"))

        let (fraction, _) = try openError(header(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#))
        guard case let .invalidShape(_, _, r1)? = fraction else { return XCTFail() }
        XCTAssertTrue(r1.contains("not an integer"), r1)

        let (string, _) = try openError(header(#"{"a":{"dtype":"F32","shape":["4"],"data_offsets":[0,16]}}"#))
        guard case let .invalidShape(_, _, r2)? = string else { return XCTFail() }
        XCTAssertTrue(r2.contains("found a string"), r2)

        let (overflow, _) = try openError(header(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#))
        guard case let .invalidShape(_, _, r3)? = overflow else { return XCTFail("\(String(describing: overflow))") }
        XCTAssertTrue(r3.contains("overflows"), r3)

        let (byteOverflow, _) = try openError(header(#"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}}"#))
        guard case let .invalidShape(_, _, r4)? = byteOverflow else { return XCTFail("\(String(describing: byteOverflow))") }
        XCTAssertTrue(r4.contains("byte size"), r4)

        let (tooBig, _) = try openError(header(#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}"#))
        guard case let .invalidShape(_, _, r5)? = tooBig else { return XCTFail() }
        XCTAssertTrue(r5.contains("too large"), r5)

        // A zero dimension makes the tensor empty even when the others would overflow.
        let zeroURL = try writeFile(header(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"#),
                                    named: "zero.safetensors", in: try makeTemporaryDirectory(self))
        XCTAssertEqual(try SafetensorsFile(url: zeroURL).info("a")?.elementCount, 0)
    }

    func testOffsetsBeyondDataAndReversed() throws {
        let (beyond, path) = try openError(header(#"{"a":{"dtype":"F32","shape":[32],"data_offsets":[0,128]}}"#))
        XCTAssertEqual(beyond, .offsetsOutOfRange(path: path, tensor: "a", begin: 0, end: 128, dataLength: 64))

        let (reversed, path2) = try openError(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#))
        XCTAssertEqual(reversed, .offsetsOutOfRange(path: path2, tensor: "a", begin: 8, end: 4, dataLength: 64))
        XCTAssertTrue(reversed?.description.contains("begin after end") == true)

        let (negative, _) = try openError(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#))
        guard case .invalidHeader? = negative else { return XCTFail("\(String(describing: negative))") }

        let (huge, _) = try openError(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]}}"#))
        guard case let .invalidHeader(_, reason)? = huge else { return XCTFail("\(String(describing: huge))") }
        XCTAssertTrue(reason.contains("beyond"), reason)
    }

    func testOverlappingTensors() throws {
        let (error, path) = try openError(header(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#))
        XCTAssertEqual(error, .overlappingTensors(path: path, first: "a", firstRange: 0..<16, second: "b", secondRange: 8..<16))
        // A tensor inside another one that started earlier and is longer.
        let (nested, _) = try openError(header(#"{"big":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},"mid":{"dtype":"F32","shape":[1],"data_offsets":[32,36]},"in":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#))
        guard case let .overlappingTensors(_, first, _, second, _)? = nested else { return XCTFail("\(String(describing: nested))") }
        XCTAssertEqual([first, second], ["big", "in"])
        // Adjacent and empty tensors do not overlap.
        let url = try writeFile(header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#),
                                named: "adjacent.safetensors", in: try makeTemporaryDirectory(self))
        XCTAssertEqual(try SafetensorsFile(url: url).count, 3)
    }

    func testDuplicateNames() throws {
        let (error, path) = try openError(header(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#))
        XCTAssertEqual(error, .duplicateTensor(path: path, name: "a"))
        // A duplicate key inside an entry is a header error, not a duplicate tensor.
        let (inner, _) = try openError(header(#"{"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}"#))
        guard case let .invalidHeader(_, reason)? = inner else { return XCTFail("\(String(describing: inner))") }
        XCTAssertTrue(reason.contains("duplicate key \"dtype\""), reason)
    }

    func testErrorDescriptionsNameFileAndTensor() throws {
        let (error, path) = try openError(header(#"{"encoder.layer.0.w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#))
        let text = try XCTUnwrap(error).description
        XCTAssertTrue(text.contains(path), text)
        XCTAssertTrue(text.contains("encoder.layer.0.w"), text)
        XCTAssertEqual(try XCTUnwrap(error).localizedDescription, text)
    }
}
