import SMMJSON
// GET /health (liveness), GET /ready (readiness: 503 while loading or draining), GET /metrics.
import HTTPTypes
import Hummingbird
import SmartModelManager

struct HealthRoutes {
    let server: InferenceServer

    func health(_ request: Request, context: ServerRequestContext) async throws -> Response {
        server.json(.record([("status", .string("ok"))]))
    }

    func ready(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let phase = server.phase
        let status: HTTPResponse.Status = phase == .ready ? .ok : .serviceUnavailable
        return server.json(.record([("status", .string(phase.rawValue)), ("models", .strings(server.models.map(\.name)))]),
                           status: status)
    }

    func metrics(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let cache = await server.manager.cacheStatistics()
        let switches = await server.manager.performanceStats().switches
        server.metrics.update(models: server.models.count, cache: cache, switches: switches,
                              residentBytes: ResidentMemory.bytes())
        for m in server.models { server.metrics.queueDepth(model: m.name, texts: m.batcher.queuedTexts) }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: server.metrics.render())))
    }
}
