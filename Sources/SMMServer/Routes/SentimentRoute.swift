import SMMJSON
// POST /v1/sentiment: as `smm sentiment --json` answers: label, score, the model and the method;
// a served sentiment classifier when there is one, else zero-shot similarity of the default
// embedder to the market-sentiment label descriptions (with the reasons for that fallback).
import Hummingbird
import SMMKernels
import SmartModelManager

struct SentimentRoute {
    let server: InferenceServer

    func handle(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await server.decode(ClassifyRequest.self, from: request)
        let texts = body.inputs.texts
        let model: ServedModel
        if let name = body.model {
            model = try server.model(named: name)
        } else {
            model = try server.sentimentClassifier() ?? server.model(named: nil)
        }
        let (inputs, cut) = try server.tokenize(texts, for: model, truncate: body.truncate ?? true, field: "inputs",
                                                single: body.inputs.single)
        var scored: [[LabelScore]]
        let method: String
        var reasons: [String] = []
        if model.isClassifier {
            let outcome = try await model.batcher.submit(inputs, kind: .classify)
            context.stats.record(model: model.name, texts: texts, outcome: outcome)
            scored = outcome.vectors.map { logits in
                ClassifyRoute.ranked(ElementWise.softmax(logits), labels: model.labels.map(ModelManager.sentimentLabel))
            }
            method = InferenceMethod.classifier.rawValue
        } else {
            let labels = ZeroShotLabelSet.marketSentiment
            let prototypes = try await model.sentimentPrototypes(labels)
            let outcome = try await model.batcher.submit(inputs, kind: .embed(normalize: true))
            context.stats.record(model: model.name, texts: texts, outcome: outcome)
            scored = ZeroShotScorer.score(texts: outcome.vectors, prototypes: prototypes, labels: labels)
                .map { $0.sorted { $0.score > $1.score } }
            method = InferenceMethod.zeroShotEmbedding.rawValue
            reasons = ["no sentiment classifier is served: zero-shot similarity of \(model.name) embeddings to the "
                       + "\(labels.name) label descriptions"] + model.reasons
        }
        let data: [JSONValue] = scored.enumerated().map { i, ranked in
            .record([("index", .int(i)), ("text", .string(texts[i])), ("label", .string(ranked.first?.label ?? "unknown")),
                     ("score", .float(ranked.first?.score ?? 0)),
                     ("scores", .array(ranked.map { .record([("label", .string($0.label)), ("score", .float($0.score))]) })),
                     ("model", .string(model.name)), ("method", .string(method)), ("truncated", .bool(cut[i])),
                     ("weights_are_random", .bool(model.weightsAreRandom))])
        }
        var fields: [(String, JSONValue)] = [("object", .string("list")), ("model", .string(model.name)),
                                           ("method", .string(method)), ("weights_are_random", .bool(model.weightsAreRandom))]
        if !reasons.isEmpty { fields.append(("reasons", .strings(reasons))) }
        fields.append(("data", .array(data)))
        return server.json(.record(fields), model: model)
    }
}
