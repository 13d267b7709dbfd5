import Foundation
import XCTest
import SMMFormat
import SMMTokenizers
@testable import SMMModels

/// Mismatched configs, tokenizers and weights are errors at load, and NaN weights are an error at
/// run time, instead of a model that runs and answers wrongly.
final class ConsistencyChecksTests: XCTestCase {
    /// A copy of fixture model `name` in a scratch directory.
    private func copy(_ name: String) throws -> URL {
        try Fixtures.copyModel(name, into: try Fixtures.scratchDirectory(self, prefix: "consistency"))
    }

    /// Overwrites element 0 of F32 tensor `tensor` in the copy's model.safetensors with NaN.
    private func poison(_ dir: URL, _ tensor: String) throws {
        try Fixtures.patchFloat(dir, tensor: tensor, element: 0, bits: Float.nan.bitPattern)
    }

    private func assertLoadFails(_ dir: URL, mentioning needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try ModelLoader.load(directory: dir), line: line) { error in
            XCTAssertTrue("\(error)".contains(needle), "\(error)", line: line)
        }
    }

    func testBlockIndexOfTensorNames() {
        XCTAssertEqual(CheckpointConsistency.blockIndex("bert.encoder.layer.11.output.dense.weight"), 11)
        XCTAssertEqual(CheckpointConsistency.blockIndex("distilbert.transformer.layer.3.ffn.lin1.weight"), 3)
        XCTAssertEqual(CheckpointConsistency.blockIndex("transformer.h.0.attn.c_attn.weight"), 0)
        XCTAssertEqual(CheckpointConsistency.blockIndex("h.7.ln_1.bias"), 7)
        XCTAssertNil(CheckpointConsistency.blockIndex("bert.embeddings.word_embeddings.weight"))
        XCTAssertNil(CheckpointConsistency.blockIndex("cls.predictions.transform.LayerNorm.weight"))
        XCTAssertNil(CheckpointConsistency.blockIndex("transformer.wte.weight"))
    }

    func testConfigWithFewerLayersThanItsWeights() throws {
        let bert = try copy("tiny-bert")
        try Fixtures.editConfig(bert, "num_hidden_layers", 1)
        assertLoadFails(bert, mentioning: "the checkpoint has 'bert.encoder.layer.1.")
        assertLoadFails(bert, mentioning: "config.json declares 1 layer: the config and the weights do not match")
        let gpt2 = try copy("tiny-gpt2")
        try Fixtures.editConfig(gpt2, "n_layer", 1)
        assertLoadFails(gpt2, mentioning: "'transformer.h.1.")
    }

    func testTokenizerLargerThanTheModel() throws {
        let bert = try copy("tiny-bert")
        let vocab = bert.appendingPathComponent("vocab.txt")
        let tokens = try String(contentsOf: vocab, encoding: .utf8)
        try (tokens + (0..<10).map { "extra\($0)\n" }.joined()).write(to: vocab, atomically: true, encoding: .utf8)
        assertLoadFails(bert, mentioning: "the tokenizer has 2058 tokens but the model's vocabulary has 2048 rows")
    }

    func testGPT2TokensSharingAnID() throws {
        XCTAssertThrowsError(try GPT2Tokenizer(vocabulary: ["a": 0, "b": 1, "c": 1], merges: [], specialTokens: [:])) {
            XCTAssertTrue("\($0)".contains("tokens \"b\" and \"c\" have the same id 1"), "\($0)")
        }
        let dir = try Fixtures.scratchDirectory(self, prefix: "consistency")
        let vocab = dir.appendingPathComponent("vocab.json"), merges = dir.appendingPathComponent("merges.txt")
        try Data(#"{"a": 0, "b": 1, "c": 1}"#.utf8).write(to: vocab)
        try Data("#version: 0.2\n".utf8).write(to: merges)
        XCTAssertThrowsError(try GPT2Tokenizer(vocabularyFile: vocab, mergesFile: merges)) {
            XCTAssertEqual($0 as? TokenizerError,
                           .invalidFile(path: vocab.path, reason: "tokens \"b\" and \"c\" have the same id 1"))
        }
    }

    func testFileDTypeMustMatchItsTensors() throws {
        func entry(_ name: String, _ dtype: ElementType) -> SMMTensorEntry {
            SMMTensorEntry(name: name, dtype: dtype, shape: [2, 2], dataOffset: 0, byteLength: 4 * dtype.byteSize,
                           quantization: .none)
        }
        let f32 = [entry("w", .f32), entry("b", .f32)]
        XCTAssertNoThrow(try CheckpointConsistency.checkStorage(f32, dtype: .f32))
        XCTAssertNoThrow(try CheckpointConsistency.checkStorage([entry("w", .f16), entry("b", .f32)], dtype: .f16))
        XCTAssertNoThrow(try CheckpointConsistency.checkStorage(f32, dtype: .bf16), "a bf16 file may keep everything f32")
        XCTAssertThrowsError(try CheckpointConsistency.checkStorage(f32, dtype: .int8)) {
            XCTAssertTrue("\($0)".contains("the file says its weights are int8, but no tensor is stored as i8"), "\($0)")
        }
        XCTAssertThrowsError(try CheckpointConsistency.checkStorage([entry("w", .i8), entry("v", .f16)], dtype: .int8)) {
            XCTAssertTrue("\($0)".contains("tensor 'v' is f16"), "\($0)")
        }
        XCTAssertThrowsError(try CheckpointConsistency.checkStorage([entry("w", .bf16)], dtype: .f32)) {
            XCTAssertTrue("\($0)".contains("the file says its weights are f32, but tensor 'w' is bf16"), "\($0)")
        }
    }

    /// A weight beyond f16's range (65504) is an error when f16 is asked at load, as in smm-convert,
    /// not a model that later reports NaN outputs; bf16 holds it.
    func testF16OverflowAtLoadIsNamed() throws {
        let bert = try copy("tiny-bert")
        try Fixtures.patchFloat(bert, tensor: "bert.encoder.layer.0.intermediate.dense.weight", element: 9,
                                bits: Float(70_000).bitPattern)
        XCTAssertThrowsError(try ModelLoader.load(directory: bert, dtype: .f16)) {
            XCTAssertTrue("\($0)".contains("tensor 'bert.encoder.layer.0.intermediate.dense.weight' has the value 70000.0 "
                + "at element 9, beyond f16's range"), "\($0)")
        }
        XCTAssertNoThrow(try ModelLoader.load(directory: bert, dtype: .bf16))
    }

    func testNaNWeightsAreAnErrorNotAnAnswer() throws {
        let bert = try copy("tiny-bert")
        try poison(bert, "bert.encoder.layer.0.output.dense.weight")
        guard case .encoder(let encoder) = try ModelLoader.load(directory: bert) else { return XCTFail("not an encoder") }
        for run in [{ _ = try encoder.classify(["Oil prices tumble"]) }, { _ = try encoder.embed(["Oil prices tumble"]) }] {
            XCTAssertThrowsError(try run()) {
                XCTAssertEqual($0 as? ModelError, .nonFiniteOutput("hidden states"))
            }
        }

        let gpt2 = try copy("tiny-gpt2")
        try poison(gpt2, "transformer.h.0.mlp.c_proj.weight")
        guard case .decoder(let generator) = try ModelLoader.load(directory: gpt2) else { return XCTFail("not a decoder") }
        XCTAssertThrowsError(try generator.generate(prompt: "The market", options: GenerationOptions(maxNewTokens: 4))) {
            XCTAssertEqual($0 as? ModelError, .nonFiniteOutput("hidden states"))
        }
        XCTAssertThrowsError(try generator.model.logits([5, 6, 7])) {
            XCTAssertEqual($0 as? ModelError, .nonFiniteOutput("logits"))
        }

        // A NaN in one row of the tied LM head (`wte`) leaves the hidden states finite and spoils
        // only that token's logit: greedy decoding would skip the token silently.
        let head = try copy("tiny-gpt2")
        let width = try XCTUnwrap(try Fixtures.json("models/tiny-gpt2/config.json")["n_embd"] as? Int)
        try Fixtures.patchFloat(head, tensor: "transformer.wte.weight", element: 7 * width + 1, bits: Float.nan.bitPattern)
        guard case .decoder(let tied) = try ModelLoader.load(directory: head) else { return XCTFail("not a decoder") }
        XCTAssertThrowsError(try tied.model.makeSession().prefill([1, 2])) {
            XCTAssertEqual($0 as? ModelError, .nonFiniteOutput("logits"))
        }
    }
}
