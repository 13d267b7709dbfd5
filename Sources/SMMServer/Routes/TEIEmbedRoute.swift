// POST /embed: text-embeddings-inference's embed route (a list of vectors).
import Hummingbird

struct TEIEmbedRoute {
    let server: InferenceServer

    func handle(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await server.decode(TEIEmbedRequest.self, from: request)
        let model = try server.model(named: body.model)
        if let direction = body.truncationDirection, direction.lowercased() != "right" {
            throw ServerError.invalidField("truncation_direction", "only truncation_direction Right is supported")
        }
        let texts = body.inputs.texts
        let (inputs, _) = try server.tokenize(texts, for: model, truncate: body.truncate ?? false, field: "inputs",
                                              single: body.inputs.single)
        let outcome = try await model.batcher.submit(inputs, kind: .embed(normalize: body.normalize ?? true))
        context.stats.record(model: model.name, texts: texts, outcome: outcome)
        return server.json(.array(outcome.vectors.map { .floats($0) }), model: model)
    }
}
