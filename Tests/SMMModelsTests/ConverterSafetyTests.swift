#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import XCTest
@testable import SMMFormat
@testable import SMMModels

/// What `ModelConverter.convert` (smm-convert) must refuse, and what a refused or failed conversion
/// must leave behind: no output, no temporary file, a previous output and the source untouched.
final class ConverterSafetyTests: XCTestCase {
    private func scratch(_ function: String = #function) throws -> URL {
        try Fixtures.scratchDirectory(self, prefix: "safety", function: function)
    }

    /// The temporary files left in `dir`.
    private func partials(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".partial-") }.sorted()
    }

    /// Converting `source` to `out` throws an error whose text contains `fragment`, and leaves no
    /// output (or `previous`, when given, byte for byte) and no temporary file.
    private func assertRefused(_ source: URL, to out: URL, options: ModelConverter.Options = ModelConverter.Options(),
                               previous: Data? = nil, _ fragment: String, line: UInt = #line) throws {
        XCTAssertThrowsError(try ModelConverter.convert(directory: source, to: out, options: options), line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
        }
        if let previous {
            XCTAssertEqual(try Data(contentsOf: out), previous, "the previous output must be left as it was", line: line)
        } else {
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no output may be written", line: line)
        }
        XCTAssertEqual(try partials(out.deletingLastPathComponent()), [], "temporary files left behind", line: line)
    }

    private func fileType(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    // MARK: - Config and weights that do not match

    func testVocabularySizeThatDoesNotMatchTheEmbeddingIsRefused() throws {
        let dir = try scratch()
        let model = try Fixtures.copyModel("tiny-bert", into: dir)
        try Fixtures.editConfig(model, "vocab_size", 4096)
        let out = dir.appendingPathComponent("out.smm")
        try assertRefused(model, to: out, "the converted model would not load, so '\(out.path)' was not written: ")
        try assertRefused(model, to: out, "tensor 'bert.embeddings.word_embeddings.weight' has shape [2048, 64], expected [4096, 64] from config.json")
        // The same directory with its own config converts (the refusal is the edit's doing).
        try Fixtures.editConfig(model, "vocab_size", 2048)
        try ModelConverter.convert(directory: model, to: out)
        XCTAssertEqual(try SMMFile(path: out.path).metadata.architecture, "bert")
    }

    func testPositionCountThatDoesNotMatchTheWeightsIsRefused() throws {
        let dir = try scratch()
        let model = try Fixtures.copyModel("tiny-gpt2", into: dir)
        try Fixtures.editConfig(model, "n_positions", 32)
        try Fixtures.editConfig(model, "n_ctx", 32)
        try assertRefused(model, to: dir.appendingPathComponent("out.smm"),
                          "tensor 'transformer.wpe.weight' has shape [64, 64], expected [32, 64] from config.json")
    }

    func testMissingTensorAndIntegerWeightAreRefused() throws {
        let dir = try scratch()
        // A weight stored as I32: kept as an integer buffer by the writer, refused by the loader.
        let model = try Fixtures.copyModel("tiny-gpt2", into: dir)
        let url = model.appendingPathComponent("model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: url))
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        var header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        let entry = "\"transformer.ln_f.weight\":{\"dtype\":\"F32\""
        XCTAssertTrue(header.contains(entry), header)
        header = header.replacingOccurrences(of: entry, with: "\"transformer.ln_f.weight\":{\"dtype\":\"I32\"")
        bytes.replaceSubrange(8..<(8 + headerLength), with: Array(header.utf8))
        try Data(bytes).write(to: url)
        try assertRefused(model, to: dir.appendingPathComponent("out.smm"), "the converted model would not load")
        try assertRefused(model, to: dir.appendingPathComponent("out.smm"), "ln_f.weight")

        // A required tensor renamed away (same length, so the offsets stay valid).
        header = header.replacingOccurrences(of: "\"transformer.ln_f.weight\":{\"dtype\":\"I32\"",
                                             with: "\"transformer.ln_f.weighX\":{\"dtype\":\"F32\"")
        bytes.replaceSubrange(8..<(8 + headerLength), with: Array(header.utf8))
        try Data(bytes).write(to: url)
        try assertRefused(model, to: dir.appendingPathComponent("out.smm"), "ln_f.weight")
    }

    func testConfigWithFewerLayersThanItsWeightsIsRefused() throws {
        let dir = try scratch()
        let model = try Fixtures.copyModel("tiny-bert", into: dir)
        try Fixtures.editConfig(model, "num_hidden_layers", 1)
        try assertRefused(model, to: dir.appendingPathComponent("out.smm"),
                          "the checkpoint has 'bert.encoder.layer.1.attention.output.LayerNorm.bias', a weight of block 1, "
                            + "but config.json declares 1 layer: the config and the weights do not match")
    }

    // MARK: - Values

    func testNonFiniteWeightsAreRefusedInEveryDType() throws {
        let dir = try scratch()
        let nan = try Fixtures.copyModel("tiny-bert", into: dir)
        try Fixtures.patchFloat(nan, tensor: "bert.embeddings.word_embeddings.weight", element: 5, bits: 0x7FC0_0000)
        let message = "tensor 'bert.embeddings.word_embeddings.weight' has a non-finite value (nan) at element 5"
        for dtype in ModelDType.allCases {
            try assertRefused(nan, to: dir.appendingPathComponent("nan-\(dtype.rawValue).smm"),
                              options: ModelConverter.Options(dtype: dtype), message)
        }

        // -inf in a block matrix (stored in packed panels in an f32 file).
        let inf = dir.appendingPathComponent("inf", isDirectory: true)
        try FileManager.default.copyItem(at: Fixtures.url("models/tiny-bert"), to: inf)
        try Fixtures.patchFloat(inf, tensor: "bert.encoder.layer.0.attention.self.query.weight", element: 70, bits: 0xFF80_0000)
        for dtype in ModelDType.allCases {
            try assertRefused(inf, to: dir.appendingPathComponent("inf-\(dtype.rawValue).smm"),
                              options: ModelConverter.Options(dtype: dtype),
                              "tensor 'bert.encoder.layer.0.attention.self.query.weight' has a non-finite value (-inf) at element 70")
        }
    }

    func testValuesBeyondF16RangeAreRefusedForF16AndQ4Only() throws {
        let dir = try scratch()
        let model = try Fixtures.copyModel("tiny-bert", into: dir)
        try Fixtures.patchFloat(model, tensor: "bert.embeddings.word_embeddings.weight", element: 9, bits: Float(1e6).bitPattern)
        try assertRefused(model, to: dir.appendingPathComponent("f16.smm"), options: ModelConverter.Options(dtype: .f16),
                          "tensor 'bert.embeddings.word_embeddings.weight' has the value 1000000.0 at element 9, beyond f16's range")
        // q4: the block's scale would be 1e6 / 8, beyond f16's 65504; at load too.
        try assertRefused(model, to: dir.appendingPathComponent("q4.smm"), options: ModelConverter.Options(dtype: .q4),
                          "tensor 'bert.embeddings.word_embeddings.weight' has values too large for q4 blocks (the block at output 0, input 0")
        XCTAssertThrowsError(try ModelLoader.load(directory: model, dtype: .q4)) {
            XCTAssertTrue("\($0)".contains("has values too large for q4 blocks"), "\($0)")
        }
        for dtype in [ModelDType.f32, .bf16] {
            let out = dir.appendingPathComponent("\(dtype.rawValue).smm")
            try ModelConverter.convert(directory: model, to: out, options: ModelConverter.Options(dtype: dtype))
            let stored = try SMMFile(path: out.path).floats("bert.embeddings.word_embeddings.weight")
            // bf16 keeps 8 significant bits: 1e6 is stored as 999424.
            XCTAssertEqual(stored[9], dtype == .f32 ? 1e6 : 999_424, "\(dtype)")
        }
    }

    // MARK: - The output path

    func testOutputThatIsNotARegularFileIsRefusedAndLeftAlone() throws {
        let dir = try scratch()
        let fifo = dir.appendingPathComponent("out.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        for overwrite in [false, true] {
            XCTAssertThrowsError(try ModelConverter.convert(directory: Fixtures.url("models/tiny-bert"), to: fifo,
                                                            options: ModelConverter.Options(overwrite: overwrite))) { error in
                XCTAssertEqual("\(error)", "cannot write '\(fifo.path)': it exists and is not a regular file (a FIFO); it is left as it is")
            }
            XCTAssertEqual(fileType(fifo.path), S_IFIFO, "the FIFO must be left a FIFO")
            XCTAssertEqual(try partials(dir), [])
        }
        // Through a symbolic link: refused too, the link and the FIFO left.
        let link = dir.appendingPathComponent("link.smm")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: fifo)
        XCTAssertThrowsError(try ModelConverter.convert(directory: Fixtures.url("models/tiny-bert"), to: link,
                                                        options: ModelConverter.Options(overwrite: true))) { error in
            XCTAssertTrue("\(error)".contains("it exists and is not a regular file (a symbolic link to a FIFO)"), "\(error)")
        }
        XCTAssertEqual(fileType(link.path), S_IFLNK)
        XCTAssertEqual(fileType(fifo.path), S_IFIFO)
        XCTAssertEqual(try partials(dir), [])
        // A device (checked only: nothing is written).
        XCTAssertThrowsError(try SMMFileWriter.checkDestination(URL(fileURLWithPath: "/dev/null"), overwrite: true)) { error in
            XCTAssertEqual("\(error)", "cannot write '/dev/null': it exists and is not a regular file (a character device); it is left as it is")
        }
        // A regular file, or a link to one, is still replaced with --force.
        let target = dir.appendingPathComponent("target.smm")
        try Data("old".utf8).write(to: target)
        let fileLink = dir.appendingPathComponent("file-link.smm")
        try FileManager.default.createSymbolicLink(at: fileLink, withDestinationURL: target)
        try ModelConverter.convert(directory: Fixtures.url("models/tiny-bert"), to: fileLink,
                                   options: ModelConverter.Options(overwrite: true))
        XCTAssertEqual(fileType(fileLink.path), S_IFREG, "the link is replaced, not followed")
        XCTAssertEqual(try Data(contentsOf: target), Data("old".utf8))
    }

    func testOutputThatIsASourceFileIsRefusedAndTheSourceKept() throws {
        let dir = try scratch()
        let model = try Fixtures.copyModel("tiny-bert", into: dir)
        let weights = model.appendingPathComponent("model.safetensors")
        let original = try Data(contentsOf: weights)
        for overwrite in [false, true] {
            try assertRefused(model, to: weights, options: ModelConverter.Options(overwrite: overwrite), previous: original,
                              "cannot write '\(weights.path)': it is the source's own model.safetensors")
        }
        // The same file under another name (a hard link) is the same file.
        let hardLink = dir.appendingPathComponent("weights.smm")
        XCTAssertEqual(link(weights.path, hardLink.path), 0)
        try assertRefused(model, to: hardLink, options: ModelConverter.Options(overwrite: true), previous: original,
                          "it is the source's own model.safetensors")
        XCTAssertEqual(try Data(contentsOf: weights), original)
        // Another file of the source directory, too.
        let vocab = model.appendingPathComponent("vocab.txt")
        try assertRefused(model, to: vocab, options: ModelConverter.Options(overwrite: true),
                          previous: try Data(contentsOf: vocab), "it is the source's own vocab.txt")
    }

    // MARK: - Temporary files

    /// The PID of a process that has exited and been reaped.
    private func deadPID() throws -> pid_t {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exit 0"]
        try process.run()
        process.waitUntilExit()
        let pid = process.processIdentifier
        XCTAssertNotEqual(kill(pid, 0), 0)
        XCTAssertEqual(errno, ESRCH, "the process must be gone")
        return pid
    }

    func testStaleTemporaryFilesOfDeadWritersAreRemovedAndLiveOnesKept() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("model.smm")
        let dead = try deadPID()
        let names = [
            "stale": ".model.smm.partial-\(dead)-123",
            "live": ".model.smm.partial-\(getpid())-456",
            "other": ".other.smm.partial-\(dead)-789",
            "odd": ".model.smm.partial-\(dead)-x",
        ]
        for name in names.values { try Data("partial".utf8).write(to: dir.appendingPathComponent(name)) }
        try ModelConverter.convert(directory: Fixtures.url("models/tiny-bert"), to: out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
        XCTAssertEqual(try partials(dir), [names["live"]!, names["odd"]!, names["other"]!].sorted(),
                       "only the dead writer's temporary file of this output is removed")
        XCTAssertEqual(SMMFileWriter.removeStaleTemporaryFiles(for: out), [])
        XCTAssertEqual(SMMFileWriter.temporaryFilePrefix(for: out), ".model.smm.partial-\(getpid())-")
    }

    // MARK: - Validation before publishing

    func testFailedValidationLeavesThePreviousOutputUntouched() throws {
        struct Refused: Error, CustomStringConvertible { var description: String { "refused by the check" } }
        let dir = try scratch()
        let out = dir.appendingPathComponent("model.smm")
        try ModelConverter.convert(directory: Fixtures.url("models/tiny-bert"), to: out)
        let good = try Data(contentsOf: out)

        // Writer level: `validate` sees the complete temporary file, and its error stops the rename.
        var writer = SMMFileWriter(metadata: try SMMFile(path: out.path).metadata)
        writer.add(name: "t", shape: [2], floats: [1, 2])
        var seen: [String] = []
        XCTAssertThrowsError(try writer.write(to: out, overwrite: true, validate: { temporary in
            seen.append(temporary.lastPathComponent)
            let file = try SMMFile(path: temporary.path, options: SMMFileReadOptions(verifyBody: true))
            XCTAssertEqual(try file.floats("t"), [1, 2])
            throw Refused()
        })) { error in
            XCTAssertEqual("\(error)", "refused by the check")
        }
        XCTAssertEqual(seen.count, 1)
        XCTAssertTrue(seen.first?.hasPrefix(".model.smm.partial-\(getpid())-") == true, "\(seen)")
        XCTAssertEqual(try Data(contentsOf: out), good)
        XCTAssertEqual(try partials(dir), [])

        // Converter level (what smm-convert --verify does): the model loaded from the temporary file.
        var loadedType: String?
        try assertRefused(Fixtures.url("models/tiny-gpt2"), to: out,
                          options: ModelConverter.Options(overwrite: true, validate: { file, model in
                              loadedType = model.modelType
                              try file.verifyBody()
                              throw Refused()
                          }), previous: good, "refused by the check")
        XCTAssertEqual(loadedType, "gpt2")
        // A passing check publishes.
        try ModelConverter.convert(directory: Fixtures.url("models/tiny-gpt2"), to: out,
                                   options: ModelConverter.Options(overwrite: true, validate: { _, _ in }))
        XCTAssertEqual(try SMMFile(path: out.path).metadata.architecture, "gpt2")
    }

    // MARK: - Comparison (--verify)

    func testCompareUsesQuantizationQualityFigures() throws {
        let dir = try scratch()
        let source = try ModelLoader.load(directory: Fixtures.url("models/tiny-bert"))
        let f32 = try ModelLoader.load(path: try Fixtures.convert("tiny-bert", .f32, into: dir).path)
        let texts = ["I absolutely loved this movie!!!", "The quick brown fox jumps over the lazy dog.", "a"]
        let results = try ModelConverter.compare(source, f32, texts: texts)
        XCTAssertEqual(results.map(\.output), ["embeddings", "logits"])
        for r in results {
            XCTAssertEqual(r.vectors, 3)
            XCTAssertLessThanOrEqual(r.maxAbsDiff, 1e-5, r.output)
            XCTAssertGreaterThan(r.minCosine, 0.99999, r.output)
            XCTAssertTrue(r.tokenizationEqual)
        }
        XCTAssertNil(results[0].labelsEqual)
        XCTAssertEqual(results[1].labelsEqual, true)
        XCTAssertEqual(results[0].quality.output, .embedding)
        // The logits figures are QuantizationQuality's own.
        let quality = try QuantizationQuality.compare(reference: source, candidate: f32, texts: texts)
        XCTAssertEqual(results[1].quality, quality)
        XCTAssertEqual(Double(results[1].maxAbsDiff), quality.maxAbsDifference)
        XCTAssertEqual(results[1].minCosine, quality.worstCosine)

        let int8 = try ModelLoader.load(path: try Fixtures.convert("tiny-bert", .int8, into: dir).path)
        let reduced = try ModelConverter.compare(source, int8, texts: texts)
        XCTAssertGreaterThan(reduced[0].maxAbsDiff, 0, "int8 embeddings are not bit-identical")
        XCTAssertLessThan(reduced[0].minCosine, 1)

        let gpt2 = try ModelLoader.load(directory: Fixtures.url("models/tiny-gpt2"))
        let gpt2File = try ModelLoader.load(path: try Fixtures.convert("tiny-gpt2", .f32, into: dir).path)
        let lm = try ModelConverter.compare(gpt2, gpt2File, texts: ["Hello, world!"])
        XCTAssertEqual(lm.map(\.output), ["lm-logits"])
        XCTAssertEqual(lm[0].vectors, try gpt2.tokenizerIDs("Hello, world!").count)
        XCTAssertLessThanOrEqual(lm[0].maxAbsDiff, 1e-5)
        XCTAssertThrowsError(try ModelConverter.compare(source, gpt2)) { error in
            XCTAssertTrue("\(error)".contains("cannot compare a bert model with a gpt2 model"), "\(error)")
        }

    }
}

private extension LoadedModel {
    /// The token ids of `text` for a GPT-2 model.
    func tokenizerIDs(_ text: String) throws -> [Int] {
        guard case .decoder(let g) = self else { return try XCTUnwrap(nil, "not a decoder") }
        return g.tokenizer.encodeIDs(text).map { Int($0) }
    }
}
