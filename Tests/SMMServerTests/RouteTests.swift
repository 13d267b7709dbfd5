// Every route answering real values: the real MiniLM where present (SMM_REQUIRE_REAL_MODELS=1 in
// CI makes its absence a failure), the committed random-weight fixtures for classification (whose
// answers must say the weights are random).
import Foundation
import HummingbirdTesting
import Hummingbird
import SMMModels
import XCTest
@testable import SMMServer

final class RouteTests: XCTestCase {
    func testOpenAIEmbeddingsFloatAndBase64MatchTheEngine() async throws {
        let minilm = try Models.minilm()
        let server = try makeServer(models: [("all-MiniLM-L6-v2", minilm, false)])
        let text = "Stocks edge higher as investors await inflation data"
        let direct = try minilm.embed([text])[0]
        try await server.application().test(.router) { client in
            let r = try await client.post("/v1/embeddings", #"{"model":"all-MiniLM-L6-v2","input":\#(quoted(text))}"#)
            XCTAssertEqual(r.status, .ok)
            let body = try XCTUnwrap(r.json as? [String: Any])
            XCTAssertEqual(body["object"] as? String, "list")
            XCTAssertEqual(body["model"] as? String, "all-MiniLM-L6-v2")
            let data = try XCTUnwrap(body["data"] as? [[String: Any]])
            XCTAssertEqual(data.count, 1)
            XCTAssertEqual(data[0]["object"] as? String, "embedding")
            XCTAssertEqual(data[0]["index"] as? Int, 0)
            let v = floats(data[0]["embedding"])
            XCTAssertEqual(v.count, 384)
            XCTAssertGreaterThanOrEqual(cosine(v, direct), 0.99999)
            let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-4)
            let usage = try XCTUnwrap(body["usage"] as? [String: Any])
            let tokens = try minilm.tokenize([text])[0].ids.count
            XCTAssertEqual(usage["prompt_tokens"] as? Int, tokens)
            XCTAssertEqual(usage["total_tokens"] as? Int, tokens)

            let b = try await client.post("/v1/embeddings",
                #"{"model":"all-MiniLM-L6-v2","input":[\#(quoted(text)),"second"],"encoding_format":"base64","dimensions":384}"#)
            XCTAssertEqual(b.status, .ok)
            let bdata = try XCTUnwrap((b.json as? [String: Any])?["data"] as? [[String: Any]])
            XCTAssertEqual(bdata.count, 2)
            let pair = try XCTUnwrap(Base64Floats.decode(try XCTUnwrap(bdata[0]["embedding"] as? String)))
            XCTAssertGreaterThanOrEqual(cosine(pair, direct), 0.99999)
            let one = try await client.post("/v1/embeddings", #"{"input":\#(quoted(text)),"encoding_format":"base64"}"#)
            let encoded = try XCTUnwrap((((one.json as? [String: Any])?["data"] as? [[String: Any]])?.first?["embedding"]) as? String)
            let decoded = try XCTUnwrap(Base64Floats.decode(encoded))
            XCTAssertTrue(decoded == v, "base64 decodes back to exactly the float answer")

            // Token ids in: the ids of the text give the text's embedding.
            let ids = try minilm.tokenize([text])[0].ids
            let t = try await client.post("/v1/embeddings", #"{"input":[\#(ids.map(String.init).joined(separator: ","))]}"#)
            XCTAssertEqual(t.status, .ok)
            let tv = floats(((t.json as? [String: Any])?["data"] as? [[String: Any]])?.first?["embedding"])
            XCTAssertGreaterThanOrEqual(cosine(tv, direct), 0.99999)
            let tt = try await client.post("/v1/embeddings", #"{"input":[[\#(ids.map(String.init).joined(separator: ","))],[101,102]]}"#)
            XCTAssertEqual(tt.status, .ok)

            let d = try await client.post("/v1/embeddings", #"{"input":"x","dimensions":128}"#)
            XCTAssertEqual(d.status, .badRequest)
            XCTAssertEqual(d.openAIParam, "dimensions")
            XCTAssertTrue(d.text.contains("384"))
            let f = try await client.post("/v1/embeddings", #"{"input":"x","encoding_format":"int8"}"#)
            XCTAssertEqual(f.openAIParam, "encoding_format")
            let bad = try await client.post("/v1/embeddings", #"{"input":[999999]}"#)
            XCTAssertEqual(bad.status, .badRequest)
            XCTAssertEqual(bad.openAIParam, "input[0]")
            // The strict reader: a repeated key is ambiguous (which input?), so it is refused, with where.
            let twice = try await client.post("/v1/embeddings", #"{"input":"a","input":"b"}"#)
            XCTAssertEqual(twice.status, .badRequest)
            XCTAssertTrue(twice.text.contains("duplicate") || twice.text.contains("repeat"), twice.text)
            let deep = try await client.post("/v1/embeddings", "{\"input\":" + String(repeating: "[", count: 65)
                + String(repeating: "]", count: 65) + "}")
            XCTAssertEqual(deep.status, .badRequest)
            XCTAssertTrue(deep.text.contains("64"), deep.text)
        }
    }

    func testTEIEmbedNormalizeTruncateAndTheLengthLimit() async throws {
        let minilm = try Models.minilm()
        let server = try makeServer(models: [("all-MiniLM-L6-v2", minilm, false)])
        let long = Array(repeating: "word", count: 400).joined(separator: " ")
        try await server.application().test(.router) { client in
            let r = try await client.post("/embed", #"{"inputs":["a quiet market","shares fall"]}"#)
            XCTAssertEqual(r.status, .ok)
            let vectors = try XCTUnwrap(r.json as? [[Any]]).map(floats)
            XCTAssertEqual(vectors.count, 2)
            XCTAssertGreaterThanOrEqual(cosine(vectors[0], try minilm.embed(["a quiet market"])[0]), 0.99999)
            let raw = try await client.post("/embed", #"{"inputs":"a quiet market","normalize":false}"#)
            let rv = floats((raw.json as? [Any])?.first)
            let norm = rv.map { $0 * $0 }.reduce(0, +).squareRoot()
            XCTAssertGreaterThan(abs(norm - 1), 0.01, "normalize false gives the raw mean pooling")
            XCTAssertGreaterThanOrEqual(cosine(rv, vectors[0]), 0.99999)

            let tei = try await client.post("/embed", #"{"inputs":["ok",\#(quoted(long))]}"#)
            XCTAssertEqual(tei.status, .unprocessableContent, "TEI answers 422 for a text over the limit")
            XCTAssertEqual(tei.teiType, "Validation")
            XCTAssertTrue(tei.text.contains("256"))
            XCTAssertTrue(tei.text.contains("inputs[1]"))
            let cut = try await client.post("/embed", #"{"inputs":\#(quoted(long)),"truncate":true}"#)
            XCTAssertEqual(cut.status, .ok)
            let oa = try await client.post("/v1/embeddings", #"{"input":\#(quoted(long))}"#)
            XCTAssertEqual(oa.status, .badRequest, "OpenAI routes: 400 naming the limit")
            XCTAssertEqual(oa.openAIParam, "input")
            XCTAssertTrue(oa.text.contains("at most 256"))
        }
    }

    func testPredictAndClassifyWithARandomWeightClassifierSayTheWeightsAreRandom() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        let server = try makeServer(models: [("tiny-bert", tiny, true)])
        let texts = ["the market rallied", "losses widen at the bank"]
        let direct = try tiny.classify(texts)
        try await server.application().test(.router) { client in
            let p = try await client.post("/predict", #"{"inputs":"the market rallied"}"#)
            XCTAssertEqual(p.status, .ok)
            XCTAssertEqual(p.header("x-smm-weights-random"), "true")
            let scores = try XCTUnwrap(p.json as? [[String: Any]])
            XCTAssertEqual(scores.count, 3)
            let values = scores.compactMap { ($0["score"] as? NSNumber)?.floatValue }
            XCTAssertEqual(values, values.sorted(by: >), "sorted by score")
            XCTAssertEqual(values.reduce(0, +), 1, accuracy: 1e-5)
            XCTAssertEqual(scores[0]["label"] as? String, direct[0].label)
            XCTAssertEqual(values[0], direct[0].score, accuracy: 1e-5)

            let batch = try await client.post("/predict", #"{"inputs":["the market rallied","losses widen at the bank"],"raw_scores":true}"#)
            let lists = try XCTUnwrap(batch.json as? [[[String: Any]]])
            XCTAssertEqual(lists.count, 2)
            for (list, d) in zip(lists, direct) {
                let top = try XCTUnwrap((list.first?["score"] as? NSNumber)?.floatValue)
                XCTAssertEqual(top, d.logits.max() ?? 0, accuracy: 1e-4, "raw_scores are the logits")
            }

            let c = try await client.post("/v1/classify", #"{"inputs":["the market rallied","losses widen at the bank"]}"#)
            XCTAssertEqual(c.status, .ok)
            let body = try XCTUnwrap(c.json as? [String: Any])
            XCTAssertEqual(body["weights_are_random"] as? Bool, true)
            let data = try XCTUnwrap(body["data"] as? [[String: Any]])
            XCTAssertEqual(data.map { $0["label"] as? String }, direct.map(\.label))
        }
    }

    func testSentimentZeroShotWithTheRealModelAndClassifierWithAFixture() async throws {
        let minilm = try Models.minilm()
        let server = try makeServer(models: [("all-MiniLM-L6-v2", minilm, false)])
        try await server.application().test(.router) { client in
            let r = try await client.post("/v1/sentiment",
                #"{"inputs":["Shares plunge after the profit warning","Record profits lift the stock to an all-time high"]}"#)
            XCTAssertEqual(r.status, .ok)
            let body = try XCTUnwrap(r.json as? [String: Any])
            XCTAssertEqual(body["method"] as? String, "zero-shot-embedding")
            XCTAssertEqual(body["model"] as? String, "all-MiniLM-L6-v2")
            XCTAssertFalse(((body["reasons"] as? [String]) ?? []).isEmpty, "the zero-shot fallback says why")
            let data = try XCTUnwrap(body["data"] as? [[String: Any]])
            XCTAssertEqual(data.map { $0["label"] as? String }, ["negative", "positive"])
        }
        let distil = try Models.encoder(Models.tinyDistilBert)
        let classifierServer = try makeServer(models: [("all-MiniLM-L6-v2", minilm, false), ("tiny-distilbert", distil, true)])
        try await classifierServer.application().test(.router) { client in
            let r = try await client.post("/v1/sentiment", #"{"inputs":"Shares plunge"}"#)
            let body = try XCTUnwrap(r.json as? [String: Any])
            XCTAssertEqual(body["method"] as? String, "classifier")
            XCTAssertEqual(body["model"] as? String, "tiny-distilbert")
            XCTAssertEqual(body["weights_are_random"] as? Bool, true)
            let label = ((body["data"] as? [[String: Any]])?.first?["label"] as? String) ?? ""
            XCTAssertTrue(["positive", "negative"].contains(label))
        }
    }

    func testTokenizeGivesIdsAndByteOffsets() async throws {
        let minilm = try Models.minilm()
        let server = try makeServer(models: [("all-MiniLM-L6-v2", minilm, false)])
        let text = "Héllo wörld, unaffable! 東京 [SEP] ok"
        try await server.application().test(.router) { client in
            let r = try await client.post("/tokenize", #"{"inputs":[\#(quoted(text))]}"#)
            XCTAssertEqual(r.status, .ok)
            let tokens = try XCTUnwrap((r.json as? [[[String: Any]]])?.first)
            XCTAssertEqual(tokens.compactMap { $0["id"] as? Int }, try minilm.tokenizer.encode(text).ids)
            XCTAssertEqual(tokens.first?["special"] as? Bool, true)
            XCTAssertEqual(tokens.first?["text"] as? String, "[CLS]")
            let utf8 = Array(text.utf8)
            for t in tokens where t["special"] as? Bool == false {
                let start = try XCTUnwrap(t["start"] as? Int), stop = try XCTUnwrap(t["stop"] as? Int)
                XCTAssertEqual(t["text"] as? String, String(decoding: utf8[start..<stop], as: UTF8.self))
            }
            let texts = tokens.compactMap { $0["text"] as? String }
            XCTAssertTrue(texts.contains("Héllo") && texts.contains("東") && texts.contains("京"), "\(texts)")
            let plain = try await client.post("/tokenize", #"{"inputs":"ok","add_special_tokens":false}"#)
            XCTAssertEqual((plain.json as? [[[String: Any]]])?.first?.count, 1)
        }
    }

    func testInfoModelsHealthReadyAndMetrics() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        let server = try makeServer(models: [("tiny-bert", tiny, true)])
        try await server.application().test(.router) { client in
            let infoResponse = try await client.get("/info")
            let info = try XCTUnwrap(infoResponse.json as? [String: Any])
            XCTAssertEqual(info["model_id"] as? String, "tiny-bert")
            XCTAssertEqual(info["max_input_length"] as? Int, 64)
            XCTAssertEqual(info["max_batch_tokens"] as? Int, 16384)
            XCTAssertNotNil((info["model_type"] as? [String: Any])?["classifier"])
            let modelsResponse = try await client.get("/v1/models")
            let models = try XCTUnwrap(modelsResponse.json as? [String: Any])
            XCTAssertEqual((models["data"] as? [[String: Any]])?.map { $0["id"] as? String }, ["tiny-bert"])
            let one = try await client.get("/v1/models/tiny-bert")
            XCTAssertEqual((one.json as? [String: Any])?["object"] as? String, "model")
            let missing = try await client.get("/v1/models/nope")
            XCTAssertEqual(missing.status, .notFound)
            XCTAssertEqual(missing.openAIParam, "model")
            expectStatus(try await client.get("/health"), .ok)
            expectStatus(try await client.get("/ready"), .ok)
            _ = try await client.post("/predict", #"{"inputs":"x"}"#)
            let metrics = try await client.get("/metrics")
            XCTAssertEqual(metrics.status, .ok)
            for name in ["smm_http_requests_total", "smm_http_request_duration_seconds", "smm_batch_requests",
                         "smm_batch_padded_tokens", "smm_tokens_processed_total", "smm_queue_depth", "smm_models_loaded",
                         "smm_cache_budget_bytes", "smm_cache_evictions", "smm_model_switches", "smm_ready"] {
                XCTAssertTrue(metrics.text.contains(name), "missing \(name)")
            }
            XCTAssertTrue(metrics.text.contains(#"smm_http_requests_total{route="/predict",status="200"} 1"#), metrics.text)
        }
        server.beginDrain()
        try await server.application().test(.router) { client in
            expectStatus(try await client.get("/ready"), .serviceUnavailable)
            expectStatus(try await client.get("/health"), .ok)
        }
    }

    func testReadyIs503WhileLoading() async throws {
        let server = InferenceServer(options: ServerOptions(), manager: try makeManager(), logger: quietLogger())
        try await server.application().test(.router) { client in
            expectStatus(try await client.get("/ready"), .serviceUnavailable)
            let e = try await client.post("/embed", #"{"inputs":"x"}"#)
            XCTAssertEqual(e.status, .serviceUnavailable)
            XCTAssertEqual(e.teiType, "Unhealthy")
        }
    }
}
