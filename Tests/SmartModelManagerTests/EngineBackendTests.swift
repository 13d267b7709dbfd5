// The engine backend's results as the manager passes them on: one classification result type,
// carrying truncation; one generation result with a typed stop reason.
import Foundation
import XCTest
@testable import SmartModelManager

final class EngineBackendTests: XCTestCase {
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures/models")

    func testClassificationCarriesTruncationAndLabels() async throws {
        let location = Self.fixtures.appendingPathComponent("tiny-distilbert")
        let entry = CatalogEntry(id: "tiny-distilbert", source: "fixture", architecture: "distilbert",
                                 tasks: [.classification], parameters: 100_000, path: location.path,
                                 labels: ["NEGATIVE", "POSITIVE"], maxTokens: 64, weightsAreRandom: true)
        let model = try await EngineBackend().load(entry, dtype: .f32, location: location)
        let long = Array(repeating: "market", count: 200).joined(separator: " ")   // > 64 positions
        let results = try await model.classify(["shares rose", long])
        XCTAssertEqual(results.map(\.text), ["shares rose", long])
        XCTAssertEqual(results.map(\.truncated), [false, true])
        for r in results {
            XCTAssertEqual(r.scores.map(\.label), ["NEGATIVE", "POSITIVE"])
            XCTAssertEqual(r.scores.map(\.score).reduce(0, +), 1, accuracy: 1e-5)
            XCTAssertEqual(r.score, r.scores.map(\.score).max() ?? -1)
            XCTAssertEqual(r.method, .classifier)
        }
    }

    func testGenerationReportsATypedStopReason() async throws {
        let location = Self.fixtures.appendingPathComponent("tiny-gpt2")
        let entry = CatalogEntry(id: "tiny-gpt2", source: "fixture", architecture: "gpt2", tasks: [.generation],
                                 parameters: 100_000, path: location.path, weightsAreRandom: true)
        let model = try await EngineBackend().load(entry, dtype: .f32, location: location)
        let out = try await model.generate(prompt: "Hello", options: TextGenerationOptions(maxNewTokens: 3))
        if out.stopReason == .maxTokens { XCTAssertEqual(out.tokenCount, 3) }
        XCTAssertTrue([.maxTokens, .endOfText].contains(out.stopReason), "\(out.stopReason)")
        XCTAssertLessThanOrEqual(out.tokenCount, 3)
        XCTAssertEqual(out.model, "", "the backend leaves the model's name to the manager")
    }
}
