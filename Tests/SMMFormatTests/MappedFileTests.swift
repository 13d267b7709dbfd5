import XCTest
@testable import SMMFormat

final class MappedFileTests: XCTestCase {

    func testMapsContentsAndChecksBounds() throws {
        let dir = try makeTemporaryDirectory(self)
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let url = try writeFile(bytes, named: "data.bin", in: dir)
        let file = try MappedFile(url: url)
        XCTAssertEqual(file.count, 10_000)
        XCTAssertEqual(file.path, url.path)
        XCTAssertEqual(Int(bitPattern: file.baseAddress) % MappedFile.pageSize, 0, "mappings are page aligned")
        XCTAssertEqual(Array(file.allBytes), bytes)

        let slice = try file.bytes(in: 9_990..<10_000)
        XCTAssertEqual(Array(slice), Array(bytes[9_990..<10_000]))
        XCTAssertEqual(try file.bytes(in: 10_000..<10_000).count, 0)

        XCTAssertEqual(expectFormatError { try file.bytes(in: 9_990..<10_001) },
                       .outOfBounds(path: url.path, range: 9_990..<10_001, fileSize: 10_000))
        XCTAssertEqual(expectFormatError { try file.bytes(in: -1..<3) },
                       .outOfBounds(path: url.path, range: -1..<3, fileSize: 10_000))

        XCTAssertTrue(file.willNeed())
        XCTAssertTrue(file.willNeed(5_000..<6_000), "unaligned ranges are widened to pages")
        XCTAssertTrue(file.advise(.sequential))
        XCTAssertTrue(file.advise(.random, range: 100..<200))
        XCTAssertTrue(file.advise(.normal, range: 20_000..<30_000), "ranges past the end are clamped")
    }

    func testEmptyFileIsAClearError() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = try writeFile([], named: "empty.bin", in: dir)
        let error = expectFormatError { try MappedFile(url: url) }
        XCTAssertEqual(error, .emptyFile(path: url.path))
        XCTAssertTrue(error?.description.contains("empty") == true)
        XCTAssertTrue(error?.description.contains(url.path) == true)
    }

    func testMissingFileNamesPathAndErrno() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("nope.safetensors")
        let error = expectFormatError { try MappedFile(url: url) }
        guard case let .cannotOpen(path, reason)? = error else {
            return XCTFail("expected cannotOpen, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("No such file or directory"), reason)
        XCTAssertTrue(error!.description.contains(url.path))
    }

    func testDirectoryIsNotARegularFile() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertEqual(expectFormatError { try MappedFile(path: dir.path) }, .notARegularFile(path: dir.path))
    }

    func testUnreadableFileReportsPermission() throws {
        // root can read anything; only meaningful for other users.
        guard getuid() != 0 else { throw XCTSkip("running as root: permissions do not apply") }
        let dir = try makeTemporaryDirectory(self)
        let url = try writeFile([1, 2, 3], named: "secret.bin", in: dir)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: url.path)
        guard case let .cannotOpen(_, reason)? = expectFormatError({ try MappedFile(url: url) }) else {
            return XCTFail("expected cannotOpen")
        }
        XCTAssertTrue(reason.contains("Permission denied"), reason)
    }

    #if os(Linux)
    func testDeinitUnmaps() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = try writeFile([UInt8](repeating: 5, count: 3 * 4096), named: "unmap-probe.bin", in: dir)
        func mappedCount() throws -> Int {
            let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps"))
            defer { try? handle.close() }
            let maps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
            return maps.split(separator: "\n").filter { $0.hasSuffix(url.path) }.count
        }
        do {
            let file = try MappedFile(url: url)
            XCTAssertEqual(try mappedCount(), 1)
            XCTAssertEqual(file.count, 3 * 4096)
        }
        XCTAssertEqual(try mappedCount(), 0, "the mapping is released with the object")
    }
    #endif

    func testMappingOutlivesFileDeletion() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = try writeFile([9, 8, 7, 6], named: "gone.bin", in: dir)
        let file = try MappedFile(url: url)
        try FileManager.default.removeItem(at: url)
        XCTAssertEqual(Array(try file.bytes(in: 0..<4)), [9, 8, 7, 6])
    }
}
