import SMMJSON
// POST /v1/embeddings: OpenAI's embeddings API (strings or token ids in; float or base64 out).
import Hummingbird

struct EmbeddingsRoute {
    let server: InferenceServer

    func handle(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await server.decode(OpenAIEmbeddingRequest.self, from: request)
        let model = try server.model(named: body.model)
        let base64: Bool
        switch body.encodingFormat ?? "float" {
        case "float": base64 = false
        case "base64": base64 = true
        case let other:
            throw ServerError.invalidField("encoding_format", "encoding_format must be float or base64, got '\(other)'")
        }
        if let d = body.dimensions, d != model.dimensions {
            throw ServerError.invalidField("dimensions",
                "dimensions must equal the model's size (\(model.dimensions)) for \(model.name); it cannot be changed, got \(d)")
        }
        let inputs: [BatchInput]
        let texts: [String]
        switch body.input {
        case .texts(let t, let single):
            texts = t
            inputs = try server.tokenize(t, for: model, truncate: false, field: "input", single: single).inputs
        case .tokens(let lists):
            guard !lists.isEmpty else { throw ServerError.empty("input", "input must not be an empty list") }
            try server.checkInputCount(lists.count, field: "input")
            let vocabulary = model.encoder.model.vocabularySize
            for (i, ids) in lists.enumerated() {
                guard !ids.isEmpty else { throw ServerError.empty("input[\(i)]", "input[\(i)] has no token ids") }
                if ids.count > model.maxLength {
                    throw ServerError.tooLong("input[\(i)]", tokens: ids.count, limit: model.maxLength)
                }
                if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                    throw ServerError.invalidField("input[\(i)]", "token id \(bad) is outside the vocabulary (0..<\(vocabulary))")
                }
            }
            texts = []
            inputs = lists.map { BatchInput(ids: $0) }
        }
        guard !inputs.isEmpty else { throw ServerError.empty("input", "input must not be an empty list") }
        let outcome = try await model.batcher.submit(inputs, kind: .embed(normalize: true))
        context.stats.record(model: model.name, texts: texts.isEmpty ? inputs.map { _ in "" } : texts, outcome: outcome)
        let data: [JSONValue] = outcome.vectors.enumerated().map { i, v in
            .record([("object", .string("embedding")), ("index", .int(i)),
                     ("embedding", base64 ? .string(Base64Floats.encode(v)) : .floats(v))])
        }
        return server.json(.record([
            ("object", .string("list")), ("data", .array(data)), ("model", .string(model.name)),
            ("usage", .record([("prompt_tokens", .int(outcome.tokens)), ("total_tokens", .int(outcome.tokens))])),
        ]), model: model)
    }
}
