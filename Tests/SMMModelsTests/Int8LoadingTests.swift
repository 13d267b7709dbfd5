import Foundation
import XCTest
import SMMFormat
import SMMKernels
@testable import SMMModels

/// Loading int8 (and f16/bf16) `.smm` files without widening their weights to f32: the int8 layers
/// are packed straight from the file's integers and the embedding tables are read in their stored
/// type. Everything must equal what the former path gave: dequantize the file to f32 at load, then
/// quantize the linear layers again.
final class Int8LoadingTests: XCTestCase {
    private func scratch(_ function: String = #function) throws -> URL {
        try Fixtures.scratchDirectory(self, prefix: "int8load", function: function)
    }

    private func convert(_ model: String, _ dtype: ModelDType, into dir: URL) throws -> SMMFile {
        try SMMFile(path: Fixtures.convert(model, dtype, into: dir, hashSources: false).path)
    }

    /// The same int8 matrix: equal integers, and scales equal to within one unit in the last place
    /// (re-quantizing `q × s` computes the scale again as `(127 s) / 127`, which may round).
    private func assertSameInt8(_ a: LinearWeight, _ b: LinearWeight, _ label: String,
                                file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard let x = a.quantized, let y = b.quantized else {
            XCTFail("\(label): not int8 (\(a.quantized == nil), \(b.quantized == nil))", file: file, line: line)
            return 0
        }
        XCTAssertEqual(x.outFeatures, y.outFeatures, label, file: file, line: line)
        XCTAssertEqual(x.inFeatures, y.inFeatures, label, file: file, line: line)
        XCTAssertEqual(x.unpacked(), y.unpacked(), "\(label): integers", file: file, line: line)
        var differing = 0
        for c in 0..<x.outFeatures where x.scale(c) != y.scale(c) {
            differing += 1
            XCTAssertLessThanOrEqual(abs(x.scale(c) - y.scale(c)), x.scale(c).ulp, "\(label) scale \(c)", file: file, line: line)
        }
        return differing
    }

    /// Every row of `table` against the f32 tensor the former loader made (`floatTensor`: the
    /// whole table converted at load).
    private func assertSameRows(_ table: EmbeddingTable, _ source: SMMFileTensorSource, _ name: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let full = try XCTUnwrap(try source.floatTensor(name), name, file: file, line: line)
        XCTAssertEqual(full.shape, [table.rows, table.width], name, file: file, line: line)
        let expected = Array(UnsafeBufferPointer(start: full.pointer, count: full.count))
        var got: [Float] = []
        for r in 0..<table.rows { got += table.row(r) }
        XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(name) rows", file: file, line: line)
    }

    func testInt8EncoderFilesLoadLikeDequantizeThenQuantize() throws {
        let dir = try scratch()
        for name in ["tiny-bert", "tiny-distilbert"] {
            let file = try convert(name, .int8, into: dir)
            guard case .encoder(let direct) = try ModelLoader.load(file: file, dtype: nil, pool: .shared),
                  case .encoder(let widened) = try ModelLoader.load(file: file, dtype: .f32, pool: .shared)
            else { return XCTFail("\(name) is not an encoder") }
            let former = widened.model.quantized(.int8)
            let a = direct.model.encoder, b = former.encoder
            // The word embeddings stay int8 in the mapping; the f32 path had converted them.
            XCTAssertEqual(a.wordEmbeddings.dtype, .i8)
            XCTAssertEqual(b.wordEmbeddings.dtype, .i8, "a model loaded as f32 reads the int8 table in place too")
            let prefix = name == "tiny-bert" ? "bert." : "distilbert."
            let source = SMMFileTensorSource(file)
            try assertSameRows(a.wordEmbeddings, source, prefix + "embeddings.word_embeddings.weight")
            try assertSameRows(a.positionEmbeddings, source, prefix + "embeddings.position_embeddings.weight")
            var differingScales = 0, channels = 0
            for (i, (x, y)) in zip(a.layers, b.layers).enumerated() {
                for (label, u, v) in [("query", x.query, y.query), ("key", x.key, y.key), ("value", x.value, y.value),
                                      ("attention output", x.attentionOutput, y.attentionOutput),
                                      ("intermediate", x.intermediate, y.intermediate), ("output", x.output, y.output)] {
                    differingScales += assertSameInt8(u, v, "\(name) layer \(i) \(label)")
                    channels += u.outFeatures
                }
            }
            XCTAssertNil(a.pooler?.quantized, "the pooler stays f32")
            XCTAssertNil(direct.model.classifier?.classifier.quantized, "the classifier stays f32")
            // Same outputs: identical when every scale came out the same, else within float rounding.
            let texts = ["the market rallied on strong earnings", "a terrible, boring film", "ok", "Hello, world!"]
            let x = try direct.classify(texts), y = try TextEncoder(model: former, tokenizer: direct.tokenizer,
                                                                    defaultPooling: direct.defaultPooling).classify(texts)
            XCTAssertEqual(x.map(\.label), y.map(\.label))
            let diff = maxAbsDiff(x.flatMap(\.logits), y.flatMap(\.logits))
            if differingScales == 0 {
                XCTAssertEqual(x.flatMap(\.logits), y.flatMap(\.logits), "\(name): same weights, same logits")
            } else {
                XCTAssertLessThanOrEqual(diff, 1e-5, name)
            }
            print("\(name): int8 layers packed from the file; \(differingScales) of \(channels) scales one ulp apart "
                  + "from dequantize-then-quantize; logits max |diff| \(diff)")
        }
    }

    func testInt8GPT2FileLoadsLikeDequantizeThenQuantize() throws {
        let dir = try scratch()
        let file = try convert("tiny-gpt2", .int8, into: dir)
        guard case .decoder(let direct) = try ModelLoader.load(file: file, dtype: nil, pool: .shared),
              case .decoder(let widened) = try ModelLoader.load(file: file, dtype: .f32, pool: .shared)
        else { return XCTFail("tiny-gpt2 is not a decoder") }
        let a = direct.model, b = widened.model.quantized(.int8)
        XCTAssertEqual(a.wte.dtype, .i8)
        XCTAssertTrue(a.lmHeadIsQuantized)
        let source = SMMFileTensorSource(file)
        let prefix = file.entry("transformer.wte.weight") != nil ? "transformer." : ""
        try assertSameRows(a.wte, source, prefix + "wte.weight")
        try assertSameRows(a.wpe, source, prefix + "wpe.weight")
        var differingScales = assertSameInt8(a.lmHead, b.lmHead, "tied LM head")
        for (i, (x, y)) in zip(a.blocks, b.blocks).enumerated() {
            differingScales += assertSameInt8(x.attn.cAttn, y.attn.cAttn, "block \(i) c_attn")
            differingScales += assertSameInt8(x.attn.cProj, y.attn.cProj, "block \(i) attn.c_proj")
            differingScales += assertSameInt8(x.mlp.cFc, y.mlp.cFc, "block \(i) c_fc")
            differingScales += assertSameInt8(x.mlp.cProj, y.mlp.cProj, "block \(i) mlp.c_proj")
        }
        let ids = [1, 5, 9, 200, 17, 3, 3, 800]
        let x = try a.logits(ids), y = try b.logits(ids)
        if differingScales == 0 {
            XCTAssertEqual(x, y)
        } else {
            XCTAssertLessThanOrEqual(maxAbsDiff(x.flatMap { $0 }, y.flatMap { $0 }), 1e-5)
        }
        XCTAssertEqual(try a.generate(promptIDs: [1, 2, 3], maxNewTokens: 12), try b.generate(promptIDs: [1, 2, 3], maxNewTokens: 12))
    }

    /// f16 and bf16 tables are read in place and give the rows the whole-table conversion gave.
    func testHalfPrecisionTablesAreReadInPlace() throws {
        let dir = try scratch()
        for dtype in [ModelDType.f16, .bf16] {
            let file = try convert("tiny-bert", dtype, into: dir)
            guard case .encoder(let model) = try ModelLoader.load(file: file) else { return XCTFail("not an encoder") }
            let table = model.model.encoder.wordEmbeddings
            XCTAssertEqual(table.dtype, dtype == .f16 ? .f16 : .bf16)
            try assertSameRows(table, SMMFileTensorSource(file), "bert.embeddings.word_embeddings.weight")
        }
    }

    /// Releasing a tensor's pages (after packing) leaves every view of the file readable and unchanged.
    func testReleasedPagesReadBackUnchanged() throws {
        let dir = try scratch()
        let file = try convert("tiny-bert", .int8, into: dir)
        let source = SMMFileTensorSource(file)
        let checkpoint = CheckpointTensorSource(try Checkpoint.open(directory: Fixtures.url("models/tiny-bert")))
        for (src, name) in [(source as any TensorSource, "bert.encoder.layer.0.attention.self.query.bias"),
                            (checkpoint, "bert.encoder.layer.0.attention.self.query.weight")] {
            let view = try XCTUnwrap(try src.floatTensor(name))
            let before = Array(UnsafeBufferPointer(start: view.pointer, count: view.count))
            for other in src.tensorNames { src.release(other) }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: view.pointer, count: view.count)), before, name)
        }
        guard case .int8(let values, _, let axis) = try XCTUnwrap(try source.storedTensor(
            "bert.encoder.layer.0.attention.self.query.weight")).elements else { return XCTFail("not int8") }
        XCTAssertEqual(axis, 0)
        let q = try XCTUnwrap(source.int8Tensor("bert.encoder.layer.0.attention.self.query.weight"))
        XCTAssertEqual(values, q.values, "int8 values are handed out in place")
    }

    /// Quantizing at load builds int8 layers from `QuantizingTensorSource`'s integers, which are the
    /// converter's: the same packed matrices as the converted file, not just the same outputs.
    func testQuantizingAtLoadPacksTheFilesIntegers() throws {
        let dir = try scratch()
        let file = try convert("tiny-distilbert", .int8, into: dir)
        guard case .encoder(let fromFile) = try ModelLoader.load(file: file, dtype: nil, pool: .shared),
              case .encoder(let atLoad) = try ModelLoader.load(
                directory: Fixtures.url("models/tiny-distilbert"), dtype: .int8, pool: .shared)
        else { return XCTFail("not an encoder") }
        for (x, y) in zip(fromFile.model.encoder.layers, atLoad.model.encoder.layers) {
            for (u, v) in [(x.query, y.query), (x.intermediate, y.intermediate), (x.output, y.output)] {
                let p = try XCTUnwrap(u.quantized), q = try XCTUnwrap(v.quantized)
                XCTAssertEqual(p.unpacked(), q.unpacked())
                XCTAssertEqual((0..<p.outFeatures).map(p.scale), (0..<q.outFeatures).map(q.scale))
            }
        }
        XCTAssertEqual(atLoad.model.encoder.wordEmbeddings.dtype, .i8)
        XCTAssertEqual(fromFile.model.encoder.wordEmbeddings.row(7), atLoad.model.encoder.wordEmbeddings.row(7))
    }
}
