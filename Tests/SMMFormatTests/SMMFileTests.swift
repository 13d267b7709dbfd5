import Foundation
import XCTest
@testable import SMMFormat

// MARK: - Test file helpers

/// A small valid `.smm` file exercising every storage kind.
enum SMMTestFile {
    static let configJSON = """
        {"model_type":"bert","vocab_size":7,"hidden_size":4,"num_hidden_layers":1,"num_attention_heads":1,\
        "intermediate_size":8,"max_position_embeddings":16,"id2label":{"0":"no","1":"yes"}}
        """

    static func metadata(dtype: ModelDType = .f32) throws -> SMMFileMetadata {
        try SMMFileMetadata(
            configJSON: configJSON,
            tokenizer: SMMTokenizerMetadata(kind: .wordpiece, vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b"],
                                            addedTokens: [SMMAddedToken(content: "[CLS]", id: 2)],
                                            specialTokenIDs: ["pad": 0, "unk": 1, "cls": 2, "sep": 3],
                                            doLowerCase: true, stripAccents: nil, cleanText: true, handleChineseChars: true),
            defaultPooling: "mean", maxLength: 12, dtype: dtype,
            provenance: SMMProvenance(sourceName: "tiny", sourcePath: "/models/tiny",
                                      sourceFiles: [SMMSourceFile(name: "model.safetensors", bytes: 10, sha256: String(repeating: "ab", count: 32))],
                                      converter: "tests", created: "2025-01-01T00:00:00Z"))
    }

    static let matrix: [Float] = (0..<12).map { Float($0) * 0.25 - 1.3 }
    static let wide: [Float] = (0..<12).map { sin(Float($0)) * Float($0 + 1) }

    static func writer() throws -> SMMFileWriter {
        var w = SMMFileWriter(metadata: try metadata())
        w.add(name: "t0", shape: [3, 4], floats: matrix)
        w.add(name: "t1", shape: [4], floats: [1, -2, 0.5, 65504], as: .f16)
        w.add(name: "half.bf16", shape: [2, 2], floats: [1.5, -3.25, 1e-3, 7], as: .bf16)
        w.addInt8(name: "q.rows", shape: [3, 4], axis: 0, floats: matrix)
        w.addInt8(name: "q.cols", shape: [4, 3], axis: 1, floats: wide)
        w.add(name: "ids", dtype: .i64, shape: [2]) { out in
            out.storeBytes(of: Int64(7).littleEndian, toByteOffset: 0, as: Int64.self)
            out.storeBytes(of: Int64(-1).littleEndian, toByteOffset: 8, as: Int64.self)
        }
        w.add(name: "empty", shape: [0, 5], floats: [])
        w.add(name: "scalar", shape: [], floats: [42])
        return w
    }

    static func bytes() throws -> [UInt8] { try writer().serialized() }

    static func u32(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }
    static func u64(_ b: [UInt8], _ o: Int) -> Int { (0..<8).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }
    static func put<T: FixedWidthInteger>(_ b: inout [UInt8], _ o: Int, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { for (i, x) in $0.enumerated() { b[o + i] = x } }
    }

    /// Recomputes the structure and header checksums from the header's (possibly edited) fields, so
    /// that tests reach the validation behind the checksums.
    static func fixChecksums(_ b: inout [UInt8]) {
        let headerSize = u32(b, 12)
        func range(_ o: Int) -> Range<Int> {
            let start = min(max(0, u64(b, o)), b.count)
            return start..<min(b.count, start + min(max(0, u64(b, o + 8)), b.count))
        }
        let meta = XXH64.hash(Array(b[range(24)]))
        put(&b, 112, XXH64.hash(Array(b[range(40)]), seed: meta))
        guard headerSize >= 16, headerSize <= b.count else { return }
        put(&b, headerSize - 8, XXH64.hash(Array(b[0..<(headerSize - 8)])))
    }

    /// Offset of table entry `index` in `b`.
    static func entryOffset(_ b: [UInt8], _ index: Int) -> Int {
        var cursor = u64(b, 40)
        for _ in 0..<index { cursor += u32(b, cursor) }
        return cursor
    }
}

func parseSMM(_ bytes: [UInt8], options: SMMFileReadOptions = SMMFileReadOptions()) throws -> SMMFileReader.Contents {
    try bytes.withUnsafeBytes { try SMMFileReader.parse($0, path: "test.smm", options: options) }
}

/// Asserts that `bytes` edited by `edit` (checksums then recomputed, so that the validation behind
/// them answers) is refused with a `FormatError` whose text contains `contains`; with
/// `alsoUnverified`, also without checksum verification.
func assertRefused(_ bytes: [UInt8], _ what: String, _ contains: String, alsoUnverified: Bool = false,
                   file: StaticString = #filePath, line: UInt = #line, _ edit: (inout [UInt8]) -> Void) {
    var b = bytes
    edit(&b)
    SMMTestFile.fixChecksums(&b)
    XCTAssertThrowsError(try parseSMM(b), what, file: file, line: line) { error in
        XCTAssertTrue(error is FormatError, "\(what): \(error)", file: file, line: line)
        XCTAssertTrue("\(error)".contains(contains), "\(what): \(error)", file: file, line: line)
    }
    if alsoUnverified {
        XCTAssertThrowsError(try parseSMM(b, options: SMMFileReadOptions(verifyStructureChecksums: false)), what,
                             file: file, line: line)
    }
}

// MARK: - Tests

final class SMMFileTests: XCTestCase {

    // MARK: Checksums

    func testSHA256KnownAnswers() {
        XCTAssertEqual(SHA256.hex(SHA256.hash([UInt8]())), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(SHA256.hash(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        XCTAssertEqual(SHA256.hex(hasher.finalize()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testXXH64KnownAnswers() {
        let long = [UInt8]((0..<768).map { UInt8($0 % 256) }) + Array("xyz".utf8)
        let cases: [([UInt8], UInt64, UInt64)] = [
            ([], 0xef46_db37_51d8_e999, 0x143d_0aa5_2b5b_1538),
            (Array("a".utf8), 0xd24e_c4f1_a98c_6e5b, 0x3f7d_54d0_d4f5_3a03),
            (Array("abc".utf8), 0x44bc_2cf5_ad77_0999, 0x5cdb_a7bd_a2a8_3e67),
            (Array("Nobody inspects the spammish repetition".utf8), 0xfbce_a83c_8a37_8bf1, 0x9a88_0f15_5b38_4bb4),
            (long, 0xe921_a1b4_5bd7_79f8, 0x7e74_4d82_ef52_e1c6),
        ]
        for (input, unseeded, seeded) in cases {
            XCTAssertEqual(XXH64.hash(input), unseeded, "\(input.count) bytes")
            XCTAssertEqual(XXH64.hash(input, seed: 0x12_3456_7890), seeded, "\(input.count) bytes, seeded")
        }
    }

    func testIncrementalHashingMatchesOneShot() {
        var rng = SeededGenerator(seed: 42)
        let data = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for _ in 0..<50 {
            var sha = SHA256(), xxh = XXH64(seed: 9)
            var i = 0
            while i < data.count {
                let n = min(data.count - i, Int.random(in: 0...150, using: &rng))
                sha.update(Array(data[i..<(i + n)]))
                xxh.update(Array(data[i..<(i + n)]))
                i += n
            }
            XCTAssertEqual(sha.finalize(), SHA256.hash(data))
            XCTAssertEqual(xxh.finalize(), XXH64.hash(data, seed: 9))
        }
    }

    // MARK: Round trip

    func testWriteThenReadRoundTrips() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("tiny.smm")
        let writer = try SMMTestFile.writer()
        let header = try writer.write(to: url)
        XCTAssertEqual(try [UInt8](Data(contentsOf: url)), try writer.serialized(), "file and in-memory bytes differ")
        let file = try SMMFile(path: url.path, options: SMMFileReadOptions(verifyBody: true))
        XCTAssertEqual(file.header, header)
        XCTAssertEqual(file.metadata, try SMMTestFile.metadata())
        XCTAssertEqual(file.metadata.labels, ["no", "yes"])
        XCTAssertEqual(file.metadata.defaultPooling, "mean")
        XCTAssertEqual(file.metadata.provenance.sourceFiles.first?.bytes, 10)
        XCTAssertEqual(file.tensors.map(\.name), ["t0", "t1", "half.bf16", "q.rows", "q.rows:scale", "q.cols", "q.cols:scale",
                                                  "ids", "empty", "scalar"])
        for entry in file.tensors {
            XCTAssertEqual(entry.dataOffset % 64, 0, entry.name)
            XCTAssertEqual(Int(bitPattern: file.rawBytes(entry).baseAddress) % 64, 0, entry.name)
        }
        XCTAssertEqual(try file.floats("t0"), SMMTestFile.matrix)
        XCTAssertEqual(try file.floats("t1"), [1, -2, 0.5, 65504])
        XCTAssertEqual(try file.floats("half.bf16"), [1.5, -3.25, Float(bitPattern: UInt32(f32ToBF16Bits(1e-3)) << 16), 7])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.floats("scalar"), [42])
        XCTAssertEqual(file.entry("scalar")?.shape, [])
        XCTAssertThrowsError(try file.floats("ids")) { XCTAssertTrue("\($0)".contains("i64") || "\($0)".contains("I64"), "\($0)") }
        XCTAssertEqual(Array(file.rawBytes(try XCTUnwrap(file.entry("ids")))), [7, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 255, count: 8))
        // int8: within half a step of the original, per channel.
        for (name, shape, axis, values) in [("q.rows", [3, 4], 0, SMMTestFile.matrix), ("q.cols", [4, 3], 1, SMMTestFile.wide)] {
            let entry = try XCTUnwrap(file.entry(name))
            XCTAssertEqual(entry.dtype, .i8)
            XCTAssertEqual(entry.quantization, .int8PerChannel(axis: axis, scaleTensor: try XCTUnwrap(file.index(of: name + ":scale"))))
            let scales = try file.floats(name + ":scale")
            XCTAssertEqual(scales.count, shape[axis])
            let restored = try file.floats(name)
            for (i, (a, b)) in zip(values, restored).enumerated() {
                let channel = axis == 0 ? i / shape[1] : i % shape[1]
                XCTAssertLessThanOrEqual(abs(a - b), scales[channel] / 2 + 1e-6, "\(name)[\(i)]")
            }
        }
        XCTAssertNoThrow(try file.verifyBody())
        XCTAssertEqual(file.computedBodyChecksum(), header.bodyChecksumHex)
        XCTAssertTrue(SMMFile.hasMagic(path: url.path))
        XCTAssertFalse(SMMFile.hasMagic(path: dir.path))
    }

    func testSHA256BodyChecksumAlsoVerifies() throws {
        var writer = try SMMTestFile.writer()
        writer.checksumKind = .sha256
        var bytes = try writer.serialized()
        let contents = try parseSMM(bytes, options: SMMFileReadOptions(verifyBody: true))
        XCTAssertEqual(contents.header.checksumKind, .sha256)
        XCTAssertEqual(contents.header.bodyChecksumHex.count, 64)
        bytes[bytes.count - 1] ^= 1
        XCTAssertThrowsError(try parseSMM(bytes, options: SMMFileReadOptions(verifyBody: true))) { error in
            guard case FormatError.checksumMismatch(_, let what, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(what.contains("sha256"), what)
        }
    }

    func testHeaderFollowsTheDocumentedLayout() throws {
        let b = try SMMTestFile.bytes()
        XCTAssertEqual(Array(b[0..<8]), [0x89, 0x53, 0x4D, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(Int(b[8]) | Int(b[9]) << 8, 1, "major")
        XCTAssertEqual(Int(b[10]) | Int(b[11]) << 8, 0, "minor")
        XCTAssertEqual(SMMTestFile.u32(b, 12), 128)
        XCTAssertEqual(SMMTestFile.u64(b, 16), b.count)
        XCTAssertEqual(SMMTestFile.u64(b, 24), 128, "metadata right after the header")
        let metadata = Array(b[128..<(128 + SMMTestFile.u64(b, 32))])
        XCTAssertEqual(metadata.first, UInt8(ascii: "{"))
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(metadata)))
        XCTAssertEqual(SMMTestFile.u64(b, 40) % 8, 0)
        XCTAssertEqual(SMMTestFile.u64(b, 56) % 64, 0)
        XCTAssertEqual(SMMTestFile.u32(b, 72), 10, "tensor count")
        XCTAssertEqual(SMMTestFile.u32(b, 76), 1, "xxh64 body checksum")
        XCTAssertEqual(UInt64(truncatingIfNeeded: SMMTestFile.u64(b, 80)), XXH64.hash(Array(b[128...])))
        XCTAssertEqual(UInt64(truncatingIfNeeded: SMMTestFile.u64(b, 120)), XXH64.hash(Array(b[0..<120])))
        // First table entry: t0, f32, [3, 4].
        let e = SMMTestFile.u64(b, 40)
        XCTAssertEqual(SMMTestFile.u32(b, e), 32 + 16 + 8)
        XCTAssertEqual(Int(b[e + 4]), 2, "name length")
        XCTAssertEqual(b[e + 6], ElementType.f32.smmCode)
        XCTAssertEqual(b[e + 7], 2, "rank")
        XCTAssertEqual(SMMTestFile.u64(b, e + 16), 48, "byte length")
        XCTAssertEqual(SMMTestFile.u32(b, e + 28), 0xFFFF_FFFF, "no scale tensor")
        XCTAssertEqual([SMMTestFile.u64(b, e + 32), SMMTestFile.u64(b, e + 40)], [3, 4])
        XCTAssertEqual(Array(b[(e + 48)..<(e + 50)]), Array("t0".utf8))
    }

    // MARK: Damaged files

    func testEveryTruncationIsAClearError() throws {
        let bytes = try SMMTestFile.bytes()
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try parseSMM(Array(bytes.prefix(length))), "length \(length)") { error in
                switch error as? FormatError {
                case .truncatedFile?: break
                case .notSMMFile? where length == 0: break
                default: XCTFail("length \(length): \(error)")
                }
                XCTAssertTrue("\(error)".contains("truncated") || length == 0, "\(error)")
            }
        }
        // Through a real file as well.
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("cut.smm")
        try Data(bytes.prefix(bytes.count - 100)).write(to: url)
        XCTAssertThrowsError(try SMMFile(path: url.path)) { error in
            XCTAssertEqual(error as? FormatError, .truncatedFile(path: url.path, expectedSize: bytes.count, actualSize: bytes.count - 100))
        }
        try Data().write(to: url)
        XCTAssertThrowsError(try SMMFile(path: url.path)) { XCTAssertEqual($0 as? FormatError, .emptyFile(path: url.path)) }
    }

    func testEveryFlippedBitIsDetected() throws {
        let bytes = try SMMTestFile.bytes()
        let dataStart = SMMTestFile.u64(bytes, 56)
        var atOpen = 0, atVerify = 0
        for position in 0..<bytes.count {
            var damaged = bytes
            damaged[position] ^= UInt8(1) << UInt8(position % 8)
            do {
                let contents = try parseSMM(damaged)
                XCTAssertGreaterThanOrEqual(position, 128, "header damage at \(position) went unnoticed")
                XCTAssertThrowsError(try damaged.withUnsafeBytes {
                    try SMMFileReader.verifyBody($0, header: contents.header, path: "test.smm")
                }, "damage at \(position) not caught by --verify") { error in
                    guard case FormatError.checksumMismatch = error else { return XCTFail("\(position): \(error)") }
                }
                atVerify += 1
            } catch let error as FormatError {
                XCTAssertLessThan(position, dataStart, "damage in the data section should open (\(error))")
                atOpen += 1
            }
        }
        XCTAssertEqual(atOpen + atVerify, bytes.count)
        XCTAssertGreaterThan(atOpen, 0)
        XCTAssertGreaterThan(atVerify, 0)
    }

    func testForeignFilesAreNamed() throws {
        func reason(_ bytes: [UInt8]) -> String {
            do {
                _ = try parseSMM(bytes)
                return "parsed"
            } catch FormatError.notSMMFile(_, let reason) {
                return reason
            } catch {
                return "\(error)"
            }
        }
        var st = SafetensorsTestWriter()
        st.add("w", shape: [2], floats: [1, 2])
        XCTAssertTrue(reason(st.bytes()).contains("safetensors"), reason(st.bytes()))
        XCTAssertTrue(reason(Array("{\"model_type\": \"bert\"}".utf8)).contains("JSON"))
        XCTAssertTrue(reason([0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0]).contains("zip"))
        XCTAssertTrue(reason(Array("GGUF\u{3}\0\0\0".utf8)).contains("GGUF"))
        var good = try SMMTestFile.bytes()
        good.remove(at: 4)   // "\r\n" → "\n", as a text-mode transfer does
        XCTAssertTrue(reason(good).contains("damaged"), reason(good))
        var rng = SeededGenerator(seed: 7)
        for n in [1, 7, 8, 100, 5000] {
            let random = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            XCTAssertTrue(reason(random).contains("magic"), "\(n): \(reason(random))")
        }
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("model.smm")
        try Data(st.bytes()).write(to: url)
        XCTAssertThrowsError(try SMMFile(path: url.path)) { error in
            XCTAssertTrue("\(error)".contains("is not an SMM model file"), "\(error)")
        }
    }

    func testVersionsAndHeaderSize() throws {
        let bytes = try SMMTestFile.bytes()
        var newer = bytes
        SMMTestFile.put(&newer, 8, UInt16(2))
        XCTAssertThrowsError(try parseSMM(newer)) { error in
            XCTAssertEqual(error as? FormatError, .unsupportedFormatVersion(path: "test.smm", major: 2, minor: 0, supportedMajor: 1))
            XCTAssertTrue("\(error)".contains("Upgrade"), "\(error)")
        }
        var zero = bytes
        SMMTestFile.put(&zero, 8, UInt16(0))
        XCTAssertThrowsError(try parseSMM(zero)) { XCTAssertTrue("\($0)".contains("does not exist"), "\($0)") }
        // A newer minor version is read (after its header checksum is right).
        var minor = bytes
        SMMTestFile.put(&minor, 10, UInt16(9))
        XCTAssertThrowsError(try parseSMM(minor)) { guard case FormatError.checksumMismatch = $0 else { return XCTFail("\($0)") } }
        SMMTestFile.fixChecksums(&minor)
        XCTAssertEqual(try parseSMM(minor).header.minorVersion, 9)
        XCTAssertEqual(try parseSMM(minor).tensors.count, 10)

        // A later minor version with a 256-byte header: new fields before the header checksum.
        var grown = Array(bytes[0..<120]) + [UInt8](repeating: 0xEE, count: 128) + [UInt8](repeating: 0, count: 8) + Array(bytes[128...])
        SMMTestFile.put(&grown, 12, UInt32(256))
        SMMTestFile.put(&grown, 16, UInt64(grown.count))
        for field in [24, 40, 56] { SMMTestFile.put(&grown, field, UInt64(SMMTestFile.u64(grown, field) + 128)) }
        for i in 0..<10 {
            let e = SMMTestFile.entryOffset(grown, i)
            SMMTestFile.put(&grown, e + 8, UInt64(SMMTestFile.u64(grown, e + 8) + 128))
        }
        SMMTestFile.fixChecksums(&grown)
        let parsed = try parseSMM(grown)
        XCTAssertEqual(parsed.header.headerSize, 256)
        let original = try parseSMM(bytes)
        XCTAssertEqual(parsed.tensors.map(\.name), original.tensors.map(\.name))
        XCTAssertEqual(parsed.metadata, original.metadata)
        try grown.withUnsafeBytes { raw in
            let entry = parsed.tensors[0]
            let floats = try [Float](unsafeUninitializedCapacity: 12) { buf, n in
                try SMMFileReader.copyFloats(entry, tensors: parsed.tensors, file: raw, path: "g", into: buf)
                n = 12
            }
            XCTAssertEqual(floats, SMMTestFile.matrix)
        }
    }

    /// Hostile headers and table entries, with their checksums recomputed so that the validation
    /// behind the checksums is what answers.
    func testAbsurdFieldsBehindValidChecksums() throws {
        let bytes = try SMMTestFile.bytes()
        let table = SMMTestFile.u64(bytes, 40)
        let second = SMMTestFile.entryOffset(bytes, 1)
        // Without checksum verification the same answer comes from the validation alone.
        func expectError(_ what: String, _ contains: String, line: UInt = #line, _ edit: (inout [UInt8]) -> Void) {
            assertRefused(bytes, what, contains, alsoUnverified: true, line: line, edit)
        }
        expectError("header size too small", "header size") { SMMTestFile.put(&$0, 12, UInt32(64)) }
        expectError("header size too large", "header size") { SMMTestFile.put(&$0, 12, UInt32(1 << 30)) }
        expectError("header size unaligned", "header size") { SMMTestFile.put(&$0, 12, UInt32(129)) }
        expectError("trailing bytes", "after the") { $0 += [0, 0, 0] }
        expectError("file size", "impossibly large") { SMMTestFile.put(&$0, 16, UInt64.max) }
        expectError("tensor count", "limit") { SMMTestFile.put(&$0, 72, UInt32.max) }
        expectError("tensor count vs table", "cannot hold") { SMMTestFile.put(&$0, 72, UInt32(2000)) }
        expectError("metadata length", "not inside the file") { SMMTestFile.put(&$0, 32, UInt64(1) << 40) }
        expectError("metadata length huge", "impossibly large") { SMMTestFile.put(&$0, 32, UInt64.max - 3) }
        expectError("metadata offset in header", "not inside the file after") { SMMTestFile.put(&$0, 24, UInt64(0)) }
        expectError("metadata empty", "metadata length") { SMMTestFile.put(&$0, 32, UInt64(0)) }
        expectError("sections overlap", "overlap") { SMMTestFile.put(&$0, 40, UInt64(128)) }
        expectError("data unaligned", "multiple of 64") {
            SMMTestFile.put(&$0, 56, UInt64(SMMTestFile.u64(bytes, 56) + 8))
            SMMTestFile.put(&$0, 64, UInt64(SMMTestFile.u64(bytes, 64) - 8))
        }
        expectError("table longer than its entries", "byte(s) after its 10 entries") { SMMTestFile.put(&$0, 48, UInt64(SMMTestFile.u64(bytes, 48) + 8)) }
        expectError("entry length", "entry length") { SMMTestFile.put(&$0, table, UInt32(12)) }
        expectError("entry length huge", "entry length") { SMMTestFile.put(&$0, table, UInt32.max) }
        expectError("name length 0", "name length") { SMMTestFile.put(&$0, table + 4, UInt16(0)) }
        expectError("name length huge", "name length") { SMMTestFile.put(&$0, table + 4, UInt16.max) }
        expectError("name past entry", "do not fit") { SMMTestFile.put(&$0, table + 4, UInt16(40)) }
        expectError("unknown dtype", "unknown dtype code 99") { $0[table + 6] = 99 }
        expectError("rank", "rank 200") { $0[table + 7] = 200 }
        expectError("rank past entry", "do not fit") { $0[table + 7] = 8 }
        expectError("huge dimension", "too large") { SMMTestFile.put(&$0, table + 32, UInt64.max) }
        expectError("overflowing shape", "overflows") { SMMTestFile.put(&$0, table + 32, UInt64(1) << 40); SMMTestFile.put(&$0, table + 40, UInt64(1) << 40) }
        expectError("shape vs length", "needs 96 bytes") { SMMTestFile.put(&$0, table + 32, UInt64(6)) }
        expectError("byte length", "needs 48 bytes") { SMMTestFile.put(&$0, table + 16, UInt64(1) << 62) }
        expectError("offset beyond the file", "not inside the data section") { SMMTestFile.put(&$0, table + 8, UInt64(1) << 40) }
        expectError("offset before data", "not inside the data section") { SMMTestFile.put(&$0, table + 8, UInt64(0)) }
        expectError("offset unaligned", "multiple of 64") { SMMTestFile.put(&$0, table + 8, UInt64(SMMTestFile.u64(bytes, table + 8) + 4)) }
        expectError("offset huge", "too large") { SMMTestFile.put(&$0, table + 8, UInt64.max) }
        expectError("overlapping tensors", "overlap") { SMMTestFile.put(&$0, second + 8, UInt64(SMMTestFile.u64(bytes, table + 8))) }
        expectError("duplicate names", "used by entry 0") { $0[second + 32 + 8 + 1] = UInt8(ascii: "0") }
        expectError("invalid UTF-8 name", "UTF-8") { $0[table + 48] = 0xFF }
        expectError("control character in name", "control") { $0[table + 48] = 0x1B }
        expectError("unknown quantization", "unknown quantization code 9") { $0[table + 24] = 9 }
        expectError("scale on unquantized", "unquantized") { SMMTestFile.put(&$0, table + 28, UInt32(1)) }
        let q = SMMTestFile.entryOffset(bytes, 3)   // q.rows, quantized along axis 0 by entry 4
        expectError("quantized non-i8", "needs dtype i8") { $0[q + 6] = ElementType.u8.smmCode }
        expectError("axis beyond rank", "axis 5") { $0[q + 25] = 5 }
        expectError("scale index beyond table", "scale tensor index") { SMMTestFile.put(&$0, q + 28, UInt32(1000)) }
        expectError("scale is itself", "scale tensor index") { SMMTestFile.put(&$0, q + 28, UInt32(3)) }
        expectError("scale of wrong shape", "must be f32 of shape [3]") { SMMTestFile.put(&$0, q + 28, UInt32(0)) }
        expectError("scale quantized", "must be f32") { SMMTestFile.put(&$0, q + 28, UInt32(5)) }
        expectError("metadata not JSON", "not valid JSON") { $0[128] = UInt8(ascii: "x") }
    }

    func testMetadataValidation() throws {
        let good = try SMMTestFile.metadata().encodedJSON()
        XCTAssertEqual(try good.withUnsafeBytes { try SMMFileMetadata.parse($0, path: "m") }, try SMMTestFile.metadata())
        func expectError(_ json: String, _ contains: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try Array(json.utf8).withUnsafeBytes { try SMMFileMetadata.parse($0, path: "m") },
                                 file: file, line: line) { error in
                XCTAssertTrue(error is FormatError, "\(error)", file: file, line: line)
                XCTAssertTrue("\(error)".contains(contains), "\(error)", file: file, line: line)
            }
        }
        let text = String(decoding: good, as: UTF8.self)
        func replacing(_ a: String, _ b: String) -> String {
            XCTAssertTrue(text.contains(a), a)
            return text.replacingOccurrences(of: a, with: b)
        }
        expectError("[]", "must be a JSON object")
        expectError("{", "not valid JSON")
        expectError(String(repeating: "[", count: 100_000), "not valid JSON")
        expectError(replacing("\"architecture\":\"bert\"", "\"architecture\":\"gpt2\""), "model type is 'bert'")
        expectError(replacing("\"architecture\":\"bert\",", ""), "missing key 'architecture'")
        expectError(replacing("\"kind\":\"wordpiece\"", "\"kind\":\"bpe\""), "does not fit")
        expectError(replacing("\"kind\":\"wordpiece\"", "\"kind\":\"unigram\""), "is not one of")
        expectError(replacing("\"vocabulary\":[", "\"vocabulary\":[1,"), "vocabulary'[0] must be a string")
        expectError(replacing("\"merges\":[]", "\"merges\":[\"a b\"]"), "has no 'merges'")
        expectError(replacing("\"cls\":2", "\"cls\":7000"), "outside")
        expectError(replacing("\"cls\":2", "\"cls\":-1"), "outside")
        expectError(replacing("\"cls\":2", "\"cls\":1e3"), "must be an integer")
        expectError(replacing("\"max_length\":12", "\"max_length\":0"), "max_length")
        expectError(replacing("\"max_length\":12", "\"max_length\":17"), "max_length")
        expectError(replacing("\"dtype\":\"f32\"", "\"dtype\":\"int4\""), "'dtype' 'int4'")
        expectError(replacing("\"labels\":[\"no\",\"yes\"]", "\"labels\":[\"no\"]"), "do not match")
        expectError(replacing("\"default_pooling\":\"mean\"", "\"default_pooling\":\"max\""), "default_pooling")
        expectError(replacing("\"vocab_size\":7", "\"vocab_size\":-7"), "vocab_size")
        expectError(replacing("\"model_type\":\"bert\"", "\"model_type\":\"llama\""), "llama")
        expectError(replacing("\"architecture\":\"bert\"", "\"architecture\":\"bert\",\"architecture\":\"bert\""), "duplicate")
        expectError(replacing("\"content\":\"[CLS]\"", "\"content\":\"\""), "empty 'content'")
        expectError(replacing("\"id\":2", "\"id\":99999999999"), "outside")
        expectError(replacing("\"bytes\":10", "\"bytes\":\"ten\""), "must be an integer")
        // A bpe tokenizer's merges must be two tokens.
        let gpt2 = try SMMFileMetadata(configJSON: "{\"model_type\":\"gpt2\",\"vocab_size\":4,\"n_embd\":4,\"n_layer\":1,\"n_head\":1,\"n_positions\":8,\"bos_token_id\":3,\"eos_token_id\":3}",
                                       tokenizer: SMMTokenizerMetadata(kind: .bpe, vocabulary: ["a", "b", "ab", "<|endoftext|>"], merges: ["a b"]),
                                       provenance: SMMProvenance(sourceName: "", sourcePath: "", sourceFiles: [], converter: "", created: ""))
        let gptText = String(decoding: gpt2.encodedJSON(), as: UTF8.self)
        let parsedGPT2 = try gpt2.encodedJSON().withUnsafeBytes { try SMMFileMetadata.parse($0, path: "m") }
        XCTAssertEqual(parsedGPT2, gpt2)
        XCTAssertEqual(parsedGPT2.architecture, "gpt2")
        XCTAssertEqual(parsedGPT2.tokenizer.kind, .bpe)
        XCTAssertEqual(parsedGPT2.tokenizer.merges, ["a b"])
        expectError(gptText.replacingOccurrences(of: "\"a b\"", with: "\"ab\""), "two tokens")
        expectError(gptText.replacingOccurrences(of: "\"a b\"", with: "\"a  b\""), "two tokens")
        // Every config accepted at conversion reads back from the file, the deepest one too: the
        // config sits one level inside the metadata (the fuzzer found 32 accepted, 32 + 1 unreadable).
        func nested(_ depth: Int) -> String {
            // depth counts the config object itself: 1 + (depth - 1) arrays.
            "{\"model_type\":\"gpt2\",\"vocab_size\":4,\"n_embd\":4,\"n_layer\":1,\"n_head\":1,\"n_positions\":8,"
                + "\"bos_token_id\":3,\"eos_token_id\":3,\"deep\":" + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
        }
        let bpe = SMMTokenizerMetadata(kind: .bpe, vocabulary: ["a", "b", "ab", "<|endoftext|>"], merges: ["a b"])
        let none = SMMProvenance(sourceName: "", sourcePath: "", sourceFiles: [], converter: "", created: "")
        var deepest = 0
        for depth in 2...34 {
            guard let m = try? SMMFileMetadata(configJSON: nested(depth), tokenizer: bpe, provenance: none) else { continue }
            deepest = depth
            XCTAssertNoThrow(try m.encodedJSON().withUnsafeBytes { try SMMFileMetadata.parse($0, path: "m") }, "depth \(depth)")
        }
        XCTAssertEqual(deepest, 31)
        XCTAssertThrowsError(try SMMFileMetadata(configJSON: nested(32), tokenizer: bpe, provenance: none)) {
            XCTAssertTrue("\($0)".contains("config.json"), "\($0)")
        }
        // Unknown keys are ignored (room for later minor versions).
        let withFutureKey = try Array(replacing("\"dtype\":\"f32\"", "\"dtype\":\"f32\",\"future\":{\"x\":[1,2]}").utf8)
            .withUnsafeBytes { try SMMFileMetadata.parse($0, path: "m") }
        XCTAssertEqual(withFutureKey, try SMMTestFile.metadata())
    }

    func testWriterRejectsInvalidTensors() throws {
        let metadata = try SMMTestFile.metadata()
        func expectError(_ contains: String, _ build: (inout SMMFileWriter) -> Void) {
            var w = SMMFileWriter(metadata: metadata)
            build(&w)
            XCTAssertThrowsError(try w.serialized()) { XCTAssertTrue("\($0)".contains(contains), "\($0)") }
        }
        expectError("added twice") { $0.add(name: "a", shape: [1], floats: [1]); $0.add(name: "a", shape: [1], floats: [1]) }
        expectError("UTF-8 bytes") { $0.add(name: "", shape: [1], floats: [1]) }
        expectError("UTF-8 bytes") { $0.add(name: "bad\nname", shape: [1], floats: [1]) }
        expectError("non-negative") { $0.add(name: "a", dtype: .f32, shape: [-1]) { _ in } }
        expectError("non-negative") { $0.add(name: "a", dtype: .f32, shape: Array(repeating: 1, count: 9)) { _ in } }
        expectError("too large") { $0.add(name: "a", dtype: .f32, shape: [1 << 40, 1 << 40]) { _ in } }
        expectError("scale tensor") { $0.add(name: "q", dtype: .i8, shape: [2, 2], quantization: .int8PerChannel(axis: 0, scaleTensor: "nope")) { _ in } }
        expectError("must be f32 of shape [2]") {
            $0.add(name: "q", dtype: .i8, shape: [2, 2], quantization: .int8PerChannel(axis: 0, scaleTensor: "s")) { _ in }
            $0.add(name: "s", shape: [3], floats: [1, 1, 1])
        }
    }

    /// Seeded random damage, with and without checksum verification and with the checksums
    /// recomputed after the damage: every attempt either opens (and then every tensor reads) or
    /// throws a `FormatError`. Never a crash. (Tools/fuzz.sh runs the libFuzzer version.)
    func testSeededMutationsNeverCrash() throws {
        let original = try SMMTestFile.bytes()
        let tableStart = SMMTestFile.u64(original, 40), dataStart = SMMTestFile.u64(original, 56)
        var rng = SeededGenerator(seed: 0x5EED_5A4E)
        var opened = 0, rejected = 0
        for iteration in 0..<3000 {
            var b = original
            switch iteration % 6 {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<b.count, using: &rng)
                    b[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                }
            case 1: // random bytes in the header fields
                for _ in 0..<Int.random(in: 1...3, using: &rng) { b[Int.random(in: 8..<128, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 2: // random bytes in the tensor table
                for _ in 0..<Int.random(in: 1...3, using: &rng) { b[Int.random(in: tableStart..<dataStart, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 3: // an interesting value in a random aligned field
                let values: [UInt64] = [0, 1, 63, 64, 127, 128, 255, 0xFFFF, 0xFFFF_FFFF, UInt64(Int.max), UInt64.max, UInt64(b.count)]
                let at = Int.random(in: 0..<(b.count / 4), using: &rng) * 4
                let v = values.randomElement(using: &rng)!
                for k in 0..<4 where at + k < b.count { b[at + k] = UInt8(truncatingIfNeeded: v >> UInt64(8 * k)) }
            case 4:
                b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
            default: // splice a slice elsewhere
                let a = Int.random(in: 0..<b.count, using: &rng), n = Int.random(in: 1...32, using: &rng)
                let slice = Array(b[a..<min(b.count, a + n)])
                let at = Int.random(in: 0..<b.count, using: &rng)
                b.replaceSubrange(at..<min(b.count, at + slice.count), with: slice)
            }
            if Bool.random(using: &rng), b.count >= 128, SMMTestFile.u32(b, 12) == 128 { SMMTestFile.fixChecksums(&b) }
            for verify in [true, false] {
                do {
                    let contents = try parseSMM(b, options: SMMFileReadOptions(verifyStructureChecksums: verify))
                    opened += 1
                    try b.withUnsafeBytes { raw in
                        for entry in contents.tensors {
                            XCTAssertLessThanOrEqual(entry.byteRange.upperBound, b.count)
                            guard entry.dtype.isConvertibleToF32 || entry.quantization != .none else { continue }
                            var out = [Float](repeating: 0, count: entry.elementCount)
                            try out.withUnsafeMutableBufferPointer {
                                try SMMFileReader.copyFloats(entry, tensors: contents.tensors, file: raw, path: "m", into: $0)
                            }
                        }
                    }
                } catch let error as FormatError {
                    rejected += 1
                    XCTAssertFalse(error.description.isEmpty)
                } catch {
                    XCTFail("iteration \(iteration): non-FormatError \(error)")
                }
            }
        }
        XCTAssertEqual(opened + rejected, 6000)
        XCTAssertGreaterThan(opened, 100)
        XCTAssertGreaterThan(rejected, 1000)
    }
}
