import SMMJSON
// POST /v1/classify: any served classification model, with every label's score and whether the
// text was cut; says when the model's weights are random.
import Hummingbird
import SMMKernels
import SmartModelManager

struct ClassifyRoute {
    let server: InferenceServer

    /// Labels and scores, highest first.
    static func ranked(_ scores: [Float], labels: [String]) -> [LabelScore] {
        scores.enumerated().map { i, s in LabelScore(label: i < labels.count ? labels[i] : "LABEL_\(i)", score: s) }
            .sorted { $0.score > $1.score }
    }

    func handle(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await server.decode(ClassifyRequest.self, from: request)
        let model = try server.model(named: body.model, classifier: true)
        let texts = body.inputs.texts
        let (inputs, cut) = try server.tokenize(texts, for: model, truncate: body.truncate ?? true, field: "inputs",
                                                single: body.inputs.single)
        let outcome = try await model.batcher.submit(inputs, kind: .classify)
        context.stats.record(model: model.name, texts: texts, outcome: outcome)
        let data: [JSONValue] = outcome.vectors.enumerated().map { i, logits in
            let scores = body.rawScores == true ? logits : ElementWise.softmax(logits)
            let ranked = Self.ranked(scores, labels: model.labels)
            return .record([("index", .int(i)), ("label", .string(ranked.first?.label ?? "")),
                            ("score", .float(ranked.first?.score ?? 0)),
                            ("scores", .array(ranked.map { .record([("label", .string($0.label)), ("score", .float($0.score))]) })),
                            ("truncated", .bool(cut[i]))])
        }
        return server.json(.record([("object", .string("list")), ("model", .string(model.name)),
                                    ("method", .string("classifier")), ("weights_are_random", .bool(model.weightsAreRandom)),
                                    ("data", .array(data))]), model: model)
    }
}
