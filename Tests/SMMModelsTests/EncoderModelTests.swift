import Foundation
import XCTest
@testable import SMMModels

/// BERT and DistilBERT against transformers' outputs on seeded random tiny models (random weights:
/// the numbers mean nothing, they only have to match), and the real all-MiniLM-L6-v2.
final class EncoderModelTests: XCTestCase {
    private func encoder(_ name: String) throws -> TextEncoder {
        let loaded = try ModelLoader.load(directory: Fixtures.url("models/\(name)"))
        guard case .encoder(let encoder) = loaded else {
            // A committed fixture of the wrong kind is a loader regression: fail, never skip.
            return try XCTUnwrap(nil, "\(name) loaded as \(loaded.modelType), not as an encoder")
        }
        return encoder
    }

    private func compareCases(model name: String, hasPooler: Bool) throws {
        let encoder = try encoder(name)
        let reference = try Fixtures.json("models/\(name)/reference.json")
        let cases = try XCTUnwrap(reference["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 3)
        for c in cases {
            let label = c["name"] as? String ?? "?"
            let ids = try XCTUnwrap((c["input_ids"] as? [Any])?.intRows)
            let mask = (c["attention_mask"] as? [Any])?.intRows
            let types = (c["token_type_ids"] as? [Any])?.intRows
            let batch = try EncoderBatch(ids: ids, typeIDs: types, attentionMask: mask)
            let output = try encoder.model.forward(batch)
            let hidden = try XCTUnwrap((c["last_hidden_state"] as? [Any])?.floats)
            XCTAssertEqual(output.lastHiddenState.count, hidden.count, label)
            XCTAssertLessThan(maxAbsDiff(output.lastHiddenState, hidden), 1e-4, "\(name) \(label) hidden states")
            if hasPooler, let pooled = (c["pooler_output"] as? [Any])?.floats {
                XCTAssertLessThan(maxAbsDiff(try XCTUnwrap(output.pooled), pooled), 1e-4, "\(name) \(label) pooler")
            }
            let logits = try XCTUnwrap((c["logits"] as? [Any])?.floats)
            XCTAssertLessThan(maxAbsDiff(try encoder.model.logits(batch).flatMap { $0 }, logits), 1e-4,
                              "\(name) \(label) logits")
        }
    }

    func testTinyBertMatchesTransformers() throws { try compareCases(model: "tiny-bert", hasPooler: true) }

    func testTinyDistilBertMatchesTransformers() throws { try compareCases(model: "tiny-distilbert", hasPooler: false) }

    func testTextsGoThroughTokenizerAndClassifierLikeTransformers() throws {
        for name in ["tiny-bert", "tiny-distilbert"] {
            let encoder = try encoder(name)
            let reference = try Fixtures.json("models/\(name)/reference.json")
            let cases = try XCTUnwrap(reference["cases"] as? [[String: Any]])
            var checked = 0
            for c in cases {
                guard let texts = c["texts"] as? [String], c["text_pairs"] == nil else { continue }
                let ids = try XCTUnwrap((c["input_ids"] as? [Any])?.intRows)
                let encodings = try encoder.tokenize(texts)
                for (row, encoding) in zip(ids, encodings) {
                    XCTAssertEqual(encoding.ids, Array(row.prefix(encoding.ids.count)), "\(name): \(texts)")
                }
                let logits = try XCTUnwrap((c["logits"] as? [Any])?.floats)
                let got = try encoder.classify(texts)
                XCTAssertLessThan(maxAbsDiff(got.flatMap(\.logits), logits), 1e-4, "\(name) classify \(texts)")
                for result in got {
                    XCTAssertEqual(result.score, result.probabilities.max() ?? -1)
                    XCTAssertEqual(result.probabilities.reduce(0, +), 1, accuracy: 1e-5)
                    XCTAssertTrue(encoder.model.labels.contains(result.label))
                }
                checked += 1
            }
            XCTAssertGreaterThan(checked, 0, "\(name) reference has no text cases")
        }
    }

    func testSentencePairGoesThroughTokenizerLikeTransformers() throws {
        let encoder = try encoder("tiny-bert")
        let reference = try Fixtures.json("models/tiny-bert/reference.json")
        let cases = try XCTUnwrap(reference["cases"] as? [[String: Any]])
        let pair = try XCTUnwrap(cases.first { $0["text_pairs"] != nil })
        let a = try XCTUnwrap((pair["texts"] as? [String])?.first)
        let b = try XCTUnwrap((pair["text_pairs"] as? [String])?.first)
        let encoding = try encoder.tokenizer.encode(a, pair: b, maxLength: nil, addSpecialTokens: true)
        XCTAssertEqual(encoding.ids, try XCTUnwrap((pair["input_ids"] as? [Any])?.intRows.first))
        XCTAssertEqual(encoding.typeIDs, try XCTUnwrap((pair["token_type_ids"] as? [Any])?.intRows.first))
        let batch = try EncoderBatch(ids: [encoding.ids], typeIDs: [encoding.typeIDs])
        XCTAssertLessThan(maxAbsDiff(try encoder.model.logits(batch)[0], try XCTUnwrap((pair["logits"] as? [Any])?.floats)), 1e-4)
    }

    func testLabelsComeFromId2label() throws {
        XCTAssertEqual(try encoder("tiny-bert").model.labels, ["negative", "neutral", "positive"])
        XCTAssertEqual(try encoder("tiny-distilbert").model.labels, ["NEGATIVE", "POSITIVE"])
    }

    func testPaddingDoesNotChangeRealTokens() throws {
        let encoder = try encoder("tiny-bert")
        let short = try encoder.model.forward(try EncoderBatch(ids: [[2, 50, 60, 70, 3]]))
        let padded = try encoder.model.forward(try EncoderBatch(ids: [[2, 50, 60, 70, 3, 0, 0], [2, 9, 9, 9, 9, 9, 3]],
                                                                attentionMask: [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]]))
        let h = short.hiddenSize
        for i in 0..<(5 * h) {
            XCTAssertEqual(short.lastHiddenState[i], padded.lastHiddenState[(i / h) * h + i % h], accuracy: 1e-5)
        }
    }

    func testBadInputsGiveClearErrors() throws {
        let encoder = try encoder("tiny-bert")
        XCTAssertThrowsError(try encoder.model.forward(try EncoderBatch(ids: [[2, 99_999, 3]]))) { error in
            XCTAssertTrue("\(error)".contains("99999"), "\(error)")
        }
        XCTAssertThrowsError(try encoder.model.forward(try EncoderBatch(ids: [Array(repeating: 5, count: 65)]))) { error in
            XCTAssertTrue("\(error)".contains("64 positions"), "\(error)")
        }
        XCTAssertThrowsError(try EncoderBatch(ids: [[1, 2], [1]]))
        XCTAssertThrowsError(try EncoderBatch(ids: []))
        XCTAssertThrowsError(try encoder.model.forward(try EncoderBatch(ids: [[2, 3]], typeIDs: [[0, 5]])))
    }

    func testMissingOrMisshapenTensorsAndUnknownModelTypeAreReported() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("smm-bad-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let source = Fixtures.url("models/tiny-bert")
        for file in ["model.safetensors", "vocab.txt"] {
            try fm.copyItem(at: source.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        var config = try String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8)
        // More layers than the checkpoint has: layer 2's tensors are missing.
        try config.replacingOccurrences(of: "\"num_hidden_layers\": 2", with: "\"num_hidden_layers\": 3")
            .write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelLoader.load(directory: dir)) { error in
            XCTAssertEqual(error as? ModelError, .missingTensor(name: "bert.encoder.layer.2.attention.self.query.weight", model: "BERT"))
        }
        // A wider FFN than stored: wrong shape.
        try config.replacingOccurrences(of: "\"intermediate_size\": 128", with: "\"intermediate_size\": 256")
            .write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelLoader.load(directory: dir)) { error in
            XCTAssertEqual(error as? ModelError, .wrongShape(name: "bert.encoder.layer.0.intermediate.dense.weight",
                                                             expected: [256, 64], actual: [128, 64]))
        }
        config = config.replacingOccurrences(of: "\"model_type\": \"bert\"", with: "\"model_type\": \"llama\"")
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelLoader.load(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("llama"), "\(error)")
        }
    }

    /// The real all-MiniLM-L6-v2 (fetched by Tools/fetch_minilm.sh) against sentence-transformers.
    func testRealMiniLMEmbeddingsMatchSentenceTransformers() throws {
        let dir = Fixtures.realModel("all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) else {
            if Fixtures.requireRealModels { XCTFail("real model missing at \(dir.path): run Tools/fetch_minilm.sh") }
            throw XCTSkip("all-MiniLM-L6-v2 not fetched (Tools/fetch_minilm.sh)")
        }
        guard case .encoder(let encoder) = try ModelLoader.load(directory: dir) else { return XCTFail("not an encoder") }
        let reference = try Fixtures.json("minilm/reference.json")
        let sentences = try XCTUnwrap(reference["sentences"] as? [String])
        let expected = try XCTUnwrap(reference["embeddings"] as? [[Any]]).map(\.floats)
        XCTAssertGreaterThanOrEqual(sentences.count, 50)
        if let ids = (reference["token_ids"] as? [Any])?.intRows {
            for (sentence, row) in zip(sentences, ids) { XCTAssertEqual(try encoder.tokenizer.encode(sentence).ids, row, sentence) }
        }
        let got = try encoder.embed(sentences)
        var worst = 1.0
        for (sentence, (a, b)) in zip(sentences, zip(got, expected)) {
            let c = cosine(a, b)
            worst = min(worst, c)
            XCTAssertGreaterThanOrEqual(c, 0.99999, sentence)
        }
        print("MiniLM worst cosine to sentence-transformers: \(worst)")
    }
}
