// Files never torn: `smm-convert` publishes by rename, so a process that has the old file mapped
// keeps answering from it, and the manager maps the new file for its next request.
import Foundation
import SMMJSON
import SMMModels
import SmartModelManager
import XCTest
@testable import smm

final class FileReplacementTests: XCTestCase {
    private func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smm-replace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// tiny-bert, and a copy whose LayerNorm epsilon differs (other outputs from the same weights).
    private func twoVersions(in dir: URL) throws -> (URL, URL) {
        let original = URL(fileURLWithPath: fixtureModel("tiny-bert"))
        let changed = dir.appendingPathComponent("tiny-bert-changed")
        try FileManager.default.copyItem(at: original, to: changed)
        let config = changed.appendingPathComponent("config.json")
        let text = try String(contentsOf: config, encoding: .utf8)
        let edited = text.replacingOccurrences(of: #""layer_norm_eps": 1e-12"#, with: #""layer_norm_eps": 0.5"#)
        XCTAssertNotEqual(edited, text, "the fixture's config.json names layer_norm_eps 1e-12")
        try edited.write(to: config, atomically: true, encoding: .utf8)
        return (original, changed)
    }

    private func embedding(_ file: URL, _ text: String) throws -> [Float] {
        guard case .encoder(let encoder) = try ModelLoader.load(path: file.path) else { throw CLIError("not an encoder") }
        return try XCTUnwrap(try encoder.embed([text]).first)
    }

    /// Another process embeds from the mapped file while it is converted over: it keeps answering,
    /// from the old file, and exits 0; a new load sees the new file.
    func testConvertingOverAFileThatAnotherProcessHasMapped() throws {
        let dir = try scratch()
        let (v1, v2) = try twoVersions(in: dir)
        let file = dir.appendingPathComponent("model.smm")
        try ModelConverter.convert(directory: v1, to: file)
        let before = try embedding(file, "good news")

        let process = Process()
        process.executableURL = try smmBinary()
        process.arguments = ["embed", "-m", file.path, "--jsonl"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let lines = LineReader(output.fileHandleForReading)
        func ask(_ text: String) throws -> [Float] {
            input.fileHandleForWriting.write(Data("{\"text\":\"\(text)\"}\n".utf8))
            let line = try XCTUnwrap(lines.next(), "the child answered nothing")
            let object = try XCTUnwrap(try JSONParser.parse(Array(line.utf8)).objectValue)
            return try XCTUnwrap(object["embedding"]?.arrayValue?.compactMap { $0.doubleValue.map(Float.init) })
        }
        let first = try ask("good news")
        try ModelConverter.convert(directory: v2, to: file, options: ModelConverter.Options(overwrite: true))
        let second = try ask("good news")
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "the child survived the conversion")
        XCTAssertEqual(maxAbsDiffOf(first, before), 0, accuracy: 1e-6)
        XCTAssertEqual(maxAbsDiffOf(second, first), 0, accuracy: 1e-6, "the child still reads the old file")
        let after = try embedding(file, "good news")
        XCTAssertGreaterThan(maxAbsDiffOf(after, before), 1e-3, "the new file is the other model")
    }

    /// The manager notices that a catalog model's file was replaced and maps the new one for the
    /// next request; until then it answers from the loaded copy.
    func testManagerMapsTheReplacedFileForTheNextRequest() async throws {
        let dir = try scratch()
        let (v1, v2) = try twoVersions(in: dir)
        let file = dir.appendingPathComponent("model.smm")
        try ModelConverter.convert(directory: v1, to: file)
        var configuration = ManagerConfiguration()
        configuration.modelsDirectory = dir
        let bytes = Int(try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber).intValue)
        let entry = CatalogEntry(id: "tiny", source: "test", architecture: "bert", tasks: [.embedding], parameters: bytes / 4,
                                 sizeBytes: DTypeSizes(f32: bytes), path: file.path, maxTokens: 64)
        let manager = try ModelManager(configuration: configuration, catalog: try ModelCatalog(entries: [entry]))
        let first = try await manager.embed(["good news"]).vectors[0]
        let again = try await manager.embed(["good news"]).vectors[0]
        XCTAssertEqual(maxAbsDiffOf(again, first), 0, "a cache hit")
        let misses = await manager.cacheStatistics().misses
        XCTAssertEqual(misses, 1)
        try ModelConverter.convert(directory: v2, to: file, options: ModelConverter.Options(overwrite: true))
        let second = try await manager.embed(["good news"]).vectors[0]
        XCTAssertGreaterThan(maxAbsDiffOf(second, first), 1e-3, "the request after the conversion runs the new file")
        XCTAssertEqual(maxAbsDiffOf(second, try embedding(file, "good news")), 0, accuracy: 1e-6)
        let stats = await manager.cacheStatistics()
        XCTAssertEqual(stats.misses, 2)
        XCTAssertEqual(stats.models.count, 1, "the old copy went: no request held it")
        // A file removed after loading: the mapped copy keeps serving.
        try FileManager.default.removeItem(at: file)
        let afterRemoval = try await manager.embed(["good news"]).vectors[0]
        XCTAssertEqual(maxAbsDiffOf(afterRemoval, second), 0)
    }
}

private func maxAbsDiffOf(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Lines from a pipe, one at a time (blocking).
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    init(_ handle: FileHandle) { self.handle = handle }

    func next() -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffer += chunk
        }
    }
}
