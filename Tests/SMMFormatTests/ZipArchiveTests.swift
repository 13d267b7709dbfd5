// The DEFLATE decoder and the zip reader against streams and an archive made by Python's zlib and
// zipfile (Tools/make_zip_fixtures.py, committed in Tests/Fixtures/zip), and against damaged input:
// every damaged stream is an error (or, for a flipped bit that still decodes, a CRC mismatch in the
// zip reader), never a crash or a hang.
import Foundation
import SMMFormat
import XCTest

private func zipFixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/zip/\(name)")
    return [UInt8](try Data(contentsOf: url))
}

final class InflateTests: XCTestCase {
    func assertInflates(_ stream: String, to expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let input = try zipFixture(stream)
        let want = try zipFixture(expected)
        let got = try Inflate.decompress(input, expectedSize: want.count)
        XCTAssertEqual(got.count, want.count, stream, file: file, line: line)
        XCTAssertTrue(got == want, "\(stream) decodes to other bytes", file: file, line: line)
    }

    func testStoredFixedAndDynamicBlocks() throws {
        // First block types, as zlib chose them: stored (0), fixed (1), dynamic (2).
        XCTAssertEqual((try zipFixture("text-stored.deflate")[0] >> 1) & 3, 0)
        XCTAssertEqual((try zipFixture("text-fixed.deflate")[0] >> 1) & 3, 1)
        XCTAssertEqual((try zipFixture("text-dynamic.deflate")[0] >> 1) & 3, 2)
        try assertInflates("text-stored.deflate", to: "text.bin")
        try assertInflates("text-fixed.deflate", to: "text.bin")
        try assertInflates("text-dynamic.deflate", to: "text.bin")
    }

    func testSeveralBlockTypesInOneStream() throws {
        try assertInflates("mixed.deflate", to: "mixed.bin")
    }

    func testCodesLongerThanTheDirectTable() throws {
        try assertInflates("skewed.deflate", to: "skewed.bin")
    }

    func testEmptyStreams() throws {
        // Python: zlib.compressobj(9, zlib.DEFLATED, -15).compress(b"") + flush() == b"\x03\x00"
        XCTAssertEqual(try Inflate.decompress([0x03, 0x00], expectedSize: 0), [])
        // A final stored block of length 0.
        XCTAssertEqual(try Inflate.decompress([0x01, 0x00, 0x00, 0xFF, 0xFF], expectedSize: 0), [])
    }

    func testTruncatedStreamsAreErrors() throws {
        let want = try zipFixture("text.bin")
        XCTAssertThrowsError(try Inflate.decompress(try zipFixture("text-truncated.deflate"), expectedSize: want.count)) {
            XCTAssertEqual($0 as? InflateError, .truncated, "\($0)")
        }
        for name in ["text-stored.deflate", "text-fixed.deflate", "text-dynamic.deflate", "mixed.deflate"] {
            let full = try zipFixture(name)
            let size = try zipFixture(name.hasPrefix("mixed") ? "mixed.bin" : "text.bin").count
            for cut in [0, 1, 2, 5, full.count / 3, full.count - 1] {
                XCTAssertThrowsError(try Inflate.decompress(Array(full[0..<cut]), expectedSize: size), "\(name) cut at \(cut)")
            }
        }
        XCTAssertThrowsError(try Inflate.decompress([], expectedSize: 0)) {
            XCTAssertEqual($0 as? InflateError, .truncated, "\($0)")
        }
    }

    func testCorruptStreamsAreErrors() throws {
        func assertError(_ bytes: [UInt8], _ expected: InflateError, size: Int = 100, line: UInt = #line) {
            XCTAssertThrowsError(try Inflate.decompress(bytes, expectedSize: size), line: line) {
                XCTAssertEqual($0 as? InflateError, expected, "\($0)", line: line)
            }
        }
        // BFINAL=1, BTYPE=11.
        assertError([0x07, 0x00], .invalidBlockType)
        // A stored block whose NLEN is not the complement of LEN.
        assertError([0x01, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5], .storedLengthMismatch(length: 5, complement: 0))
        // A stored block longer than the data that follows.
        assertError([0x01, 0x05, 0x00, 0xFA, 0xFF, 1, 2], .truncated)
        // Fixed Huffman: literal 'a' (0x61 -> code 0x91, 8 bits), then length 3 (code 257, 7 bits
        // 0000001) at distance 2 (code 1, 5 bits 00001): one byte back is all there is.
        var bits = BitWriter()
        bits.write(1, 1); bits.write(1, 2)
        bits.writeCode(0x30 + 0x61, 8)
        bits.writeCode(1, 7); bits.writeCode(1, 5)
        bits.writeCode(0, 7)
        assertError(bits.bytes, .distanceTooFar(distance: 2, available: 1))
        // Fixed Huffman literal/length code 286 (reserved): 8-bit code 0xC6.
        var reserved = BitWriter()
        reserved.write(1, 1); reserved.write(1, 2)
        reserved.writeCode(0xC0 + (286 - 280), 8)
        assertError(reserved.bytes, .invalidSymbol)
        // More output than expected, and less.
        let text = try zipFixture("text.bin")
        let dynamic = try zipFixture("text-dynamic.deflate")
        assertError(dynamic, .outputTooLarge(expected: text.count - 1), size: text.count - 1)
        assertError(dynamic, .outputTooSmall(expected: text.count + 1, actual: text.count), size: text.count + 1)
        // A dynamic header asking for 30 + 1 distance codes... (HDIST = 31 -> 32 codes).
        var header = BitWriter()
        header.write(1, 1); header.write(2, 2)
        header.write(0, 5); header.write(31, 5); header.write(0, 4)
        header.write(0, 32)
        assertError(header.bytes, .invalidCodeLengths("257 literal/length and 32 distance codes (at most 286 and 30)"))
    }

    /// Flipped bytes and bits anywhere in the dynamic and mixed streams: an error or some output,
    /// never a crash, and quickly (each decode is bounded by its input and output sizes).
    func testDamagedStreamsNeverCrashOrHang() throws {
        var rng = SplitMix(seed: 7)
        let start = Date()
        for name in ["text-dynamic.deflate", "mixed.deflate", "skewed.deflate", "text-fixed.deflate"] {
            let original = try zipFixture(name)
            let size = try zipFixture(name.hasPrefix("mixed") ? "mixed.bin" : name.hasPrefix("skewed") ? "skewed.bin" : "text.bin").count
            for _ in 0..<400 {
                var damaged = original
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let at = Int(rng.next() % UInt64(damaged.count))
                    damaged[at] ^= UInt8(1 << (rng.next() % 8))
                }
                if rng.next() % 4 == 0 { damaged = Array(damaged[0..<Int(rng.next() % UInt64(damaged.count))]) }
                _ = try? Inflate.decompress(damaged, expectedSize: size)
            }
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }

    func testCRC32() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([]), 0)
        // In pieces, across the 8-byte fast path.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var c = CRC32()
        bytes[0..<3].withUnsafeBytes { c.update($0) }
        bytes[3..<517].withUnsafeBytes { c.update($0) }
        bytes[517...].withUnsafeBytes { c.update($0) }
        XCTAssertEqual(c.value, CRC32.checksum(bytes))
        // Python: zlib.crc32(bytes((i * 31 + 7) & 255 for i in range(1000)))
        XCTAssertEqual(CRC32.checksum(bytes), 0x8902_161E)
    }
}

final class ZipArchiveTests: XCTestCase {
    func testReadsStoredAndDeflatedEntries() throws {
        let archive = try ZipArchive(bytes: try zipFixture("small.zip"), name: "small.zip")
        XCTAssertEqual(archive.entries.map(\.name), ["stored.txt", "pkg/", "pkg/deflated.txt", "pkg/sub/empty.txt"])
        XCTAssertEqual(archive.entries.map(\.method), [0, 0, 8, 8])
        XCTAssertEqual(archive.entries.map(\.isDirectory), [false, true, false, false])
        let stored = try XCTUnwrap(archive.entry(named: "stored.txt"))
        XCTAssertEqual(String(decoding: try archive.contents(of: stored), as: UTF8.self), "stored, not compressed\n")
        let deflated = try XCTUnwrap(archive.entry(named: "pkg/deflated.txt"))
        XCTAssertEqual(try archive.contents(of: deflated), Array(try zipFixture("text.bin")[0..<2000]))
        XCTAssertEqual(try archive.contents(of: try XCTUnwrap(archive.entry(named: "pkg/sub/empty.txt"))), [])
        XCTAssertEqual(try archive.contents(of: try XCTUnwrap(archive.entry(named: "pkg/"))), [])
    }

    func testReadsFromAFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smm-zip-\(UUID().uuidString).zip")
        try Data(try zipFixture("small.zip")).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let archive = try ZipArchive(path: url.path)
        XCTAssertEqual(archive.entries.count, 4)
        XCTAssertEqual(try archive.contents(of: archive.entries[0]).count, 23)
    }

    func testNotAZip() {
        XCTAssertThrowsError(try ZipArchive(bytes: Array("just some text, no zip".utf8), name: "x")) {
            XCTAssertEqual($0 as? ZipError, .notAZip(path: "x"))
            XCTAssertEqual("\($0)", "x is not a zip archive, or is truncated (no end-of-central-directory record)")
        }
        XCTAssertThrowsError(try ZipArchive(bytes: [], name: "empty")) { XCTAssertEqual($0 as? ZipError, .notAZip(path: "empty")) }
    }

    /// Every prefix of the archive is an error when opened (the end record is its last 22 bytes).
    func testTruncatedArchivesAreErrors() throws {
        let full = try zipFixture("small.zip")
        for cut in 0..<full.count {
            XCTAssertThrowsError(try ZipArchive(bytes: Array(full[0..<cut]), name: "cut"), "cut at \(cut)")
        }
    }

    /// An entry whose data would run past the end of the archive (its compressed size made larger
    /// in the central directory) is an error naming it.
    func testDataPastTheEndIsAnError() throws {
        var bytes = try zipFixture("small.zip")
        let name = Array("pkg/deflated.txt".utf8)
        var at = -1
        for i in 0..<(bytes.count - 46) where bytes[i] == 0x50 && bytes[i + 1] == 0x4B && bytes[i + 2] == 1 && bytes[i + 3] == 2
            && Array(bytes[(i + 46)..<min(i + 46 + name.count, bytes.count)]) == name { at = i }
        XCTAssertGreaterThan(at, 0)
        bytes[at + 22] = 0x10  // compressed size |= 0x100000
        let archive = try ZipArchive(bytes: bytes, name: "small.zip")
        XCTAssertThrowsError(try archive.contents(of: archive.entries[2])) {
            XCTAssertTrue("\($0)".contains("run past the end of the archive (970 bytes): truncated"), "\($0)")
        }
    }

    func testCorruptDataIsACRCOrInflateError() throws {
        var bytes = try zipFixture("small.zip")
        let archive = try ZipArchive(bytes: bytes, name: "small.zip")
        let stored = archive.entries[0]
        // The stored data starts after the 30-byte local header and the name.
        let at = stored.localHeaderOffset + 30 + stored.name.utf8.count
        bytes[at] ^= 0x20
        let damaged = try ZipArchive(bytes: bytes, name: "small.zip")
        XCTAssertThrowsError(try damaged.contents(of: damaged.entries[0])) { error in
            guard case ZipError.corruptEntry(_, "stored.txt", let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.hasPrefix("CRC-32 is 0x"), reason)
        }
        // Deflated data overwritten with a reserved block type.
        var second = try zipFixture("small.zip")
        let deflated = archive.entries[2]
        second[deflated.localHeaderOffset + 30 + deflated.name.utf8.count] = 0x07
        let broken = try ZipArchive(bytes: second, name: "small.zip")
        XCTAssertThrowsError(try broken.contents(of: broken.entries[2])) {
            XCTAssertEqual("\($0)", "zip archive small.zip, entry pkg/deflated.txt: "
                           + "the compressed data has a block of reserved type 3 (corrupt)")
        }
        // A local header that is not one.
        var third = try zipFixture("small.zip")
        third[deflated.localHeaderOffset] = 0
        let noHeader = try ZipArchive(bytes: third, name: "small.zip")
        XCTAssertThrowsError(try noHeader.contents(of: noHeader.entries[2])) {
            XCTAssertTrue("\($0)".contains("no local header at offset \(deflated.localHeaderOffset)"), "\($0)")
        }
    }

    func testOversizedClaimsAreRefusedBeforeAllocating() throws {
        let archive = try ZipArchive(bytes: try zipFixture("small.zip"), name: "small.zip", maxEntrySize: 1000)
        XCTAssertThrowsError(try archive.contents(of: archive.entries[2])) {
            XCTAssertTrue("\($0)".contains("more than the 1000 allowed"), "\($0)")
        }
    }
}

/// Bits in DEFLATE order: values least significant bit first, Huffman codes most significant first.
private struct BitWriter {
    var bytes: [UInt8] = []
    var count = 0
    mutating func write(_ value: Int, _ n: Int) {
        for i in 0..<n { bit((value >> i) & 1) }
    }
    mutating func writeCode(_ code: Int, _ n: Int) {
        for i in stride(from: n - 1, through: 0, by: -1) { bit((code >> i) & 1) }
    }
    private mutating func bit(_ b: Int) {
        if count % 8 == 0 { bytes.append(0) }
        bytes[bytes.count - 1] |= UInt8(b) << UInt8(count % 8)
        count += 1
    }
}

private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
