import Foundation
import XCTest
@testable import SMMFormat

final class CheckpointTests: XCTestCase {

    private func bertLikeWriter(prefix: String) -> SafetensorsTestWriter {
        var writer = SafetensorsTestWriter()
        writer.metadata = ["format": "pt"]
        writer.add(prefix + "embeddings.word_embeddings.weight", shape: [4, 2], floats: [0, 1, 2, 3, 4, 5, 6, 7], as: .f16)
        writer.add(prefix + "encoder.layer.0.attention.self.query.weight", shape: [2, 2], floats: [1, 0, 0, 1])
        writer.add(prefix + "encoder.layer.0.attention.self.query.bias", shape: [2], floats: [0.5, -0.5], as: .bf16)
        writer.add("classifier.weight", shape: [2, 2], floats: [9, 8, 7, 6])
        return writer
    }

    func testSingleFileCheckpointAndPrefixResolution() throws {
        let dir = try makeTemporaryDirectory(self)
        try bertLikeWriter(prefix: "bert.").write(to: dir.appendingPathComponent("model.safetensors"))
        try writeFile("{}", named: "config.json", in: dir)

        let checkpoint = try Checkpoint.open(directory: dir)
        XCTAssertEqual(checkpoint.files.count, 1)
        XCTAssertNil(checkpoint.indexURL)
        XCTAssertEqual(checkpoint.names, ["bert.embeddings.word_embeddings.weight",
                                          "bert.encoder.layer.0.attention.self.query.bias",
                                          "bert.encoder.layer.0.attention.self.query.weight",
                                          "classifier.weight"])
        XCTAssertTrue(checkpoint.has("classifier.weight"))
        XCTAssertFalse(checkpoint.has("encoder.layer.0.attention.self.query.weight"))

        let prefixes = ["bert.", ""]
        XCTAssertEqual(checkpoint.resolve("encoder.layer.0.attention.self.query.weight", prefixes: prefixes),
                       "bert.encoder.layer.0.attention.self.query.weight")
        XCTAssertEqual(checkpoint.resolve("classifier.weight", prefixes: prefixes), "classifier.weight")
        XCTAssertEqual(checkpoint.resolve("classifier.weight", prefixes: []), "classifier.weight")
        XCTAssertNil(checkpoint.resolve("pooler.dense.weight", prefixes: prefixes))

        let embeddings = try checkpoint.tensor("embeddings.word_embeddings.weight", prefixes: prefixes)
        XCTAssertEqual(embeddings.name, "bert.embeddings.word_embeddings.weight")
        XCTAssertEqual(embeddings.dtype, .f16)
        XCTAssertEqual(embeddings.shape, [4, 2])
        XCTAssertEqual(embeddings.elementCount, 8)
        XCTAssertEqual(embeddings.byteCount, 16)
        XCTAssertEqual(try embeddings.floats(), [0, 1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(Array(embeddings.bytes), SafetensorsTestWriter.encode([0, 1, 2, 3, 4, 5, 6, 7], as: .f16))
        XCTAssertTrue(embeddings.isAligned)
        XCTAssertTrue(embeddings.willNeed())
        XCTAssertEqual(try checkpoint.tensor("bert.encoder.layer.0.attention.self.query.bias").floats(), [0.5, -0.5])

        XCTAssertNoThrow(try embeddings.expectShape([4, 2]).expectDType([.f32, .f16]))
        XCTAssertEqual(expectFormatError { try embeddings.expectShape([30522, 768]) },
                       .shapeMismatch(path: embeddings.path, tensor: "bert.embeddings.word_embeddings.weight",
                                      expected: [30522, 768], actual: [4, 2]))
        XCTAssertEqual(expectFormatError { try embeddings.expectDType([.f32]) },
                       .dtypeMismatch(path: embeddings.path, tensor: "bert.embeddings.word_embeddings.weight",
                                      expected: [.f32], actual: .f16))

        let missing = expectFormatError { try checkpoint.tensor("pooler.dense.weight", prefixes: prefixes) }
        XCTAssertEqual(missing, .tensorNotFound(name: "pooler.dense.weight", location: checkpoint.files[0].path,
                                                tried: ["bert.pooler.dense.weight", "pooler.dense.weight"]))
        XCTAssertTrue(missing?.description.contains("bert.pooler.dense.weight") == true)
    }

    func testBarePrefixCheckpointLoadsWithSameLookups() throws {
        let dir = try makeTemporaryDirectory(self)
        try bertLikeWriter(prefix: "").write(to: dir.appendingPathComponent("model.safetensors"))
        let checkpoint = try Checkpoint.open(directory: dir)
        let view = try checkpoint.tensor("encoder.layer.0.attention.self.query.weight", prefixes: ["bert.", ""])
        XCTAssertEqual(view.name, "encoder.layer.0.attention.self.query.weight")
        XCTAssertEqual(try view.floats(), [1, 0, 0, 1])
    }

    func testTensorViewKeepsMappingAlive() throws {
        let dir = try makeTemporaryDirectory(self)
        try bertLikeWriter(prefix: "").write(to: dir.appendingPathComponent("model.safetensors"))
        var view: TensorView?
        do {
            let checkpoint = try Checkpoint.open(directory: dir)
            view = try checkpoint.tensor("classifier.weight")
        }
        // The checkpoint is gone; the view's owner still maps the file.
        let kept = try XCTUnwrap(view)
        XCTAssertEqual(kept.withBytes { raw in (0..<4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } },
                       [9, 8, 7, 6])
    }

    private func writeShards(in dir: URL, index: String) throws {
        var first = SafetensorsTestWriter()
        first.add("transformer.wte.weight", shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])
        first.add("transformer.h.0.ln_1.weight", shape: [2], floats: [1, 1], as: .bf16)
        try first.write(to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
        var second = SafetensorsTestWriter()
        second.add("transformer.h.0.mlp.c_fc.weight", shape: [2, 8], floats: (0..<16).map(Float.init), as: .f16)
        second.add("transformer.ln_f.bias", shape: [2], floats: [0.25, -0.25])
        second.add("unlisted.extra", shape: [1], floats: [42])
        try second.write(to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        try writeFile(index, named: "model.safetensors.index.json", in: dir)
    }

    private let validIndex = """
    {
      "metadata": {"total_size": 116},
      "weight_map": {
        "transformer.wte.weight": "model-00001-of-00002.safetensors",
        "transformer.h.0.ln_1.weight": "model-00001-of-00002.safetensors",
        "transformer.h.0.mlp.c_fc.weight": "model-00002-of-00002.safetensors",
        "transformer.ln_f.bias": "model-00002-of-00002.safetensors"
      }
    }
    """

    func testShardedCheckpoint() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeShards(in: dir, index: validIndex)
        let checkpoint = try Checkpoint.open(directory: dir)
        XCTAssertEqual(checkpoint.files.count, 2)
        XCTAssertEqual(checkpoint.indexURL?.lastPathComponent, "model.safetensors.index.json")
        XCTAssertEqual(checkpoint.names, ["transformer.h.0.ln_1.weight", "transformer.h.0.mlp.c_fc.weight",
                                          "transformer.ln_f.bias", "transformer.wte.weight"])
        XCTAssertFalse(checkpoint.has("unlisted.extra"), "only tensors in weight_map belong to the checkpoint")
        XCTAssertEqual(try checkpoint.tensor("wte.weight", prefixes: ["transformer.", ""]).floats(), [1, 2, 3, 4, 5, 6])
        let fc = try checkpoint.tensor("transformer.h.0.mlp.c_fc.weight")
        XCTAssertTrue(fc.path.hasSuffix("model-00002-of-00002.safetensors"))
        XCTAssertEqual(fc.shape, [2, 8])
        XCTAssertEqual(try fc.floats(), (0..<16).map(Float.init))
        XCTAssertEqual(try checkpoint.tensor("transformer.ln_f.bias").floats(), [0.25, -0.25])
        XCTAssertEqual(checkpoint.info("transformer.h.0.ln_1.weight")?.dtype, .bf16)
        XCTAssertGreaterThan(checkpoint.byteCount, 0)
        checkpoint.willNeed()
    }

    func testSingleFileWinsOverIndex() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeShards(in: dir, index: validIndex)
        var single = SafetensorsTestWriter()
        single.add("only", shape: [1], floats: [3])
        try single.write(to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(try Checkpoint.open(directory: dir).names, ["only"])
    }

    func testShardValidation() throws {
        let dir = try makeTemporaryDirectory(self)
        let indexPath = dir.appendingPathComponent("model.safetensors.index.json").path

        try writeShards(in: dir, index: validIndex.replacingOccurrences(of: "\"transformer.ln_f.bias\": \"model-00002-of-00002.safetensors\"",
                                                                         with: "\"transformer.ln_f.bias\": \"model-00003-of-00003.safetensors\""))
        XCTAssertEqual(expectFormatError { try Checkpoint.open(directory: dir) },
                       .missingShard(index: indexPath, shard: "model-00003-of-00003.safetensors"))

        try writeShards(in: dir, index: validIndex.replacingOccurrences(of: "\"transformer.ln_f.bias\": \"model-00002-of-00002.safetensors\"",
                                                                         with: "\"transformer.ln_f.bias\": \"model-00001-of-00002.safetensors\""))
        XCTAssertEqual(expectFormatError { try Checkpoint.open(directory: dir) },
                       .tensorNotInShard(index: indexPath, tensor: "transformer.ln_f.bias", shard: "model-00001-of-00002.safetensors"))

        try writeShards(in: dir, index: #"{"metadata": {}}"#)
        XCTAssertEqual(expectFormatError { try Checkpoint.open(directory: dir) },
                       .invalidIndex(path: indexPath, reason: "no \"weight_map\""))

        try writeShards(in: dir, index: #"{"weight_map": {"a": "../model-00001-of-00002.safetensors"}}"#)
        guard case let .invalidIndex(_, reason)? = expectFormatError({ try Checkpoint.open(directory: dir) }) else {
            return XCTFail("expected invalidIndex")
        }
        XCTAssertTrue(reason.contains("plain file name"), reason)

        try writeShards(in: dir, index: #"{"weight_map": {"a": 3}}"#)
        guard case .invalidIndex? = expectFormatError({ try Checkpoint.open(directory: dir) }) else {
            return XCTFail("expected invalidIndex")
        }

        try writeShards(in: dir, index: #"{"weight_map": {"a": "x.safetensors""#)
        guard case let .invalidIndex(_, syntax)? = expectFormatError({ try Checkpoint.open(directory: dir) }) else {
            return XCTFail("expected invalidIndex")
        }
        XCTAssertTrue(syntax.contains("unexpected end"), syntax)

        // A shard that is itself corrupt reports the shard's own path.
        try writeShards(in: dir, index: validIndex)
        try writeBytes([1, 2, 3], to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
        XCTAssertEqual(expectFormatError { try Checkpoint.open(directory: dir) },
                       .fileTooSmall(path: dir.appendingPathComponent("model-00002-of-00002.safetensors").path, size: 3))
    }

    func testPickleOnlyDirectoryExplainsConversion() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeFile([0x80, 0x02], named: "pytorch_model.bin", in: dir)
        try writeFile("{}", named: "config.json", in: dir)
        let error = expectFormatError { try Checkpoint.open(directory: dir) }
        XCTAssertEqual(error, .pickleWeightsOnly(directory: dir.path, file: "pytorch_model.bin"))
        let text = error?.description ?? ""
        XCTAssertTrue(text.contains("safetensors"), text)
        XCTAssertTrue(text.contains("safe_serialization=True"), text)
    }

    func testEmptyAndMissingDirectories() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeFile("{}", named: "config.json", in: dir)
        XCTAssertEqual(expectFormatError { try Checkpoint.open(directory: dir) },
                       .noWeights(directory: dir.path, found: ["config.json"]))
        let missing = dir.appendingPathComponent("no-such-model")
        XCTAssertEqual(expectFormatError { try Checkpoint.open(directory: missing) },
                       .cannotOpen(path: missing.path, reason: "No such file or directory"))
    }

    func testOpenSingleFileDirectly() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("weights.safetensors")
        try bertLikeWriter(prefix: "").write(to: url)
        XCTAssertEqual(try Checkpoint.open(file: url).names.count, 4)
        XCTAssertEqual(try Checkpoint.open(directory: url).names.count, 4, "a .safetensors path is accepted too")
    }
}
