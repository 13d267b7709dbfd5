// What protects the server from clients that hold connections without sending requests, or send
// them too slowly, or send what is not HTTP: the per-connection read timeout (slow-loris), the
// closing of a connection whose answer says `Connection: close` (a refused 1 GB body is not read
// to its end), the descriptor limit raised at start, and the connection limit. Hummingbird's own
// pieces are used where they exist: the idle timeout (HTTP1Channel's `idleTimeout`) and the
// connection limit (`MaximumAvailableConnections`: over the limit the listener stops accepting,
// so the kernel's backlog holds new connections until one frees); the two small handlers here add
// only what Hummingbird 2.28.1 does not have.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open descriptors (RLIMIT_NOFILE).
public enum DescriptorLimit {
    /// The soft and hard limits now.
    public static func current() -> (soft: Int, hard: Int) {
        var r = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return (1024, 1024) }
        return (clamp(r.rlim_cur), clamp(r.rlim_max))
    }

    /// Raises the soft limit to the hard one (a process may always do that), so that many
    /// connections do not run out of descriptors at the soft default (often 1024). Returns the
    /// limits afterwards.
    @discardableResult
    public static func raiseSoftToHard() -> (soft: Int, hard: Int) {
        var r = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return current() }
        if r.rlim_cur < r.rlim_max {
            var raised = r
            raised.rlim_cur = r.rlim_max
            #if canImport(Darwin)
            // macOS refuses RLIM_INFINITY (and more than OPEN_MAX) for the soft limit.
            raised.rlim_cur = min(r.rlim_max, rlim_t(OPEN_MAX))
            #endif
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
        }
        return current()
    }

    private static func clamp(_ v: rlim_t) -> Int { v >= rlim_t(Int.max) ? Int.max : Int(v) }
}

extension ServerOptions {
    /// Descriptors kept back from the connection limit: the listener, model files, logs, BLAS.
    public static let reservedDescriptors = 128
    /// The default connection limit where the descriptor limit allows it.
    public static let defaultMaxConnections = 4096

    /// `--max-connections`, or by default 4096, fewer when the soft descriptor limit is lower
    /// (that limit − 128, at least 1), so that accepting never fails for want of a descriptor.
    public func effectiveMaxConnections(descriptorLimit: Int = DescriptorLimit.current().soft) -> Int {
        if let maxConnections { return maxConnections }
        return max(1, min(Self.defaultMaxConnections, descriptorLimit - Self.reservedDescriptors))
    }
}

/// The error a request's body stream ends with when the request was not read within
/// `--read-timeout-s` (mapped to 408 by ``ServerError/from(_:path:)``).
public struct RequestReadTimeout: Error, Sendable, CustomStringConvertible, LocalizedError {
    /// The timeout, seconds.
    public var seconds: Double
    /// What went wrong, and what to do.
    public var description: String {
        "the request was not received within \(Self.format(seconds)) s (--read-timeout-s); send the whole request "
            + "sooner, or start the server with a larger --read-timeout-s"
    }
    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }
    static func format(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }
}

/// Hummingbird's HTTP/1 channel with ``ConnectionGuardHandler`` in front of the HTTP decoder and
/// ``RequestPartObserver`` behind it.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let readTimeout: TimeAmount?
    let linger: TimeAmount
    let events: ConnectionEvents

    init(responder: @escaping HTTPChannelHandler.Responder, idleTimeout: TimeAmount?, readTimeout: TimeAmount?,
         linger: TimeAmount = .seconds(2), events: ConnectionEvents) {
        inner = HTTP1Channel(responder: responder,
                             configuration: .init(additionalChannelHandlers: [RequestPartObserver()], idleTimeout: idleTimeout))
        self.readTimeout = readTimeout
        self.linger = linger
        self.events = events
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            // First in the pipeline: it sees the bytes before the HTTP decoder does.
            try channel.pipeline.syncOperations.addHandler(
                ConnectionGuardHandler(readTimeout: readTimeout, linger: linger, events: events))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// What the guard tells the server (metrics and the debug log).
struct ConnectionEvents: Sendable {
    /// A connection was closed because a request was not read in time; `headComplete` says whether
    /// its head had arrived (slow body) or not (slow head).
    var readTimedOut: @Sendable (_ headComplete: Bool) -> Void = { _ in }
    /// A connection opened (+1) or closed (-1).
    var connections: @Sendable (_ delta: Int) -> Void = { _ in }
}

/// The byte-level half of the guard, first in the pipeline.
///
/// - Read timeout: from the first byte of a request until its last (head and body), at most
///   `readTimeout`; else the connection is closed. A request whose head had arrived gets its body
///   stream ended with ``RequestReadTimeout`` (the route answers 408 through the error mapping,
///   and the connection closes after it); one whose head had not is closed at once. A slow-loris
///   client that dribbles a head one byte a second is closed `readTimeout` after its first byte.
/// - Close after `Connection: close`: once such an answer is written, the write side is shut
///   (the client reads the answer, then EOF) and the connection stops reading: a client still
///   sending a refused 1 GB body is not read further (no CPU, no memory), and after `linger` the
///   connection is closed.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let readTimeout: TimeAmount?
    private let linger: TimeAmount
    private let events: ConnectionEvents
    /// A request's first byte has come and its end has not.
    private var reading = false
    /// That request's head has been decoded.
    private var headComplete = false
    private var readTimer: Scheduled<Void>?
    private var lingering = false
    private var counted = false

    init(readTimeout: TimeAmount?, linger: TimeAmount, events: ConnectionEvents) {
        self.readTimeout = readTimeout
        self.linger = linger
        self.events = events
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { opened() }
    }

    func channelActive(context: ChannelHandlerContext) {
        opened()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        readTimer?.cancel()
        readTimer = nil
        if counted {
            counted = false
            events.connections(-1)
        }
        context.fireChannelInactive()
    }

    private func opened() {
        if !counted {
            counted = true
            events.connections(1)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }  // an answer with Connection: close went out: the rest is dropped
        if !reading { requestBegan(context: context) }
        context.fireChannelRead(data)
    }

    /// While lingering, nothing more is read from the socket (the client's writes back up).
    func read(context: ChannelHandlerContext) {
        if lingering { return }
        context.read()
    }

    // MARK: Called by RequestPartObserver (same event loop)

    /// A request head was decoded (its first byte may have come in the buffer that ended the last request).
    func requestHead(context: ChannelHandlerContext) {
        if !reading { requestBegan(context: context) }
        headComplete = true
    }

    /// A request's end was decoded: it was read in time.
    func requestEnd() {
        reading = false
        headComplete = false
        readTimer?.cancel()
        readTimer = nil
    }

    /// An answer with `Connection: close` has been written: shut the write side, stop reading,
    /// close after `linger`.
    func closeAfterAnswer(context: ChannelHandlerContext) {
        guard !lingering, context.channel.isActive else { return }
        lingering = true
        readTimer?.cancel()
        readTimer = nil
        context.close(mode: .output, promise: nil)
        let loop = context.eventLoop.assumeIsolated()
        loop.scheduleTask(in: linger) { context.close(promise: nil) }
    }

    // MARK: The timer

    private func requestBegan(context: ChannelHandlerContext) {
        reading = true
        headComplete = false
        guard let readTimeout else { return }
        readTimer?.cancel()
        readTimer = context.eventLoop.assumeIsolated().scheduleTask(in: readTimeout) { [self] in
            self.readTimer = nil
            self.timedOut(context: context, after: readTimeout)
        }
    }

    private func timedOut(context: ChannelHandlerContext, after timeout: TimeAmount) {
        guard reading, context.channel.isActive else { return }
        events.readTimedOut(headComplete)
        if headComplete {
            // The route is reading the body: end its stream with the timeout, so that it answers
            // 408 (Connection: close); close in any case if that answer has not gone out in `linger`.
            context.fireErrorCaught(RequestReadTimeout(seconds: Double(timeout.nanoseconds) / 1e9))
            context.eventLoop.assumeIsolated().scheduleTask(in: linger) { context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }
}

/// The HTTP-part half of the guard, behind the HTTP decoder: tells ``ConnectionGuardHandler`` where
/// requests begin and end, and when an answer that closes the connection has been written.
final class RequestPartObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var guardHandler: ConnectionGuardHandler?
    private var guardContext: ChannelHandlerContext?
    private var closeAfterAnswer = false

    func handlerAdded(context: ChannelHandlerContext) {
        guardHandler = try? context.pipeline.syncOperations.handler(type: ConnectionGuardHandler.self)
        guardContext = try? context.pipeline.syncOperations.context(handlerType: ConnectionGuardHandler.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        guardHandler = nil
        guardContext = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let guardHandler, let guardContext {
            switch unwrapInboundIn(data) {
            case .head: guardHandler.requestHead(context: guardContext)
            case .body: break
            case .end: guardHandler.requestEnd()
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.status.code >= 200, head.headerFields[.connection]?.lowercased() == "close" { closeAfterAnswer = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard closeAfterAnswer, let guardHandler, let guardContext else {
                context.write(data, promise: promise)
                return
            }
            closeAfterAnswer = false
            let written = context.eventLoop.makePromise(of: Void.self)
            context.write(data, promise: written)
            written.futureResult.assumeIsolated().whenComplete { result in
                guardHandler.closeAfterAnswer(context: guardContext)
                switch result {
                case .success: promise?.succeed()
                case .failure(let e): promise?.fail(e)
                }
            }
        }
    }
}
