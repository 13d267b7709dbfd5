import SMMJSON
// POST /predict: text-embeddings-inference's classification route ([{"label","score"}] per input,
// sorted by score; softmax probabilities, or logits with raw_scores).
import Hummingbird
import SMMKernels

struct PredictRoute {
    let server: InferenceServer

    func handle(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await server.decode(ClassifyRequest.self, from: request)
        let model = try server.model(named: body.model, classifier: true)
        let texts = body.inputs.texts
        let (inputs, _) = try server.tokenize(texts, for: model, truncate: body.truncate ?? false, field: "inputs",
                                              single: body.inputs.single)
        let outcome = try await model.batcher.submit(inputs, kind: .classify)
        context.stats.record(model: model.name, texts: texts, outcome: outcome)
        let lists: [JSONValue] = outcome.vectors.map { logits in
            let scores = body.rawScores == true ? logits : ElementWise.softmax(logits)
            return .array(ClassifyRoute.ranked(scores, labels: model.labels).map {
                .record([("score", .float($0.score)), ("label", .string($0.label))])
            })
        }
        return server.json(body.inputs.single ? (lists.first ?? .array([])) : .array(lists), model: model)
    }
}
