// The HTTP application (Hummingbird router with the routes and middleware) and the service group
// that runs it: models load while the listener is up (/ready 503 until they are in), and SIGTERM or
// SIGINT drains (/ready and the model routes 503 at once while the listener stays open until clients
// go quiet or --drain-grace-s passes, then the listener stops, accepted requests are answered, and
// the process ends; after --drain-timeout-s the rest is cut and logged).
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import SmartModelManager

extension InferenceServer {
    /// The router: every route, the request log (errors → answers, metrics, one log line) outermost,
    /// then the API-key check when a key is set.
    public func router() -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: RequestLogMiddleware(server: self))
        if let key = options.apiKey { router.add(middleware: APIKeyMiddleware(key: Array(key.utf8))) }
        router.post("/v1/embeddings", use: EmbeddingsRoute(server: self).handle)
        let models = ModelsRoute(server: self)
        router.get("/v1/models", use: models.list)
        router.get("/v1/models/:id", use: models.one)
        router.post("/v1/sentiment", use: SentimentRoute(server: self).handle)
        router.post("/v1/classify", use: ClassifyRoute(server: self).handle)
        router.post("/embed", use: TEIEmbedRoute(server: self).handle)
        router.post("/predict", use: PredictRoute(server: self).handle)
        router.post("/tokenize", use: TokenizeRoute(server: self).handle)
        router.get("/info", use: InfoRoute(server: self).handle)
        let health = HealthRoutes(server: self)
        router.get("/health", use: health.health)
        router.get("/ready", use: health.ready)
        router.get("/metrics", use: health.metrics)
        return router
    }

    /// The Hummingbird application on `--host`/`--port`: HTTP/1 with the idle timeout
    /// (`--idle-timeout-s`), the read timeout and close-after-`Connection: close` guard
    /// (`--read-timeout-s`, ``ConnectionGuardHandler``), and the connection limit
    /// (`--max-connections`: over it the listener stops accepting until a connection closes).
    public func application(onServerRunning: @escaping @Sendable () async -> Void = {})
        -> some ApplicationProtocol {
        let idle = options.idleTimeoutS > 0 ? TimeAmount.nanoseconds(Int64(options.idleTimeoutS * 1e9)) : nil
        let read = options.readTimeoutS > 0 ? TimeAmount.nanoseconds(Int64(options.readTimeoutS * 1e9)) : nil
        let metrics = self.metrics
        let logger = self.logger
        let events = ConnectionEvents(
            readTimedOut: { headComplete in
                metrics.readTimedOut(headComplete: headComplete)
                logger.debug("read timeout: connection closed (\(headComplete ? "body" : "head") not received in time)")
            },
            connections: { metrics.connections($0) })
        let server = HTTPServerBuilder { responder in
            GuardedHTTP1Channel(responder: responder, idleTimeout: idle, readTimeout: read, events: events)
        }
        let limit = options.effectiveMaxConnections()
        return Application(router: router(), server: server,
                           configuration: .init(address: .hostname(options.host, port: options.port), serverName: "smm",
                                                availableConnectionsDelegate: MaximumAvailableConnections(limit, logger: logger)),
                           onServerRunning: { _ in await onServerRunning() }, logger: logger)
    }

    /// Runs until SIGTERM/SIGINT (or `trigger` when given): listens, loads the models (`load` true),
    /// serves, drains. Returns normally after a drain, also one cut short by `--drain-timeout-s`.
    /// - Parameters:
    ///   - load: open the `-m` models (or the manager's choice) once the listener is up.
    ///   - signals: the signals that drain (none in tests).
    ///   - onServerRunning: called once the listener is up.
    ///   - onGroup: receives the service group, so a test can trigger the drain.
    public func run(load: Bool = true, dtype: ModelDType? = nil, signals: [UnixSignal] = [.sigterm, .sigint],
                    onServerRunning: @escaping @Sendable () async -> Void = {},
                    onGroup: @Sendable (ServiceGroup) -> Void = { _ in }) async throws {
        let app = application(onServerRunning: onServerRunning)
        let loadFailure = LockedBox<(any Error)?>(nil)
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: app),
                .init(service: ModelLoadService(server: self, load: load, dtype: dtype, failure: loadFailure),
                      successTerminationBehavior: .ignore),
                .init(service: DrainService(server: self), successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: signals, logger: logger)
        configuration.maximumGracefulShutdownDuration = Duration.milliseconds(Int64(options.drainTimeoutS * 1000))
        configuration.maximumCancellationDuration = Duration.seconds(10)
        let group = ServiceGroup(configuration: configuration)
        onGroup(group)
        do {
            try await group.run()
        } catch {
            logger.warning("service group ended: \(error)")
        }
        let cut = inFlight
        if cut > 0 {
            logger.warning("drain timeout (\(options.drainTimeoutS) s): \(cut) requests were cut without an answer")
        } else {
            logger.info("drained: every accepted request was answered")
        }
        for m in models { m.batcher.stop() }
        if let failure = loadFailure.value { throw failure }
    }
}

/// Loads the models once the listener is up, then waits for the shutdown.
struct ModelLoadService: Service {
    let server: InferenceServer
    let load: Bool
    let dtype: ModelDType?
    let failure: LockedBox<(any Error)?>

    func run() async throws {
        if load {
            do { try await server.loadModels(dtype: dtype) } catch {
                server.logger.critical("could not load the models: \(error)")
                failure.value = error
                throw error
            }
        } else {
            server.markReady()
        }
        server.logger.notice("ready: serving \(server.models.map(\.name).joined(separator: ", "))")
        try? await gracefulShutdown()
    }
}

/// The first step of the drain (services stop in reverse order, each after the one behind it has
/// returned): /ready and every model route answer 503 at once, with `Connection: close`, while the
/// listener stays open, until clients go quiet (no request in flight or arriving for 250 ms) or
/// `--drain-grace-s` passes; then the HTTP service stops its listener and answers what it accepted.
struct DrainService: Service {
    let server: InferenceServer

    func run() async throws {
        try? await gracefulShutdown()
        server.beginDrain()
        server.logger.notice("draining: /ready and the model routes answer 503, \(server.inFlight) requests in flight")
        await server.drainGrace()
        server.logger.notice("drain grace over: the listener closes, \(server.inFlight) requests in flight")
    }
}
