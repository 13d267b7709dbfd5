import SMMJSON
// GET /info: text-embeddings-inference's model information, plus every served model.
import Hummingbird

struct InfoRoute {
    let server: InferenceServer

    static func modelType(_ m: ServedModel) -> JSONValue {
        if m.isClassifier {
            let labels = m.labels
            return .record([("classifier", .record([
                ("id2label", .record(labels.enumerated().map { (String($0.offset), .string($0.element)) })),
                ("label2id", .record(labels.enumerated().map { ($0.element, .int($0.offset)) })),
            ]))])
        }
        return .record([("embedding", .record([("pooling", .string(m.encoder.defaultPooling.rawValue))]))])
    }

    func handle(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let model = try server.model(named: nil)
        let o = server.options
        let models: [JSONValue] = server.models.map { m in
            .record([("id", .string(m.name)), ("location", .string(m.location.path)), ("dtype", .string(m.dtype.rawValue)),
                     ("architecture", .string(m.encoder.model.architecture.rawValue)), ("model_type", Self.modelType(m)),
                     ("max_input_length", .int(m.maxLength)), ("dimensions", .int(m.dimensions)),
                     ("weights_are_random", .bool(m.weightsAreRandom))])
        }
        return server.json(.record([
            ("model_id", .string(model.name)), ("model_sha", .null),
            ("model_dtype", .string(model.dtype == .f32 ? "float32" : model.dtype.rawValue)),
            ("model_type", Self.modelType(model)),
            ("max_concurrent_requests", .int(o.maxQueue)), ("max_input_length", .int(model.maxLength)),
            ("max_batch_tokens", .int(o.maxBatchTokens)), ("max_batch_requests", .int(o.maxBatchRequests)),
            ("max_client_batch_size", .int(o.maxQueue)), ("tokenization_workers", .int(1)),
            ("version", .string(InferenceServer.version)), ("sha", .null), ("docker_label", .null),
            ("models", .array(models)),
        ]))
    }
}
