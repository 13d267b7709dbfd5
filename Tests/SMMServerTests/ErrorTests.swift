// Every error status: 400 naming the field (invalid JSON, wrong types, empty lists and names,
// invalid UTF-8), 401 with and without the key, 404, 413, 422 (TEI) and 429 with a full queue,
// each in the shape its route family uses.
import Foundation
import HummingbirdTesting
import Hummingbird
import XCTest
@testable import SMMServer

final class ErrorTests: XCTestCase {

    func testFourHundredsNameTheField() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.maxBodyBytes = 4096
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)])
        try await server.application().test(.router) { client in
            // OpenAI-shaped on /v1/...
            let cases: [(String, String, String)] = [
                (#"{"input": "x""#, "body", "invalid_json"),
                (#"{"input": 5}"#, "input", "invalid_type"),
                (#"{"input": []}"#, "input", "empty_input"),
                (#"{"model": "x"}"#, "input", "missing_field"),
                (#"{"input": "x", "model": ""}"#, "model", "empty_model"),
                (#"{"input": "x", "model": 7}"#, "model", "invalid_type"),
                (#"{"input": ["a", 3]}"#, "input[1]", "invalid_type"),
                (#"{"input": "x", "dimensions": 1.5}"#, "dimensions", "invalid_type"),
                (#"{"input": "x", "dimensions": 123456789012345678901234567890}"#, "dimensions", "invalid_type"),
                (#"{"input": "x", "dimensions": 1e400}"#, "dimensions", "invalid_type"),
                (#"[1, 2]"#, "body", "invalid_type"),
            ]
            for (body, param, code) in cases {
                let r = try await client.post("/v1/embeddings", body)
                XCTAssertEqual(r.status, .badRequest, body)
                let error = (r.json as? [String: Any])?["error"] as? [String: Any]
                XCTAssertEqual(error?["param"] as? String, param, body)
                XCTAssertEqual(error?["code"] as? String, code, "\(body): \(r.text)")
                XCTAssertEqual(error?["type"] as? String, "invalid_request_error")
                XCTAssertNotNil(error?["message"] as? String)
            }
            // TEI-shaped elsewhere.
            let tei = try await client.post("/embed", #"{"inputs": [1]}"#)
            XCTAssertEqual(tei.status, .badRequest)
            XCTAssertEqual(tei.teiType, "Validation")
            XCTAssertTrue(((tei.json as? [String: Any])?["error"] as? String ?? "").contains("inputs[0]"), tei.text)
            let empty = try await client.post("/predict", #"{"inputs": []}"#)
            XCTAssertEqual(empty.status, .badRequest)
            XCTAssertEqual(empty.teiType, "Empty")
            let utf8 = try await client.post("/embed", bytes: Array(#"{"inputs": ""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8))
            XCTAssertEqual(utf8.status, .badRequest)
            XCTAssertTrue(utf8.text.contains("UTF-8"))
            let noBody = try await client.post("/embed", "")
            XCTAssertEqual(noBody.status, .badRequest)

            // 404: unknown model, unknown route.
            let unknown = try await client.post("/v1/embeddings", #"{"input": "x", "model": "gpt-9"}"#)
            XCTAssertEqual(unknown.status, .notFound)
            XCTAssertEqual(unknown.openAIParam, "model")
            expectStatus(try await client.post("/embed", #"{"inputs": "x", "model": "gpt-9"}"#), .notFound)
            expectStatus(try await client.get("/nothing/here"), .notFound)

            // 413 over --max-body-bytes (TEI- and OpenAI-shaped).
            let big = #"{"inputs": ""# + String(repeating: "a", count: 5000) + #""}"#
            let large = try await client.post("/embed", big)
            XCTAssertEqual(large.status, .contentTooLarge)
            XCTAssertEqual(large.teiType, "Validation")
            let bigOpenAI = try await client.post("/v1/embeddings", big)
            XCTAssertEqual(bigOpenAI.openAIParam, "body")

            // 422 on TEI routes for a text over the model's 64 tokens; truncate: true answers.
            let long = Array(repeating: "word", count: 100).joined(separator: " ")
            expectStatus(try await client.post("/predict", #"{"inputs": "\#(long)"}"#), .unprocessableContent)
            expectStatus(try await client.post("/predict", #"{"inputs": "\#(long)", "truncate": true}"#), .ok)
            let classified = try await client.post("/v1/classify", #"{"inputs": "\#(long)"}"#)
            XCTAssertEqual(((classified.json as? [String: Any])?["data"] as? [[String: Any]])?.first?["truncated"] as? Bool, true)
        }
    }

    func testAPIKeyIsRequiredExceptOnHealthAndReady() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.apiKey = "s3cret-key"
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)])
        try await server.application().test(.router) { client in
            let none = try await client.post("/v1/embeddings", #"{"input": "x"}"#)
            XCTAssertEqual(none.status, .unauthorized)
            XCTAssertEqual(((none.json as? [String: Any])?["error"] as? [String: Any])?["type"] as? String, "authentication_error")
            XCTAssertFalse(none.text.contains("s3cret"))
            let wrong = try await client.post("/embed", #"{"inputs": "x"}"#, headers: [.authorization: "Bearer s3cret-kex"])
            XCTAssertEqual(wrong.status, .unauthorized)
            expectStatus(try await client.post("/embed", #"{"inputs": "x"}"#, headers: [.authorization: "Bearer s3cret"]),
                         .unauthorized)
            expectStatus(try await client.post("/embed", #"{"inputs": "x"}"#, headers: [.authorization: "s3cret-key"]),
                         .unauthorized)
            let right = try await client.post("/embed", #"{"inputs": "x"}"#, headers: [.authorization: "Bearer s3cret-key"])
            XCTAssertEqual(right.status, .ok)
            expectStatus(try await client.get("/metrics"), .unauthorized)
            expectStatus(try await client.get("/health"), .ok)
            expectStatus(try await client.get("/ready"), .ok)
            let metrics = try await client.get("/metrics", headers: [.authorization: "Bearer s3cret-key"])
            XCTAssertFalse(metrics.text.contains("s3cret"))
        }
        XCTAssertTrue(APIKeyMiddleware.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(APIKeyMiddleware.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        XCTAssertFalse(APIKeyMiddleware.constantTimeEqual([], Array("a".utf8)))
    }

    func testFullQueueAnswers429WithRetryAfterAndTheQueuedRequestsStillComplete() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.maxQueue = 4
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)], paused: ["tiny-bert"])
        let model = try XCTUnwrap(server.models.first)
        try await server.application().test(.live) { client in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<4 {
                    group.addTask { try await livePost(client.port, "/embed", #"{"inputs": "text \#(i)"}"#).0 }
                }
                let deadline = Date().addingTimeInterval(20)
                while model.batcher.queuedTexts < 4 && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
                XCTAssertEqual(model.batcher.queuedTexts, 4)
                let rejected = try await client.post("/embed", #"{"inputs": "one too many"}"#)
                XCTAssertEqual(rejected.status, .tooManyRequests)
                XCTAssertEqual(rejected.headers[.retryAfter], "1")
                XCTAssertEqual(rejected.teiType, "Overloaded")
                let openAI = try await client.post("/v1/embeddings", #"{"input": ["a", "b"]}"#)
                XCTAssertEqual(openAI.status, .tooManyRequests)
                XCTAssertEqual(((openAI.json as? [String: Any])?["error"] as? [String: Any])?["type"] as? String, "rate_limit_error")
                model.batcher.resume()
                var statuses: [Int] = []
                for try await s in group { statuses.append(s) }
                XCTAssertEqual(statuses, [200, 200, 200, 200])
            }
            let metrics = try await client.get("/metrics")
            XCTAssertTrue(metrics.text.contains(#"smm_queue_rejections_total{model="tiny-bert"} 2"#), metrics.text)
        }
    }
}
