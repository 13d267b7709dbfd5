import Foundation
import XCTest
@testable import SMMFormat
@testable import SMMModels
import SMMKernels

/// Models converted to `.smm` files (smm-convert's library side) against the same models loaded
/// from their Hugging Face directories: f32 files must give identical results; f16, bf16 and int8
/// files must stay close (the figures are printed, for Docs/BENCHMARKS.md).
final class ConvertedModelTests: XCTestCase {
    private func scratch(_ function: String = #function) throws -> URL {
        try Fixtures.scratchDirectory(self, prefix: "converted", function: function)
    }

    private func convert(_ model: String, _ dtype: ModelDType, into dir: URL) throws -> URL {
        try Fixtures.convert(model, dtype, into: dir)
    }

    // A model of the wrong kind is a loader or converter regression: fail, never skip.
    private func encoder(_ loaded: LoadedModel) throws -> TextEncoder {
        guard case .encoder(let e) = loaded else { return try XCTUnwrap(nil, "loaded as \(loaded.modelType), not as an encoder") }
        return e
    }

    private func generator(_ loaded: LoadedModel) throws -> TextGenerator {
        guard case .decoder(let g) = loaded else { return try XCTUnwrap(nil, "loaded as \(loaded.modelType), not as a decoder") }
        return g
    }

    /// The texts of a fixture's reference cases.
    private func fixtureTexts(_ model: String) throws -> [String] {
        let reference = try Fixtures.json("models/\(model)/reference.json")
        if let cases = reference["cases"] as? [[String: Any]] {
            return cases.compactMap { $0["texts"] as? [String] }.flatMap { $0 }
        }
        return (reference["prompts_text"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
    }

    // MARK: - f32: identical results

    func testF32EncoderFilesGiveIdenticalResults() throws {
        let dir = try scratch()
        for name in ["tiny-bert", "tiny-distilbert"] {
            let file = try convert(name, .f32, into: dir)
            let a = try encoder(ModelLoader.load(directory: Fixtures.url("models/\(name)")))
            let b = try encoder(ModelLoader.load(path: file.path))
            XCTAssertEqual(a.model.labels, b.model.labels)
            XCTAssertEqual(a.maxLength, b.maxLength)
            XCTAssertEqual(a.defaultPooling, b.defaultPooling)
            let reference = try Fixtures.json("models/\(name)/reference.json")
            for c in try XCTUnwrap(reference["cases"] as? [[String: Any]]) {
                let ids = try XCTUnwrap((c["input_ids"] as? [Any])?.intRows)
                let batch = try EncoderBatch(ids: ids, typeIDs: (c["token_type_ids"] as? [Any])?.intRows,
                                             attentionMask: (c["attention_mask"] as? [Any])?.intRows)
                let x = try a.model.forward(batch), y = try b.model.forward(batch)
                XCTAssertEqual(x.lastHiddenState, y.lastHiddenState, "\(name) \(c["name"] ?? "") hidden states")
                XCTAssertEqual(x.pooled, y.pooled, "\(name) pooler")
                XCTAssertEqual(try a.model.logits(batch), try b.model.logits(batch), "\(name) logits")
            }
            let texts = try fixtureTexts(name) + ModelConverter.probeTexts
            XCTAssertEqual(try a.tokenize(texts), try b.tokenize(texts), "\(name) tokenization")
            XCTAssertEqual(try a.embed(texts), try b.embed(texts), "\(name) embeddings")
            XCTAssertEqual(try a.classify(texts), try b.classify(texts), "\(name) classification")
        }
    }

    func testF32GPT2FileGivesIdenticalLogitsAndGenerations() throws {
        let dir = try scratch()
        let file = try convert("tiny-gpt2", .f32, into: dir)
        let a = try generator(ModelLoader.load(directory: Fixtures.url("models/tiny-gpt2")))
        let b = try generator(ModelLoader.load(path: file.path))
        let reference = try Fixtures.json("models/tiny-gpt2/reference.json")
        for c in try XCTUnwrap(reference["logits_cases"] as? [[String: Any]]) {
            let ids = try XCTUnwrap((c["input_ids"] as? [Any])?.ints)
            XCTAssertEqual(try a.model.logits(ids), try b.model.logits(ids))
        }
        for g in try XCTUnwrap(reference["greedy"] as? [[String: Any]]) {
            let prompt = try XCTUnwrap((g["prompt_ids"] as? [Any])?.ints)
            let expected = try XCTUnwrap((g["output_ids"] as? [Any])?.ints)
            let n = try XCTUnwrap(g["max_new_tokens"] as? Int)
            XCTAssertEqual(try b.model.generate(promptIDs: prompt, maxNewTokens: n), expected)
            XCTAssertEqual(try a.model.generate(promptIDs: prompt, maxNewTokens: n), expected)
        }
        for text in try fixtureTexts("tiny-gpt2") + ModelConverter.probeTexts {
            XCTAssertEqual(a.tokenizer.encodeIDs(text), b.tokenizer.encodeIDs(text), text)
            XCTAssertEqual(try a.tokenizer.decode(a.tokenizer.encodeIDs(text), skipSpecialTokens: false),
                           try b.tokenizer.decode(b.tokenizer.encodeIDs(text), skipSpecialTokens: false))
        }
        XCTAssertEqual(a.tokenizer.specialTokens, b.tokenizer.specialTokens)
        XCTAssertEqual(a.tokenizer.endOfTextID, b.tokenizer.endOfTextID)
    }

    // MARK: - f16, bf16, int8: close

    /// What each reduced dtype keeps on the tiny random fixtures (N(0, 0.2) weights, saturated
    /// attention: they amplify rounding far more than trained models), measured with the storage
    /// policy of `ModelConverter.storagePlan` and asserted with a small margin, so that a change
    /// that makes them worse fails. bf16 misses the issue's 1e-2 on every fixture: rounding only
    /// the blocks' matrices to bf16, all else f32, already gives 0.023 (BERT), 0.046 (DistilBERT)
    /// and 0.048 (GPT-2) on these models; see Docs/FORMAT.md §6.
    struct Bound {
        var f16MaxDiff: Float, bf16MaxDiff: Float, bf16Cosine: Double, int8Cosine: Double
    }
    static let bounds: [String: Bound] = [
        // measured: f16 0.0016; bf16 0.0249 (cos 0.99957); int8 cos 0.99382
        "tiny-bert": Bound(f16MaxDiff: 0.002, bf16MaxDiff: 0.028, bf16Cosine: 0.9995, int8Cosine: 0.993),
        // measured: f16 0.0053; bf16 0.0566 (cos 0.99974); int8 cos 0.99877
        "tiny-distilbert": Bound(f16MaxDiff: 0.006, bf16MaxDiff: 0.062, bf16Cosine: 0.9997, int8Cosine: 0.998),
        // measured: f16 0.0064; bf16 0.0489 (cos 0.999967); int8 cos 0.99906
        "tiny-gpt2": Bound(f16MaxDiff: 0.007, bf16MaxDiff: 0.054, bf16Cosine: 0.99995, int8Cosine: 0.9990),
    ]

    func testReducedPrecisionEncoderFilesStayClose() throws {
        let dir = try scratch()
        for name in ["tiny-bert", "tiny-distilbert"] {
            let bound = try XCTUnwrap(Self.bounds[name])
            let texts = try fixtureTexts(name)
            let base = try encoder(ModelLoader.load(directory: Fixtures.url("models/\(name)")))
            let reference = try base.classify(texts)
            for dtype in [ModelDType.f16, .bf16, .int8] {
                let file = try convert(name, dtype, into: dir)
                let model = try encoder(ModelLoader.load(path: file.path))
                let got = try model.classify(texts)
                let diff = maxAbsDiff(reference.flatMap(\.logits), got.flatMap(\.logits))
                let cos = zip(reference, got).map { cosine($0.logits, $1.logits) }.min() ?? 0
                let embedCos = zip(try base.embed(texts), try model.embed(texts)).map { cosine($0, $1) }.min() ?? 0
                print("[smm-dtype] \(name) \(dtype.rawValue): logits max|diff| \(diff), min cosine \(cos); "
                      + "embeddings min cosine \(embedCos); labels equal \(zip(reference, got).allSatisfy { $0.label == $1.label })")
                XCTAssertEqual(got.map(\.label), reference.map(\.label), "\(name) \(dtype) labels")
                switch dtype {
                case .f16:
                    XCTAssertLessThanOrEqual(diff, bound.f16MaxDiff, "\(name) \(dtype) logits")
                case .bf16:
                    XCTAssertLessThanOrEqual(diff, bound.bf16MaxDiff, "\(name) \(dtype) logits")
                    XCTAssertGreaterThanOrEqual(cos, bound.bf16Cosine, "\(name) \(dtype) logits cosine")
                default:
                    // int8 weights and int8 activations. Below the issue's 0.999 for BERT: rounding the
                    // blocks' matrices alone (f32 activations) gives 0.9954 on this fixture, and ONNX
                    // Runtime int8 0.9969 (BERT) and 0.9950 (DistilBERT); see Docs/BENCHMARKS.md.
                    XCTAssertGreaterThanOrEqual(cos, bound.int8Cosine, "\(name) \(dtype) logits cosine")
                    XCTAssertGreaterThanOrEqual(embedCos, 0.999, "\(name) \(dtype) embeddings cosine")
                }
            }
        }
    }

    func testReducedPrecisionGPT2FilesStayClose() throws {
        let dir = try scratch()
        let bound = try XCTUnwrap(Self.bounds["tiny-gpt2"])
        let base = try generator(ModelLoader.load(directory: Fixtures.url("models/tiny-gpt2")))
        let reference = try Fixtures.json("models/tiny-gpt2/reference.json")
        let cases = try XCTUnwrap(reference["logits_cases"] as? [[String: Any]]).compactMap { ($0["input_ids"] as? [Any])?.ints }
        for dtype in [ModelDType.f16, .bf16, .int8] {
            let model = try generator(ModelLoader.load(path: try convert("tiny-gpt2", dtype, into: dir).path))
            var diff: Float = 0
            var cos = 1.0
            var sameArgmax = 0, rows = 0
            for ids in cases {
                for (x, y) in zip(try base.model.logits(ids), try model.model.logits(ids)) {
                    diff = max(diff, maxAbsDiff(x, y))
                    cos = min(cos, cosine(x, y))
                    rows += 1
                    if x.indices.max(by: { x[$0] < x[$1] }) == y.indices.max(by: { y[$0] < y[$1] }) { sameArgmax += 1 }
                }
            }
            print("[smm-dtype] tiny-gpt2 \(dtype.rawValue): logits max|diff| \(diff), min cosine \(cos), same argmax \(sameArgmax)/\(rows)")
            switch dtype {
            case .f16: XCTAssertLessThanOrEqual(diff, bound.f16MaxDiff)
            case .bf16:
                // Where a bf16 kernel runs, the activations are rounded to bf16 too (measured here on
                // Sapphire Rapids, AMX-BF16, tied LM head in bf16 too: 0.0834, cosine 0.99991); elsewhere the bf16 weights run
                // in f32 (the bound above).
                let computeInBF16 = BF16Linear.isAvailable
                XCTAssertLessThanOrEqual(diff, computeInBF16 ? 0.088 : bound.bf16MaxDiff)
                XCTAssertGreaterThanOrEqual(cos, computeInBF16 ? 0.99985 : bound.bf16Cosine)
            default: XCTAssertGreaterThanOrEqual(cos, bound.int8Cosine)
            }
        }
    }

    /// What each dtype stores (`ModelConverter.storagePlan`): the blocks' matrices and the token
    /// embeddings in the reduced type; encoder heads always f32; position embeddings f32 in f16 and
    /// bf16 files, int8 per row in int8 files.
    func testStoragePolicyKeepsHeadsAndSmallTablesInF32() throws {
        let dir = try scratch()
        let plan = { (name: String, shape: [Int], dtype: ModelDType) in
            ModelConverter.storagePlan(name: name, shape: shape, dtype: dtype, modelType: "bert").dtype
        }
        for dtype in [ModelDType.f16, .bf16, .int8] {
            let reduced = dtype.matrixDType
            XCTAssertEqual(plan("bert.encoder.layer.0.attention.self.query.weight", [768, 768], dtype), reduced)
            XCTAssertEqual(plan("bert.embeddings.word_embeddings.weight", [30522, 768], dtype), reduced)
            XCTAssertEqual(plan("bert.pooler.dense.weight", [768, 768], dtype), .f32)
            XCTAssertEqual(plan("pre_classifier.weight", [768, 768], dtype), .f32)
            XCTAssertEqual(plan("classifier.weight", [2, 768], dtype), .f32)
            XCTAssertEqual(plan("bert.embeddings.position_embeddings.weight", [512, 768], dtype), dtype == .int8 ? .i8 : .f32)
            XCTAssertEqual(ModelConverter.storagePlan(name: "transformer.wpe.weight", shape: [1024, 768], dtype: dtype,
                                                      modelType: "gpt2").dtype, dtype == .int8 ? .i8 : .f32)
        }
        let bf16 = try SMMFile(path: try convert("tiny-bert", .bf16, into: dir).path)
        XCTAssertEqual(bf16.entry("bert.encoder.layer.1.output.dense.weight")?.dtype, .bf16)
        XCTAssertEqual(bf16.entry("bert.embeddings.word_embeddings.weight")?.dtype, .bf16)
        XCTAssertEqual(bf16.entry("bert.embeddings.position_embeddings.weight")?.dtype, .f32)
        XCTAssertEqual(bf16.entry("bert.pooler.dense.weight")?.dtype, .f32)
        let int8 = try SMMFile(path: try convert("tiny-distilbert", .int8, into: dir).path)
        XCTAssertEqual(int8.entry("distilbert.embeddings.word_embeddings.weight")?.dtype, .i8)
        XCTAssertEqual(int8.entry("distilbert.embeddings.position_embeddings.weight")?.dtype, .i8)
        XCTAssertEqual(int8.entry("pre_classifier.weight")?.dtype, .f32)
    }

    // MARK: - Quantization at load

    func testQuantizingAtLoadGivesTheConvertedFilesWeights() throws {
        let dir = try scratch()
        for dtype in [ModelDType.f16, .bf16, .int8] {
            let texts = try fixtureTexts("tiny-bert")
            let atLoad = try encoder(ModelLoader.load(directory: Fixtures.url("models/tiny-bert"), dtype: dtype))
            let fromFile = try encoder(ModelLoader.load(path: try convert("tiny-bert", dtype, into: dir).path))
            XCTAssertEqual(try atLoad.classify(texts), try fromFile.classify(texts), "bert \(dtype)")

            let gptFile = try convert("tiny-gpt2", dtype, into: dir)
            let g1 = try generator(ModelLoader.load(path: Fixtures.url("models/tiny-gpt2").path, dtype: dtype))
            let g2 = try generator(ModelLoader.load(path: gptFile.path))
            XCTAssertEqual(try g1.model.logits([1, 2, 3, 4]), try g2.model.logits([1, 2, 3, 4]), "gpt2 \(dtype)")
            // An f32 file quantized at load equals a file converted to that dtype.
            let f32File = try convert("tiny-gpt2", .f32, into: dir)
            let g3 = try generator(ModelLoader.load(path: f32File.path, dtype: dtype))
            XCTAssertEqual(try g3.model.logits([5, 6, 7]), try g2.model.logits([5, 6, 7]), "gpt2 f32 file at \(dtype)")
            try FileManager.default.removeItem(at: f32File)
        }
    }

    // MARK: - Files, paths and errors

    func testLoadPathRecognisesFilesByContentNotName() throws {
        let dir = try scratch()
        let file = try convert("tiny-distilbert", .f32, into: dir)
        let disguised = dir.appendingPathComponent("weights.safetensors")
        try FileManager.default.copyItem(at: file, to: disguised)
        // Loaded as the .smm file it is: the same DistilBERT, with the same outputs as its source.
        let loaded = try ModelLoader.load(path: disguised.path)
        XCTAssertEqual(loaded.modelType, "distilbert")
        let fromFile = try encoder(loaded)
        let source = try encoder(ModelLoader.load(directory: Fixtures.url("models/tiny-distilbert")))
        XCTAssertEqual(fromFile.model.labels, source.model.labels)
        let texts = try fixtureTexts("tiny-distilbert")
        XCTAssertFalse(texts.isEmpty)
        XCTAssertEqual(try fromFile.embed(texts), try source.embed(texts))
        XCTAssertEqual(try fromFile.classify(texts), try source.classify(texts))

        let safetensors = Fixtures.url("models/tiny-distilbert/model.safetensors").path
        XCTAssertThrowsError(try ModelLoader.load(path: safetensors)) { error in
            guard case FormatError.notSMMFile(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("safetensors"), reason)
        }
        XCTAssertThrowsError(try ModelLoader.load(path: Fixtures.url("models/tiny-distilbert/config.json").path)) { error in
            XCTAssertTrue("\(error)".contains("JSON"), "\(error)")
        }
        XCTAssertThrowsError(try ModelLoader.load(path: dir.appendingPathComponent("missing.smm").path)) { error in
            guard case FormatError.cannotOpen = error else { return XCTFail("\(error)") }
        }
    }

    func testConversionIsAtomicAndRefusesToOverwrite() throws {
        let dir = try scratch()
        let out = dir.appendingPathComponent("model.smm")
        try ModelConverter.convert(directory: Fixtures.url("models/tiny-bert"), to: out)
        let first = try Data(contentsOf: out)
        XCTAssertThrowsError(try ModelConverter.convert(directory: Fixtures.url("models/tiny-gpt2"), to: out)) { error in
            XCTAssertEqual(error as? FormatError, .outputExists(path: out.path))
        }
        XCTAssertEqual(try Data(contentsOf: out), first, "a refused conversion must leave the file alone")
        try ModelConverter.convert(directory: Fixtures.url("models/tiny-gpt2"), to: out,
                                   options: ModelConverter.Options(overwrite: true))
        XCTAssertEqual(try SMMFile(path: out.path).metadata.architecture, "gpt2")

        // A conversion that fails midway (a tensor that cannot be read) leaves no output and no temporary file.
        let broken = dir.appendingPathComponent("broken", isDirectory: true)
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        for f in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(at: Fixtures.url("models/tiny-bert/\(f)"), to: broken.appendingPathComponent(f))
        }
        let target = dir.appendingPathComponent("broken.smm")
        XCTAssertThrowsError(try ModelConverter.convert(directory: broken, to: target))
        var writer = SMMFileWriter(metadata: try SMMFile(path: out.path).metadata)
        writer.add(name: "ok", shape: [2], floats: [1, 2])
        writer.add(name: "fails", dtype: .f32, shape: [1000]) { _ in throw CocoaError(.fileReadCorruptFile) }
        XCTAssertThrowsError(try writer.write(to: target))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target.path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("partial") }
        XCTAssertEqual(leftovers, [], "temporary files left behind")
        XCTAssertThrowsError(try writer.write(to: dir)) { error in
            XCTAssertTrue("\(error)".contains("directory"), "\(error)")
        }
    }

    func testMetadataCarriesTokenizerLabelsAndProvenance() throws {
        let dir = try scratch()
        let file = try SMMFile(path: try convert("tiny-bert", .int8, into: dir).path,
                               options: SMMFileReadOptions(verifyBody: true))
        let m = file.metadata
        XCTAssertEqual(m.architecture, "bert")
        XCTAssertEqual(m.labels, ["negative", "neutral", "positive"])
        XCTAssertEqual(m.dtype, .int8)
        XCTAssertEqual(m.tokenizer.kind, .wordpiece)
        let vocab = try String(contentsOf: Fixtures.url("models/tiny-bert/vocab.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(m.tokenizer.vocabulary, Array(vocab.prefix(m.tokenizer.vocabulary.count)))
        XCTAssertEqual(m.tokenizer.specialTokenIDs["cls"], vocab.firstIndex(of: "[CLS]"))
        XCTAssertEqual(m.provenance.converter, ModelConverter.converterName)
        XCTAssertEqual(m.provenance.sourceName, "tiny-bert")
        let weights = try XCTUnwrap(m.provenance.sourceFiles.first { $0.name == "model.safetensors" })
        let bytes = try Data(contentsOf: Fixtures.url("models/tiny-bert/model.safetensors"))
        XCTAssertEqual(weights.bytes, bytes.count)
        XCTAssertEqual(weights.sha256, SHA256.hex(SHA256.hash([UInt8](bytes))))
        XCTAssertTrue(m.provenance.sourceFiles.contains { $0.name == "config.json" })
        // int8 matrices carry scale tensors; vectors and small matrices stay f32.
        let query = try XCTUnwrap(file.entry("bert.encoder.layer.0.attention.self.query.weight"))
        XCTAssertEqual(query.dtype, .i8)
        XCTAssertEqual(file.scaleEntry(for: query)?.shape, [64])
        XCTAssertEqual(file.entry("bert.encoder.layer.0.attention.self.query.bias")?.dtype, .f32)
        XCTAssertEqual(file.entry("classifier.weight")?.dtype, .f32)
        for entry in file.tensors { XCTAssertEqual(entry.dataOffset % 64, 0, entry.name) }
        let source = SMMFileTensorSource(file)
        XCTAssertNotNil(source.int8Tensor("bert.encoder.layer.0.attention.self.query.weight"))
        XCTAssertNil(source.int8Tensor("classifier.weight"))

        // GPT-2: Conv1D weights (in, out) are quantized per output column.
        let gpt = try SMMFile(path: try convert("tiny-gpt2", .int8, into: dir).path)
        let cAttn = try XCTUnwrap(gpt.entry("transformer.h.0.attn.c_attn.weight") ?? gpt.entry("h.0.attn.c_attn.weight"))
        guard case .int8PerChannel(let axis, _) = cAttn.quantization else { return XCTFail("c_attn not int8") }
        XCTAssertEqual(axis, 1)
        XCTAssertEqual(gpt.metadata.tokenizer.kind, .bpe)
        XCTAssertEqual(gpt.metadata.tokenizer.specialTokenIDs["eos"], 1023)
    }

    func testF32WeightsAreUsedInPlace() throws {
        let dir = try scratch()
        let file = try SMMFile(path: try convert("tiny-bert", .f32, into: dir).path)
        let source = SMMFileTensorSource(file)
        let view = try XCTUnwrap(try source.floatTensor("bert.embeddings.word_embeddings.weight"))
        let base = file.mapping.baseAddress
        XCTAssertTrue(UnsafeRawPointer(view.pointer) >= base && UnsafeRawPointer(view.pointer) < base + file.mapping.count,
                      "f32 weights should point into the mapping")
        XCTAssertEqual(Int(bitPattern: view.pointer) % 64, 0)
    }

    /// f32 files store linear weights with a multiple of 48 outputs in the f32 kernel's packed
    /// panels (format 1.1), which the model then uses in place; reduced files hold none (1.0 files).
    func testF32FilesStoreLinearWeightsInPackedPanels() throws {
        XCTAssertEqual(SMMPanelLayout.columns, PackedMatrix.panelColumns, "the file's panels are the kernel's")
        let dir = try scratch()
        let url = try convert("tiny-gpt2", .f32, into: dir)
        let file = try SMMFile(path: url.path)
        XCTAssertEqual(file.header.minorVersion, 1)
        let cAttn = try XCTUnwrap(file.tensors.first { $0.name.hasSuffix("h.0.attn.c_attn.weight") })
        XCTAssertEqual(cAttn.quantization, .packedPanels(axis: 1), "Conv1D (in, out) with 3 x 64 = 192 outputs")
        let cFc = try XCTUnwrap(file.tensors.first { $0.name.hasSuffix("h.0.mlp.c_fc.weight") })
        XCTAssertEqual(cFc.quantization, cFc.shape[1] % 48 == 0 ? .packedPanels(axis: 1) : SMMQuantization.none)
        XCTAssertEqual(file.tensors.first { $0.name.hasSuffix("wte.weight") }?.quantization, SMMQuantization.none)
        // Read back as plain f32, the panels are the checkpoint's tensor.
        let checkpoint = try Checkpoint.open(directory: Fixtures.url("models/tiny-gpt2"))
        XCTAssertEqual(try file.floats(cAttn.name), try checkpoint.tensor(cAttn.name).floats())
        if PackedMatrix.isAvailable {
            let model = try generator(ModelLoader.load(file: file)).model
            let packed = try XCTUnwrap(model.blocks[0].attn.cAttn.packed)
            let base = file.mapping.baseAddress
            XCTAssertTrue(UnsafeRawPointer(packed.packed) >= base && UnsafeRawPointer(packed.packed) < base + file.mapping.count,
                          "packed panels should be used in place in the mapping")
        }
        for dtype in [ModelDType.f16, .bf16, .int8] {
            let reduced = try SMMFile(path: try convert("tiny-bert", dtype, into: dir).path)
            XCTAssertEqual(reduced.header.minorVersion, 0, "\(dtype) files stay readable by 1.0 readers")
            XCTAssertFalse(reduced.tensors.contains { if case .packedPanels = $0.quantization { return true }; return false })
        }
    }

    func testShardedCheckpointConverts() throws {
        let dir = try scratch()
        let source = Fixtures.url("models/tiny-bert")
        let sharded = dir.appendingPathComponent("sharded", isDirectory: true)
        try FileManager.default.createDirectory(at: sharded, withIntermediateDirectories: true)
        for f in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(f), to: sharded.appendingPathComponent(f))
        }
        // Split the checkpoint into two safetensors shards plus an index, as save_pretrained does.
        let checkpoint = try Checkpoint.open(directory: source)
        let halves = [Array(checkpoint.names.prefix(checkpoint.names.count / 2)), Array(checkpoint.names.dropFirst(checkpoint.names.count / 2))]
        var weightMap: [String: String] = [:]
        for (i, names) in halves.enumerated() {
            let shard = "model-0000\(i + 1)-of-00002.safetensors"
            var header: [String] = []
            var data: [UInt8] = []
            for name in names {
                let view = try checkpoint.tensor(name)
                header.append("\"\(name)\":{\"dtype\":\"\(view.dtype.safetensorsName)\",\"shape\":\(view.shape),"
                              + "\"data_offsets\":[\(data.count),\(data.count + view.byteCount)]}")
                data += view.withBytes { Array($0) }
                weightMap[name] = shard
            }
            let json = Array(("{" + header.joined(separator: ",") + "}").utf8)
            var bytes = (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) }
            bytes += json + data
            try Data(bytes).write(to: sharded.appendingPathComponent(shard))
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": weightMap])
        try index.write(to: sharded.appendingPathComponent("model.safetensors.index.json"))

        let out = dir.appendingPathComponent("sharded.smm")
        let report = try ModelConverter.convert(directory: sharded, to: out)
        XCTAssertEqual(Set(report.metadata.provenance.sourceFiles.map(\.name)),
                       ["config.json", "vocab.txt", "model.safetensors.index.json",
                        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        let texts = try fixtureTexts("tiny-bert")
        XCTAssertEqual(try encoder(ModelLoader.load(path: out.path)).classify(texts),
                       try encoder(ModelLoader.load(directory: source)).classify(texts))
    }

    // MARK: - The real all-MiniLM-L6-v2

    func testRealMiniLMConvertedFiles() throws {
        let source = Fixtures.realModel("all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: source.appendingPathComponent("model.safetensors").path) else {
            if Fixtures.requireRealModels { XCTFail("real model missing at \(source.path): run Tools/fetch_minilm.sh") }
            throw XCTSkip("all-MiniLM-L6-v2 not fetched (Tools/fetch_minilm.sh)")
        }
        let dir = try scratch()
        let reference = try Fixtures.json("minilm/reference.json")
        let sentences = try XCTUnwrap(reference["sentences"] as? [String])
        let expected = try XCTUnwrap(reference["embeddings"] as? [[Any]]).map(\.floats)
        // Equality with the directory needs only a few sentences (it is a property of the weights);
        // the int8 quality check runs on every sentence. (A debug build embeds slowly.)
        let subset = Array(sentences.prefix(8))
        let base = try encoder(ModelLoader.load(directory: source))
        let baseline = try base.embed(subset)
        var sizes: [ModelDType: Int] = [:]
        // f32 and int8 only: a debug build converts slowly (f16 and bf16 measure 0.9999997 and 0.99999).
        for dtype in [ModelDType.f32, .int8, .q4] {
            let out = dir.appendingPathComponent("minilm-\(dtype.rawValue).smm")
            var options = ModelConverter.Options(dtype: dtype)
            options.hashSources = false
            let report = try ModelConverter.convert(directory: source, to: out, options: options)
            sizes[dtype] = report.header.fileSize
            let model = try encoder(ModelLoader.load(path: out.path))
            let got = try model.embed(dtype == .f32 ? subset : sentences)
            let vsReference = zip(got, expected).map { cosine($0, $1) }.min() ?? 0
            let vsF32 = zip(got, baseline).map { cosine($0, $1) }.min() ?? 0
            print("[smm-minilm] \(dtype.rawValue): \(report.header.fileSize) bytes, min cosine to sentence-transformers \(vsReference) "
                  + "over \(got.count) sentences, to the f32 directory \(vsF32) over \(subset.count)")
            switch dtype {
            case .f32: XCTAssertEqual(got, baseline, "f32 file embeddings must equal the directory's")
            case .f16, .bf16: XCTAssertGreaterThanOrEqual(vsReference, 0.999, "\(dtype)")
            case .int8: XCTAssertGreaterThanOrEqual(vsReference, 0.995, "int8 cosine to the f32 reference")
            // 4-bit blocks lose far more (measured 0.9067 here; Docs/BENCHMARKS.md for held-out sentences).
            case .q4: XCTAssertGreaterThanOrEqual(vsReference, 0.90, "q4 cosine to the f32 reference")
            }
            try FileManager.default.removeItem(at: out)
        }
        let ratio = Double(sizes[.int8]!) / Double(sizes[.f32]!)
        let q4Ratio = Double(sizes[.q4]!) / Double(sizes[.f32]!)
        print("[smm-minilm] int8/f32 size ratio \(ratio), q4/f32 \(q4Ratio)")
        XCTAssertLessThanOrEqual(ratio, 0.30)
        XCTAssertLessThanOrEqual(q4Ratio, 0.20)
    }
}
