// The front door (`TextModel`, `EmbeddingIndex`, the manager's similarity and search) on the real
// all-MiniLM-L6-v2 against sentence-transformers' embeddings (Tests/Fixtures/minilm/reference.json).
import Foundation
import XCTest
@testable import SmartModelManager

final class TextModelTests: XCTestCase {
    static let modelURL = repositoryRoot.appendingPathComponent("Weights/models/all-MiniLM-L6-v2")

    struct Reference {
        var sentences: [String]
        var embeddings: [[Float]]
    }

    func reference() throws -> Reference {
        let url = repositoryRoot.appendingPathComponent("Tests/Fixtures/minilm/reference.json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let sentences = try XCTUnwrap(object["sentences"] as? [String])
        let rows = try XCTUnwrap(object["embeddings"] as? [[NSNumber]])
        return Reference(sentences: sentences, embeddings: rows.map { $0.map(\.floatValue) })
    }

    func loadModel() async throws -> TextModel {
        try RealModelTests.requireRealModel()
        return try await TextModel.load(contentsOf: Self.modelURL)
    }

    func testLoadByURLDescribesTheModel() async throws {
        let model = try await loadModel()
        XCTAssertEqual(model.name, "all-MiniLM-L6-v2")
        XCTAssertEqual(model.architecture, .bert)
        XCTAssertEqual(model.dimensions, 384)
        XCTAssertEqual(model.maxTokens, 256)
        XCTAssertEqual(model.labels, [])
        XCTAssertFalse(model.hasClassifier)
        XCTAssertFalse(model.weightsAreRandom)
        XCTAssertEqual(model.dtype, .f32)
    }

    func testEmbeddingsMatchSentenceTransformers() async throws {
        let model = try await loadModel()
        let ref = try reference()
        let got = try await model.embed(ref.sentences)
        XCTAssertEqual(got.count, ref.sentences.count)
        for (i, (e, want)) in zip(got, ref.embeddings).enumerated() {
            XCTAssertEqual(e.dimensions, 384)
            XCTAssertGreaterThanOrEqual(ZeroShotScorer.cosine(e.vector, want), 0.99999, ref.sentences[i])
        }
        let single = try await model.embed(ref.sentences[0])
        // Alone or in a padded batch: the same vector to float rounding.
        XCTAssertGreaterThanOrEqual(ZeroShotScorer.cosine(single.vector, got[0].vector), 0.999999)
        let none = try await model.embed([])
        XCTAssertEqual(none, [])
    }

    func testSimilarityIsTheCosineOfTheReferenceEmbeddings() async throws {
        let model = try await loadModel()
        let ref = try reference()
        for (i, j) in [(0, 1), (0, 2), (3, 4), (5, 9)] {
            let want = ZeroShotScorer.cosine(ref.embeddings[i], ref.embeddings[j])
            let got = try await model.similarity(ref.sentences[i], ref.sentences[j])
            XCTAssertEqual(got, want, accuracy: 1e-4, "\(i) vs \(j)")
        }
        let close = try await model.similarity("The cat sits outside", "A cat is sitting outdoors")
        let far = try await model.similarity("The cat sits outside", "Quarterly revenue fell 8%")
        XCTAssertGreaterThan(close, 0.7)
        XCTAssertLessThan(far, 0.2)
        let many = try await model.similarities("The cat sits outside", to: ["A cat is sitting outdoors", "Quarterly revenue fell 8%"])
        XCTAssertEqual(many[0], close, accuracy: 1e-5)
        XCTAssertEqual(many[1], far, accuracy: 1e-5)
    }

    func testSearchFindsWhatTheReferenceEmbeddingsRank() async throws {
        let model = try await loadModel()
        let ref = try reference()
        let index = try await model.index(ref.sentences)
        XCTAssertEqual(index.count, ref.sentences.count)
        XCTAssertEqual(index.model, "all-MiniLM-L6-v2")
        for q in [0, 7, 20] {
            let hits = try await model.search(ref.sentences[q], in: index, top: 5)
            XCTAssertEqual(hits.count, 5)
            XCTAssertEqual(hits[0].index, q)
            XCTAssertEqual(hits[0].item, ref.sentences[q])
            XCTAssertEqual(hits[0].score, 1, accuracy: 1e-4)
            // The same ranking from sentence-transformers' vectors (scores differ by < 1e-4).
            let want = ref.embeddings.indices.sorted {
                ZeroShotScorer.cosine(ref.embeddings[q], ref.embeddings[$0]) > ZeroShotScorer.cosine(ref.embeddings[q], ref.embeddings[$1])
            }.prefix(5)
            for (hit, w) in zip(hits, want) {
                XCTAssertEqual(hit.score, ZeroShotScorer.cosine(ref.embeddings[q], ref.embeddings[w]), accuracy: 1e-4)
            }
            XCTAssertEqual(zip(hits.dropFirst(), hits).allSatisfy { $0.score <= $1.score }, true)
        }
        var other = EmbeddingIndex(dimensions: 384, model: "another-model")
        try other.add(["x"], embeddings: [Embedding(vector: [Float](repeating: 1, count: 384))])
        do {
            _ = try await model.search("anything", in: other)
            XCTFail("searching another model's index must fail")
        } catch let error as ManagerError {
            XCTAssertTrue("\(error)".contains("another-model"), "\(error)")
        }
    }

    func testSentimentFallsBackToZeroShotAndClassifyNeedsAHead() async throws {
        let model = try await loadModel()
        let results = try await model.sentiment(["Shares soar after record profit", "Company files for bankruptcy"])
        XCTAssertEqual(results.map(\.label), ["positive", "negative"])
        XCTAssertEqual(Set(results.map(\.method)), [.zeroShotEmbedding])
        XCTAssertEqual(Set(results.map(\.model)), ["all-MiniLM-L6-v2"])
        let none = try await model.sentiment([])
        XCTAssertEqual(none, [])
        do {
            _ = try await model.classify(["a text"])
            XCTFail("classify without a head must fail")
        } catch {
            XCTAssertTrue("\(error)".contains("classification head"), "\(error)")
        }
    }

    func testManagerSimilarityAndSearchMatchTheDirectWay() async throws {
        try RealModelTests.requireRealModel()
        let manager = try RealModelTests.makeManager()
        let ref = try reference()
        let managed = try await manager.similarity(ref.sentences[0], ref.sentences[1])
        // The manager picks the dtype for this CPU (int8 where an int8 kernel runs): the direct
        // way loads the same one.
        let info = try await manager.modelInfo("all-MiniLM-L6-v2")
        let loaded = try XCTUnwrap(info.cached.first?.key.dtype)
        let model = try await TextModel.load(contentsOf: Self.modelURL, dtype: loaded == .f32 ? nil : loaded)
        let direct = try await model.similarity(ref.sentences[0], ref.sentences[1])
        XCTAssertEqual(managed, direct, accuracy: 1e-5)
        let index = try await manager.index(Array(ref.sentences.prefix(30)))
        XCTAssertEqual(index.model, "all-MiniLM-L6-v2")
        let hits = try await manager.search(ref.sentences[4], in: index, top: 3)
        XCTAssertEqual(hits.first?.index, 4)
        let directHits = try await model.search(ref.sentences[4], in: try await model.index(Array(ref.sentences.prefix(30))), top: 3)
        XCTAssertEqual(hits.map { $0.index }, directHits.map { $0.index })
    }

    func testCancellationStopsALongEmbedding() async throws {
        let model = try await loadModel()
        let texts = (0..<4000).map { "Sentence number \($0) about markets, rates and earnings." }
        let started = ContinuousClock.now
        let task = Task { try await model.embed(texts) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        do {
            let all = try await task.value
            XCTFail("a cancelled embedding returned \(all.count) results")
        } catch is CancellationError {
            // Stopped at a chunk boundary: far fewer than 4,000 texts were embedded.
        }
        print("cancelled after \(ContinuousClock.now - started)")
        // The engine queue is free again for the next caller.
        let after = try await model.embed(["after"])
        XCTAssertEqual(after.count, 1)
    }

    func testEngineWorkRunsOffTheCooperativePool() async throws {
        XCTAssertFalse(EngineExecutor.isCurrent)
        let onQueue = try await EngineExecutor.perform { EngineExecutor.isCurrent }
        XCTAssertTrue(onQueue)
    }

    func testLoadingAGeneratorOrNothingSaysWhatToDo() async throws {
        let gpt2 = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-gpt2")
        do {
            _ = try await TextModel.load(contentsOf: gpt2)
            XCTFail("a GPT-2 model is not a TextModel")
        } catch let error as ManagerError {
            XCTAssertTrue("\(error)".contains("generate"), "\(error)")
        }
        let missing = URL(fileURLWithPath: "/nonexistent/model.smm")
        do {
            _ = try await TextModel.load(contentsOf: missing)
            XCTFail("nothing there")
        } catch let error as ManagerError {
            XCTAssertTrue("\(error)".contains("/nonexistent/model.smm"), "\(error)")
        }
    }
}

final class EmbeddingIndexTests: XCTestCase {
    func testTopKEqualsBruteForceWithTiesInOrder() throws {
        var rng = SystemRandomNumberGenerator()
        let d = 16
        var index = EmbeddingIndex(dimensions: d)
        var vectors: [[Float]] = (0..<200).map { _ in (0..<d).map { _ in Float.random(in: -1...1, using: &rng) } }
        vectors.append(vectors[10])  // a tie with item 10, added later
        try index.add(vectors.indices.map { "item \($0)" }, embeddings: vectors.map { Embedding(vector: $0) })
        let query = Embedding(vector: vectors[10].map { $0 * 3 })  // scale does not matter
        let hits = try index.search(query, top: 7)
        let want = vectors.indices.sorted {
            let a = ZeroShotScorer.cosine(query.vector, vectors[$0]), b = ZeroShotScorer.cosine(query.vector, vectors[$1])
            return a != b ? a > b : $0 < $1
        }.prefix(7)
        XCTAssertEqual(hits.map(\.index).prefix(2), [10, 200])
        XCTAssertEqual(Set(hits.map(\.index)), Set(want))
        for hit in hits {
            XCTAssertEqual(hit.score, ZeroShotScorer.cosine(query.vector, vectors[hit.index]), accuracy: 1e-5)
            XCTAssertEqual(hit.item, "item \(hit.index)")
        }
        XCTAssertEqual(try index.search(query, top: 1000).count, 201)
    }

    func testBadInputIsRefusedWithTheReason() throws {
        var index = EmbeddingIndex(dimensions: 3)
        XCTAssertThrowsError(try index.add(["a", "b"], embeddings: [Embedding(vector: [1, 0, 0])])) {
            XCTAssertTrue("\($0)".contains("2 items but 1 embeddings"), "\($0)")
        }
        XCTAssertThrowsError(try index.add(["a"], embeddings: [Embedding(vector: [1, 0])])) {
            XCTAssertTrue("\($0)".contains("2 dimensions") && "\($0)".contains("3-dimensional"), "\($0)")
        }
        XCTAssertThrowsError(try index.add(["a"], embeddings: [Embedding(vector: [1, .nan, 0])])) {
            XCTAssertTrue("\($0)".contains("NaN"), "\($0)")
        }
        XCTAssertEqual(index.count, 0)
        XCTAssertEqual(try index.search(Embedding(vector: [1, 0, 0])), [])
        try index.add(["a"], embeddings: [Embedding(vector: [0, 2, 0])])
        XCTAssertThrowsError(try index.search(Embedding(vector: [1, 0, 0]), top: 0)) {
            XCTAssertTrue("\($0)".contains("at least 1"), "\($0)")
        }
        XCTAssertEqual(try index.search(Embedding(vector: [0, 1, 0])).first?.score ?? 0, 1, accuracy: 1e-6)
        XCTAssertThrowsError(try Embedding(vector: [1, 0]).similarity(to: Embedding(vector: [1, 0, 0]))) {
            XCTAssertTrue("\($0)".contains("2-dimensional") && "\($0)".contains("3-dimensional"), "\($0)")
        }
    }
}
