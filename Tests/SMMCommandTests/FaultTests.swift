// Faults a long-running process meets: a catalog model's file deleted, truncated or corrupted
// after the catalog was read (before the model was mapped), a memory budget smaller than any model,
// a disk that fills while converting, and a CPU without the fast kernels (forced by environment).
// Each gives a clear error for the requests that need the broken thing, or the slower path, and
// everything else keeps working.
import Foundation
import SMMFormat
import SMMJSON
import SMMModels
import SmartModelManager
import XCTest
@testable import smm

final class FaultTests: XCTestCase {
    private func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smm-faults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func entry(_ id: String, _ file: URL, tasks: [ModelTask]) throws -> CatalogEntry {
        let bytes = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber).intValue
        return CatalogEntry(id: id, source: "test", architecture: "bert", tasks: tasks, parameters: bytes / 4,
                            sizeBytes: DTypeSizes(f32: bytes), path: file.path, labels: ["negative", "neutral", "positive"],
                            maxTokens: 64)
    }

    private func message<T>(_ body: () async throws -> T) async -> String? {
        do {
            _ = try await body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The embedding model's file is truncated, then corrupted in its weights, then deleted, each
    /// after the catalog was read and before it was loaded: its requests fail naming the cause,
    /// the classifier (another file) keeps answering, and the repaired file is used again.
    func testBrokenCatalogFileFailsOnlyItsOwnRequests() async throws {
        let dir = try scratch()
        let good = dir.appendingPathComponent("embedder.smm"), other = dir.appendingPathComponent("classifier.smm")
        let source = URL(fileURLWithPath: fixtureModel("tiny-bert"))
        try ModelConverter.convert(directory: source, to: good)
        try ModelConverter.convert(directory: source, to: other)
        let original = try Data(contentsOf: good)
        var configuration = ManagerConfiguration()
        configuration.modelsDirectory = dir
        let catalog = try ModelCatalog(entries: [try entry("embedder", good, tasks: [.embedding]),
                                                 try entry("classifier", other, tasks: [.classification])])
        func fresh() throws -> ModelManager { try ModelManager(configuration: configuration, catalog: catalog) }

        // Truncated to half.
        var manager = try fresh()
        _ = try await manager.analyzeSystem()
        try original.prefix(original.count / 2).write(to: good)
        let truncated = await message { try await manager.embed(["good news"]) }
        XCTAssertTrue(truncated?.contains("embedder") == true && truncated?.contains("truncated") == true, truncated ?? "no error")
        let classified = try await manager.classify(["good news"])
        XCTAssertEqual(classified.count, 1, "the other model keeps working")

        // The same size, one weight byte changed in the middle: the body checksum names it.
        manager = try fresh()
        _ = try await manager.analyzeSystem()
        var corrupt = original
        corrupt[corrupt.count / 2] ^= 0x40
        try corrupt.write(to: good)
        let corrupted = await message { try await manager.embed(["good news"]) }
        XCTAssertTrue(corrupted?.contains("checksum") == true, corrupted ?? "no error")
        let stillClassified = try await manager.classify(["good news"])
        XCTAssertEqual(stillClassified.count, 1)

        // Deleted.
        manager = try fresh()
        _ = try await manager.analyzeSystem()
        try FileManager.default.removeItem(at: good)
        let deleted = await message { try await manager.embed(["good news"]) }
        XCTAssertTrue(deleted?.contains("file missing") == true && deleted?.contains(good.path) == true, deleted ?? "no error")
        let classifiedAfterDeletion = try await manager.classify(["good news"])
        XCTAssertEqual(classifiedAfterDeletion.count, 1)

        // Put back: the failure on the broken files is forgotten and the model answers.
        try original.write(to: good)
        let repaired = try await manager.embed(["good news"])
        XCTAssertEqual(repaired.vectors.first?.count, 64)
    }

    /// A budget smaller than every model: a clear error naming the budget's setting (the property,
    /// as it was set in code), for every request; nothing is loaded and nothing crashes.
    func testBudgetSmallerThanAnyModelIsAClearError() async throws {
        let dir = try scratch()
        let file = dir.appendingPathComponent("m.smm")
        try ModelConverter.convert(directory: URL(fileURLWithPath: fixtureModel("tiny-bert")), to: file)
        var configuration = ManagerConfiguration()
        configuration.modelsDirectory = dir
        configuration.maxCacheSizeBytes = 4096
        let manager = try ModelManager(configuration: configuration,
                                            catalog: try ModelCatalog(entries: [try entry("m", file, tasks: [.embedding])]))
        for _ in 0..<2 {
            let error = await message { try await manager.embed(["good news"]) }
            XCTAssertTrue(error?.contains("maxCacheSizeBytes") == true, error ?? "no error")
        }
        let stats = await manager.cacheStatistics()
        XCTAssertEqual(stats.bytesHeld, 0)
        XCTAssertEqual(stats.models.count, 0)
    }

    /// The disk fills while converting (a file-size limit makes a write fail partway, as ENOSPC
    /// would): smm-convert names the failure, exits non-zero, leaves no partial file, and the model
    /// already there is untouched.
    func testDiskFullWhileConvertingLeavesTheOldFileWhole() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("model.smm")
        let source = fixtureModel("tiny-bert")
        try ModelConverter.convert(directory: URL(fileURLWithPath: source), to: out)
        let before = try Data(contentsOf: out)
        let convert = try smmBinary().deletingLastPathComponent().appendingPathComponent("smm-convert")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // 64 KiB of file size allowed; SIGXFSZ ignored so the write fails with EFBIG instead of killing.
        process.arguments = ["-c", "ulimit -f 64 && trap '' XFSZ && exec \"$0\" \"$@\"", convert.path, source,
                             "-o", out.path, "--force", "--quiet"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0, stderr)
        XCTAssertTrue(stderr.contains("write") || stderr.contains("large"), stderr)
        XCTAssertEqual(try Data(contentsOf: out), before, "the published file is whole")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("partial") }
        XCTAssertEqual(leftovers, [], "no temporary file is left behind")
        XCTAssertNoThrow(try ModelLoader.load(path: out.path))
    }

    /// The portable kernels, forced by environment as on a CPU without AVX-512: `smm info` says so
    /// and the int8 model's embeddings equal the default path's.
    func testPortableKernelsForcedByEnvironmentGiveTheSameAnswers() throws {
        let dir = try scratch()
        let file = dir.appendingPathComponent("int8.smm")
        try ModelConverter.convert(directory: URL(fileURLWithPath: fixtureModel("tiny-bert")), to: file,
                                   options: ModelConverter.Options(dtype: .int8))
        let q4File = dir.appendingPathComponent("q4.smm")
        try ModelConverter.convert(directory: URL(fileURLWithPath: fixtureModel("tiny-bert")), to: q4File,
                                   options: ModelConverter.Options(dtype: .q4))
        func embed(_ environment: [String: String], model: URL? = nil) throws -> [Double] {
            let process = Process()
            process.executableURL = try smmBinary()
            process.arguments = ["embed", "-m", (model ?? file).path, "--json", "good news about the market"]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
            let object = try XCTUnwrap(try JSONParser.parse(Array(data)).objectValue)
            return try XCTUnwrap(object["embedding"]?.arrayValue?.compactMap(\.doubleValue))
        }
        let forced = ["SMM_INT8_KERNEL": "portable", "SMM_F32_KERNEL": "blas", "SMM_BF16_KERNEL": "portable",
                      "SMM_Q4_KERNEL": "portable"]
        let portable = try embed(forced), fast = try embed([:])
        XCTAssertEqual(portable.count, 64)
        XCTAssertLessThan(zip(portable, fast).map { abs($0 - $1) }.max() ?? 1, 1e-5)
        // The q4 reference kernel gives the VNNI kernel's bits; only the f32 parts (OpenBLAS against
        // the packed kernel) may differ in the last places.
        let q4Portable = try embed(forced, model: q4File), q4Fast = try embed([:], model: q4File)
        XCTAssertEqual(q4Portable.count, 64)
        XCTAssertLessThan(zip(q4Portable, q4Fast).map { abs($0 - $1) }.max() ?? 1, 1e-5)
        let info = Process()
        info.executableURL = try smmBinary()
        info.arguments = ["info"]
        info.environment = ProcessInfo.processInfo.environment.merging(forced) { $1 }
        let out = Pipe()
        info.standardOutput = out
        try info.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        info.waitUntilExit()
        XCTAssertTrue(text.contains("int8 portable"), text)
        XCTAssertTrue(text.contains("f32 OpenBLAS"), text)
        XCTAssertTrue(text.contains("bf16 none"), text)
        XCTAssertTrue(text.contains("q4 portable"), text)
    }
}
