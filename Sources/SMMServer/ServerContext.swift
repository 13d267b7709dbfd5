// The request context: Hummingbird's core storage plus what the routes tell the request log
// (texts, tokens, queue wait, compute time), and the middleware that logs, counts, maps errors and
// checks the API key.
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// What one request did, filled in by its route and read by the log middleware.
public final class RequestStats: @unchecked Sendable {
    private let lock = NSLock()
    private var _texts = 0, _tokens = 0
    private var _queueMs = 0.0, _computeMs = 0.0
    private var _model: String?
    private var _sample: [String] = []

    /// Records a batch outcome.
    func record(model: String, texts: [String], outcome: BatchOutcome) {
        lock.withLock {
            _model = model
            _texts += texts.count
            _tokens += outcome.tokens
            _queueMs += outcome.queueWaitMs
            _computeMs += outcome.computeMs
            _sample = texts
        }
    }

    /// Records texts handled without the batcher (tokenize).
    func record(model: String, texts: [String], tokens: Int) {
        lock.withLock {
            _model = model
            _texts += texts.count
            _tokens += tokens
            _sample = texts
        }
    }

    var snapshot: (model: String?, texts: Int, tokens: Int, queueMs: Double, computeMs: Double, sample: [String]) {
        lock.withLock { (_model, _texts, _tokens, _queueMs, _computeMs, _sample) }
    }
}

/// The context every route gets.
public struct ServerRequestContext: RequestContext {
    /// Hummingbird's storage.
    public var coreContext: CoreRequestContextStorage
    /// What the route did, for the request log.
    public let stats: RequestStats

    /// A context for one request.
    public init(source: Source) {
        coreContext = .init(source: source)
        stats = RequestStats()
    }
}

/// Outermost middleware: turns every error into its answer (`ServerError`), counts the request in the
/// metrics and writes one info log line (route, status, texts, tokens, queue wait, compute time;
/// the texts themselves only at trace).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let server: InferenceServer

    /// The routes that queue work on a model.
    static let computeRoutes: Set<String> = ["/v1/embeddings", "/embed", "/predict", "/v1/sentiment", "/v1/classify"]

    static let routes: Set<String> = ["/v1/embeddings", "/v1/models", "/embed", "/predict", "/tokenize", "/info",
                                      "/v1/sentiment", "/v1/classify", "/health", "/ready", "/metrics"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        server.requestStarted()
        defer { server.requestFinished() }
        var response: Response
        do {
            // Draining: the listener is still open so that clients (and load balancers) learn to go
            // elsewhere from an answer rather than from a reset. Liveness, readiness and metrics answer as usual.
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > server.options.maxBodyBytes {
                // On every route, before the key check: a body that will not be read is refused at
                // once and the connection closes (Hummingbird would otherwise read it to its end).
                throw ServerError.bodyTooLarge(limit: server.options.maxBodyBytes)
            } else if server.phase == .draining, path != "/health", path != "/ready", path != "/metrics" {
                server.noteDrainArrival()
                var refused = ServerError.unavailable("the server is shutting down; retry on another replica")
                    .response(openAI: path.hasPrefix("/v1/"))
                refused.headers[.connection] = "close"
                response = refused
            } else if request.method == .post, Self.computeRoutes.contains(path), let full = server.saturatedQueue() {
                // Every model's queue is full: refuse before reading the body, so a flood of requests
                // the server cannot take costs it as little CPU as possible (the model keeps it).
                server.metrics.rejected(model: server.models.count == 1 ? server.models[0].name : "all")
                response = ServerError.overloaded(queue: full, limit: server.options.maxQueue).response(openAI: path.hasPrefix("/v1/"))
            } else {
                response = try await next(request, context)
            }
        } catch {
            let e = ServerError.from(error, path: path)
            if e.status.code >= 500 { server.logger.error("\(request.method) \(path): \(e.message)") }
            response = e.response(openAI: path.hasPrefix("/v1/"))
        }
        let elapsed = start.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let route = Self.routes.contains(path) ? path : (path.hasPrefix("/v1/models/") ? "/v1/models/{id}" : "other")
        server.metrics.request(route: route, status: Int(response.status.code), seconds: seconds)
        if server.logger.logLevel <= .info, route != "/health" && route != "/ready" && route != "/metrics" || server.logger.logLevel <= .debug {
            let s = context.stats.snapshot
            var metadata: Logger.Metadata = [
                "route": .string(route), "status": .stringConvertible(response.status.code),
                "ms": .string(String(format: "%.2f", seconds * 1000)),
            ]
            if let model = s.model {
                metadata["model"] = .string(model)
                metadata["texts"] = .stringConvertible(s.texts)
                metadata["tokens"] = .stringConvertible(s.tokens)
                metadata["queue_ms"] = .string(String(format: "%.2f", s.queueMs))
                metadata["compute_ms"] = .string(String(format: "%.2f", s.computeMs))
            }
            server.logger.info("\(request.method) \(path)", metadata: metadata)
            if server.logger.logLevel <= .trace, !s.sample.isEmpty {
                server.logger.trace("texts", metadata: ["texts": .array(s.sample.map { .string($0) })])
            }
        }
        return response
    }
}

/// With an API key set, every route but /health and /ready needs `Authorization: Bearer KEY`
/// (compared in constant time); otherwise 401, OpenAI-shaped. The key is never logged.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let key: [UInt8]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/health" || path == "/ready" { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), Self.constantTimeEqual(Array(header.utf8.dropFirst(prefix.utf8.count)), key) else {
            return ServerError.unauthorized.response(openAI: true)
        }
        return try await next(request, context)
    }

    /// Equal bytes, in time that depends on the lengths only.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0 && a.count == b.count
    }
}
