import SMMJSON
// GET /v1/models and GET /v1/models/{id}: OpenAI's model list.
import Hummingbird

struct ModelsRoute {
    let server: InferenceServer

    static func entry(_ m: ServedModel) -> JSONValue {
        .record([("id", .string(m.name)), ("object", .string("model")), ("created", .int(0)), ("owned_by", .string("smm"))])
    }

    func list(_ request: Request, context: ServerRequestContext) async throws -> Response {
        server.json(.record([("object", .string("list")), ("data", .array(server.models.map(Self.entry)))]))
    }

    func one(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard let m = server.models.first(where: { $0.name == id }) else {
            throw ServerError.modelNotFound(id, served: server.models.map(\.name))
        }
        return server.json(Self.entry(m))
    }
}
