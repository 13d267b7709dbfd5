import Foundation
import XCTest
import SMMFormat
@testable import SMMModels

/// `QuantizationQuality` (what `smm quality` prints) on the tiny fixtures.
final class QuantizationQualityTests: XCTestCase {
    private let texts = ["Oil prices tumble on demand worries", "Microsoft hits record high on cloud growth",
                         "Fed holds rates steady"]

    private func load(_ name: String, _ dtype: ModelDType? = nil) throws -> LoadedModel {
        try ModelLoader.load(directory: Fixtures.url("models/\(name)"), dtype: dtype)
    }

    func testAModelAgainstItselfIsExact() throws {
        let model = try load("tiny-distilbert")
        let q = try QuantizationQuality.compare(reference: model, candidate: model, texts: texts)
        XCTAssertEqual(q.output, .logits)
        XCTAssertEqual(q.vectors, 3)
        XCTAssertEqual(q.argmaxAgreement, 3)
        XCTAssertEqual(q.maxAbsDifference, 0)
        XCTAssertEqual(q.worstCosine, 1, accuracy: 1e-12)
        XCTAssertEqual(q.meanOneMinusCosine, 0, accuracy: 1e-12)
    }

    /// The figures are those of the logits compared by hand.
    func testEncoderFiguresMatchTheLogits() throws {
        let f32 = try load("tiny-bert"), int8 = try load("tiny-bert", .int8)
        guard case .encoder(let a) = f32, case .encoder(let b) = int8 else { return XCTFail("not encoders") }
        let x = try a.classify(texts).map(\.logits), y = try b.classify(texts).map(\.logits)
        let cosines = zip(x, y).map { cosine($0, $1) }
        let q = try QuantizationQuality.compare(reference: f32, candidate: int8, texts: texts)
        XCTAssertEqual(q.worstCosine, try XCTUnwrap(cosines.min()), accuracy: 1e-12)
        XCTAssertEqual(q.meanOneMinusCosine, cosines.map { 1 - $0 }.reduce(0, +) / 3, accuracy: 1e-12)
        XCTAssertEqual(q.maxAbsDifference, Double(zip(x, y).map { maxAbsDiff($0, $1) }.max() ?? -1), accuracy: 1e-7)
        XCTAssertGreaterThan(q.maxAbsDifference, 0, "int8 changes the logits")
        XCTAssertEqual(q.worstText, texts[try XCTUnwrap(cosines.firstIndex(of: try XCTUnwrap(cosines.min())))])
    }

    /// GPT-2 compares every position of every text; an empty text adds none.
    func testDecoderComparesEveryPosition() throws {
        let f32 = try load("tiny-gpt2"), f16 = try load("tiny-gpt2", .f16)
        guard case .decoder(let g) = f32 else { return XCTFail("not a decoder") }
        let positions = try texts.map { try g.tokenizer.encode($0).ids.count }.reduce(0, +)
        let q = try QuantizationQuality.compare(reference: f32, candidate: f16, texts: texts + [""])
        XCTAssertEqual(q.output, .nextTokenLogits)
        XCTAssertEqual(q.vectors, positions)
        XCTAssertGreaterThan(q.maxAbsDifference, 0)
        XCTAssertLessThan(q.maxAbsDifference, 0.05)
        XCTAssertGreaterThan(q.worstCosine, 0.9999)
    }

    func testNothingToCompareIsAClearError() throws {
        let bert = try load("tiny-bert"), gpt2 = try load("tiny-gpt2")
        XCTAssertThrowsError(try QuantizationQuality.compare(reference: bert, candidate: bert, texts: [])) {
            XCTAssertEqual($0 as? ModelError, .invalidInput("no texts to compare the models on"))
        }
        XCTAssertThrowsError(try QuantizationQuality.compare(reference: bert, candidate: gpt2, texts: texts)) {
            XCTAssertEqual($0 as? ModelError, .invalidInput("cannot compare a bert model with a gpt2 model"))
        }
        XCTAssertThrowsError(try QuantizationQuality.compare(reference: gpt2, candidate: gpt2, texts: ["", ""])) {
            XCTAssertEqual($0 as? ModelError, .invalidInput("none of the texts has a token to compare on"))
        }
    }

    /// A model with a NaN weight is an error, never a comparison whose NaN drops out of the minimum.
    func testNaNOutputsAreAnError() throws {
        let copy = try Fixtures.copyModel("tiny-bert", into: try Fixtures.scratchDirectory(self, prefix: "quality"))
        try Fixtures.patchFloat(copy, tensor: "bert.encoder.layer.1.output.dense.weight", element: 3, bits: Float.nan.bitPattern)
        XCTAssertThrowsError(try QuantizationQuality.compare(reference: try load("tiny-bert"),
                                                             candidate: try ModelLoader.load(directory: copy), texts: texts)) {
            XCTAssertEqual($0 as? ModelError, .nonFiniteOutput("hidden states"))
        }
    }

    /// Texts longer than GPT-2's context are compared on their beginning and counted.
    func testTruncatedTextsAreCounted() throws {
        let f32 = try load("tiny-gpt2")
        guard case .decoder(let g) = f32 else { return XCTFail("not a decoder") }
        let long = String(repeating: "Oil prices tumble on demand worries. ", count: 30)
        XCTAssertGreaterThan(try g.tokenizer.encode(long).ids.count, g.model.contextLength)
        let q = try QuantizationQuality.compare(reference: f32, candidate: f32, texts: [texts[0], long])
        XCTAssertEqual(q.truncatedTexts, 1)
        XCTAssertEqual(q.vectors, try g.tokenizer.encode(texts[0]).ids.count + g.model.contextLength)
        XCTAssertEqual(try QuantizationQuality.compare(reference: f32, candidate: f32, texts: texts).truncatedTexts, 0)
    }

    /// A candidate whose tokenizer gives other ids is refused, not compared position by position.
    func testCandidatesMustShareTheTokenizer() throws {
        let copy = try Fixtures.copyModel("tiny-bert", into: try Fixtures.scratchDirectory(self, prefix: "quality"))
        let vocabURL = copy.appendingPathComponent("vocab.txt")
        var vocab = try String(contentsOf: vocabURL, encoding: .utf8).components(separatedBy: "\n")
        let words = vocab.indices.filter { vocab[$0].count > 3 && vocab[$0].allSatisfy(\.isLetter) }
        let (i, j) = (try XCTUnwrap(words.first), try XCTUnwrap(words.last))
        let word = vocab[i]
        vocab.swapAt(i, j)
        try vocab.joined(separator: "\n").write(to: vocabURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try QuantizationQuality.compare(reference: try load("tiny-bert"),
                                                             candidate: try ModelLoader.load(directory: copy),
                                                             texts: ["the \(word) rose"])) {
            XCTAssertEqual($0 as? ModelError, .invalidInput("the two models tokenize \"the \(word) rose\" differently: "
                + "they do not share a tokenizer, so their outputs cannot be compared"))
        }
    }

    func testCosineOfZeroVectors() {
        XCTAssertEqual(QuantizationQuality.cosine([0, 0], [0, 0]), 1)
        XCTAssertEqual(QuantizationQuality.cosine([0, 0], [1, 0]), 0)
        XCTAssertEqual(QuantizationQuality.cosine([1, 2], [-1, -2]), -1, accuracy: 1e-12)
        XCTAssertEqual(QuantizationQuality.argmax([1, 3, 3, 2]), 1)
    }
}
