// Dynamic batching: texts of concurrent requests share forward passes, and a batched answer
// equals the single answer (cosine >= 0.99999, labels identical).
import Foundation
import HummingbirdTesting
import Hummingbird
import XCTest
@testable import SMMServer

final class BatchingTests: XCTestCase {
    static let texts = [
        "Stocks edge higher as investors await inflation data",
        "Shares of Harbor Freight Logistics slump after the company cut its forecast",
        "ok",
        "The central bank left rates unchanged, citing a cooling labour market and easing price pressures in services",
        "Oil climbs",
        "Quarterly revenue beat estimates",
        "A long sentence about nothing in particular that goes on for a while so that it is longer than the others by a lot",
        "Bond yields fall",
    ]

    func testConcurrentEmbeddingsAreBatchedAndEqualTheSingleAnswers() async throws {
        let minilm = try Models.minilm()
        let server = try makeServer(models: [("all-MiniLM-L6-v2", minilm, false)], paused: ["all-MiniLM-L6-v2"])
        let model = try XCTUnwrap(server.models.first)
        let singles = try Self.texts.map { try minilm.embed([$0])[0] }
        try await server.application().test(.live) { client in
            let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
                for (i, text) in Self.texts.enumerated() {
                    group.addTask {
                        let (status, body) = try await livePost(client.port, "/v1/embeddings", #"{"input": \#(quoted(text))}"#)
                        XCTAssertEqual(status, 200)
                        return (i, floats(((jsonObject(body) as? [String: Any])?["data"] as? [[String: Any]])?.first?["embedding"]))
                    }
                }
                let deadline = Date().addingTimeInterval(20)
                while model.batcher.queuedTexts < Self.texts.count && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
                XCTAssertEqual(model.batcher.queuedTexts, Self.texts.count, "all requests wait in one queue")
                model.batcher.resume()
                var out: [Int: [Float]] = [:]
                for try await (i, v) in group { out[i] = v }
                return out
            }
            for (i, single) in singles.enumerated() {
                XCTAssertGreaterThanOrEqual(cosine(try XCTUnwrap(results[i]), single), 0.99999, Self.texts[i])
            }
            let metrics = try await client.get("/metrics").text
            // One batch held all 8 requests (bucket le=8 counts 1 batch, le=4 none).
            XCTAssertTrue(metrics.contains(#"smm_batch_requests_bucket{model="all-MiniLM-L6-v2",le="4.0"} 0"#), metrics)
            XCTAssertTrue(metrics.contains(#"smm_batch_requests_bucket{model="all-MiniLM-L6-v2",le="8.0"} 1"#), metrics)
        }
    }

    func testBatchedClassificationGivesTheSameLabelsAndScores() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        let server = try makeServer(models: [("tiny-bert", tiny, true)], paused: ["tiny-bert"])
        let model = try XCTUnwrap(server.models.first)
        let direct = try Self.texts.map { try tiny.classify([$0])[0] }
        try await server.application().test(.live) { client in
            let results = try await withThrowingTaskGroup(of: (Int, String?, Float?).self) { group in
                for (i, text) in Self.texts.enumerated() {
                    group.addTask {
                        let (_, body) = try await livePost(client.port, "/v1/classify", #"{"inputs": \#(quoted(text))}"#)
                        let first = ((jsonObject(body) as? [String: Any])?["data"] as? [[String: Any]])?.first
                        return (i, first?["label"] as? String, (first?["score"] as? NSNumber)?.floatValue)
                    }
                }
                let deadline = Date().addingTimeInterval(20)
                while model.batcher.queuedTexts < Self.texts.count && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
                model.batcher.resume()
                var out: [Int: (String?, Float?)] = [:]
                for try await (i, label, score) in group { out[i] = (label, score) }
                return out
            }
            for (i, d) in direct.enumerated() {
                XCTAssertEqual(results[i]?.0, d.label)
                XCTAssertEqual(results[i]?.1 ?? -1, d.score, accuracy: 1e-5)
            }
        }
    }

    func testTheBatcherRespectsItsTokenAndRequestLimits() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.maxBatchRequests = 3
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)], paused: ["tiny-bert"])
        let model = try XCTUnwrap(server.models.first)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for text in Self.texts {
                group.addTask {
                    let input = BatchInput(ids: try tiny.tokenizer.encode(text).ids)
                    return try await model.batcher.submit([input], kind: .classify).vectors.count
                }
            }
            while model.batcher.queuedTexts < Self.texts.count { try await Task.sleep(for: .milliseconds(5)) }
            model.batcher.resume()
            var n = 0
            for try await c in group { n += c }
            XCTAssertEqual(n, Self.texts.count)
        }
        let metrics = server.metrics.render()
        // 8 requests, at most 3 per batch: 3 batches, none over 4.
        XCTAssertTrue(metrics.contains(#"smm_batch_requests_count{model="tiny-bert"} 3"#), metrics)
    }
}
