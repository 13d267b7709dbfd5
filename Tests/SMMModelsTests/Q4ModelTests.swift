import Foundation
import XCTest
@testable import SMMFormat
@testable import SMMModels
import SMMKernels

/// Models in q4 (`smm-convert --dtype q4`, `--dtype q4` at load): what the file stores, that the
/// file and quantization at load give the same model, that the model runs on the q4 kernels, and
/// how far its logits are from f32's (printed for Docs/BENCHMARKS.md).
final class Q4ModelTests: XCTestCase {
    private func scratch(_ function: String = #function) throws -> URL {
        try Fixtures.scratchDirectory(self, prefix: "q4", function: function)
    }

    private func generator(_ loaded: LoadedModel) throws -> TextGenerator {
        guard case .decoder(let g) = loaded else { return try XCTUnwrap(nil, "loaded as \(loaded.modelType), not as a decoder") }
        return g
    }

    private func encoder(_ loaded: LoadedModel) throws -> TextEncoder {
        guard case .encoder(let e) = loaded else { return try XCTUnwrap(nil, "loaded as \(loaded.modelType), not as an encoder") }
        return e
    }

    func testQ4FilesStoreBlocksWhereTheInputsAllowAndInt8Elsewhere() throws {
        let plan = { (name: String, shape: [Int], type: String) in
            ModelConverter.storagePlan(name: name, shape: shape, dtype: .q4, modelType: type)
        }
        XCTAssertEqual(plan("transformer.h.0.attn.c_attn.weight", [768, 2304], "gpt2"), .init(dtype: .u8, axis: 1, q4Blocks: true))
        XCTAssertEqual(plan("transformer.wte.weight", [50257, 768], "gpt2"), .init(dtype: .u8, axis: 0, q4Blocks: true))
        XCTAssertEqual(plan("transformer.wpe.weight", [1024, 768], "gpt2"), .init(dtype: .i8, axis: 0))
        XCTAssertEqual(plan("bert.encoder.layer.0.intermediate.dense.weight", [1536, 384], "bert"),
                       .init(dtype: .u8, axis: 0, q4Blocks: true))
        XCTAssertEqual(plan("bert.encoder.layer.0.output.dense.weight", [100, 33 * 40], "bert").q4Blocks, false,
                       "1320 inputs are not whole blocks of 32: int8")
        XCTAssertEqual(plan("bert.pooler.dense.weight", [768, 768], "bert").dtype, .f32)
        XCTAssertEqual(plan("bert.encoder.layer.0.output.LayerNorm.weight", [768], "bert").dtype, .f32)

        let dir = try scratch()
        let file = try SMMFile(path: try Fixtures.convert("tiny-gpt2", .q4, into: dir).path)
        XCTAssertEqual(file.header.minorVersion, 2)
        XCTAssertEqual(file.metadata.dtype, .q4)
        let cAttn = try XCTUnwrap(file.tensors.first { $0.name.hasSuffix("h.0.attn.c_attn.weight") })
        guard case .q4Blocks(axis: 1, _) = cAttn.quantization else { return XCTFail("c_attn: \(cAttn.quantization)") }
        XCTAssertEqual(file.tensors.first { $0.name.hasSuffix("wpe.weight") }?.dtype, .i8)
        // Every q4 tensor reads back (dequantized) as the checkpoint's values rounded to q4 blocks.
        let checkpoint = try Checkpoint.open(directory: Fixtures.url("models/tiny-gpt2"))
        var expected = try checkpoint.tensor(cAttn.name).floats()
        expected.withUnsafeMutableBufferPointer { _ = SMMQ4Blocks.roundTrip($0.baseAddress!, shape: cAttn.shape, axis: 1) }
        XCTAssertEqual(try file.floats(cAttn.name), expected)
    }

    func testQ4AtLoadGivesTheConvertedFileAndRunsOnTheQ4Kernels() throws {
        let dir = try scratch()
        let fileURL = try Fixtures.convert("tiny-gpt2", .q4, into: dir)
        let fromFile = try generator(ModelLoader.load(path: fileURL.path))
        let atLoad = try generator(ModelLoader.load(path: Fixtures.url("models/tiny-gpt2").path, dtype: .q4))
        XCTAssertEqual(fromFile.model.weightQuantization, .q4)
        XCTAssertNotNil(fromFile.model.lmHead.q4, "the tied LM head runs on the q4 kernel from the stored wte blocks")
        XCTAssertEqual(try fromFile.model.logits([1, 2, 3, 4, 5]), try atLoad.model.logits([1, 2, 3, 4, 5]))
        XCTAssertEqual(try fromFile.model.generate(promptIDs: [7, 8, 9], maxNewTokens: 12),
                       try atLoad.model.generate(promptIDs: [7, 8, 9], maxNewTokens: 12))
        // A q4 file loaded as f32 is widened: same values, f32 kernels.
        let widened = try generator(ModelLoader.load(path: fileURL.path, dtype: .f32))
        XCTAssertNil(widened.model.weightQuantization)
        let a = try widened.model.logits([1, 2, 3]), b = try fromFile.model.logits([1, 2, 3])
        for (x, y) in zip(a, b) { XCTAssertGreaterThan(cosine(x, y), 0.99, "f32 over q4 weights vs q4 kernels (int8 activations)") }

        let bertFile = try Fixtures.convert("tiny-bert", .q4, into: dir)
        let texts = ["the market rallied", "shares fell sharply after the report", ""]
        let e1 = try encoder(ModelLoader.load(path: bertFile.path))
        let e2 = try encoder(ModelLoader.load(path: Fixtures.url("models/tiny-bert").path, dtype: .q4))
        XCTAssertEqual(e1.model.weightQuantization, .q4)
        XCTAssertEqual(e1.model.computeDType, .q4, "what smm serve's /info reports for a q4 file")
        XCTAssertEqual(try encoder(ModelLoader.load(path: bertFile.path, dtype: .f32)).model.computeDType, .f32)
        XCTAssertEqual(try encoder(ModelLoader.load(path: Fixtures.url("models/tiny-bert").path, dtype: .int8)).model.computeDType,
                       .int8)
        XCTAssertEqual(try e1.embed(texts), try e2.embed(texts))
    }

    /// Measured on this fixture (random weights, 2 layers, 64 wide): see Docs/BENCHMARKS.md.
    func testQ4LogitsAgainstF32() throws {
        let dir = try scratch()
        let base = try generator(ModelLoader.load(directory: Fixtures.url("models/tiny-gpt2")))
        let int8 = try generator(ModelLoader.load(path: try Fixtures.convert("tiny-gpt2", .int8, into: dir).path))
        let q4 = try generator(ModelLoader.load(path: try Fixtures.convert("tiny-gpt2", .q4, into: dir).path))
        let reference = try Fixtures.json("models/tiny-gpt2/reference.json")
        let cases = try XCTUnwrap(reference["logits_cases"] as? [[String: Any]]).compactMap { ($0["input_ids"] as? [Any])?.ints }
        var worst = [1.0, 1.0], mean = [0.0, 0.0], same = [0, 0], rows = 0
        for ids in cases {
            let f = try base.model.logits(ids)
            for (m, model) in [int8, q4].enumerated() {
                for (x, y) in zip(f, try model.model.logits(ids)) {
                    let c = cosine(x, y)
                    worst[m] = min(worst[m], c)
                    mean[m] += c
                    if x.indices.max(by: { x[$0] < x[$1] }) == y.indices.max(by: { y[$0] < y[$1] }) { same[m] += 1 }
                }
            }
            rows += f.count
        }
        for (m, name) in ["int8", "q4"].enumerated() {
            print("[smm-dtype] tiny-gpt2 \(name): logits min cosine \(worst[m]), mean cosine \(mean[m] / Double(rows)), "
                + "same argmax \(same[m])/\(rows)")
        }
        // Measured: worst 0.8896, mean 0.9618, same argmax 20/28 (int8: 0.99906, 0.99963, 26/28).
        XCTAssertGreaterThanOrEqual(worst[1], 0.88)
        XCTAssertGreaterThanOrEqual(mean[1] / Double(rows), 0.955)
        XCTAssertLessThan(worst[1], worst[0], "q4 should lose more than int8")
        XCTAssertGreaterThanOrEqual(Double(same[1]) / Double(rows), 0.65)
    }
}
