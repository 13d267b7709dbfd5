import SMMJSON
// POST /tokenize: text-embeddings-inference's tokenize route: per input, the tokens with their id,
// text, whether special, and byte offsets (start, stop) into the input.
import Hummingbird
import SMMTokenizers

struct TokenizeRoute {
    let server: InferenceServer

    func handle(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let body = try await server.decode(TokenizeRequest.self, from: request)
        let model = try server.model(named: body.model)
        let texts = body.inputs.texts
        guard !texts.isEmpty else { throw ServerError.empty("inputs", "inputs must not be an empty list") }
        try server.checkInputCount(texts.count, field: "inputs")
        let tokenizer = model.encoder.tokenizer
        var total = 0
        let lists: [JSONValue] = texts.map { text in
            let utf8 = Array(text.utf8)
            let (tokens, _) = tokenizer.encodeWithOffsets(text, addSpecialTokens: body.addSpecialTokens ?? true,
                                                          maxLength: Int.max)
            total += tokens.count
            return .array(tokens.map { t in
                let piece = t.special ? (tokenizer.token(forID: t.id) ?? "")
                    : String(decoding: utf8[min(t.start, utf8.count)..<min(max(t.start, t.stop), utf8.count)], as: UTF8.self)
                return .record([("id", .int(t.id)), ("text", .string(piece)), ("special", .bool(t.special)),
                                ("start", .int(t.start)), ("stop", .int(t.stop))])
            })
        }
        context.stats.record(model: model.name, texts: texts, tokens: total)
        return server.json(.array(lists), model: model)
    }
}
