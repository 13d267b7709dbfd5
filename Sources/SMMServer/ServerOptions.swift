// Every `smm serve` setting, its default, and the environment variable that sets it. The command
// line wins over the environment, the environment over the default.
import Foundation
import Logging

/// The settings of one server. Build with ``init()`` (defaults), then ``apply(environment:)``, then
/// the command line's values.
public struct ServerOptions: Sendable, Equatable {
    /// Address to bind (`SMM_HOST`); 127.0.0.1 unless told otherwise.
    public var host = "127.0.0.1"
    /// Port (`SMM_PORT`); 0 picks a free one.
    public var port = 8080
    /// Models to serve (`-m`, `SMM_MODELS`: comma-separated): `.smm` files, HF directories or catalog ids.
    /// Empty: the manager picks from the catalog for embeddings.
    public var models: [String] = []
    /// Names to serve the models under, in `-m` order (`--name`, `SMM_MODEL_NAMES`); default: the file stem.
    public var names: [String] = []
    /// The API key (`SMM_API_KEY`, or the first line of `--api-key-file` / `SMM_API_KEY_FILE`). Nil: no key needed.
    public var apiKey: String?
    /// Most padded tokens in one forward pass (`SMM_MAX_BATCH_TOKENS`).
    public var maxBatchTokens = 16384
    /// Most requests whose texts share one forward pass (`SMM_MAX_BATCH_REQUESTS`).
    public var maxBatchRequests = 64
    /// Longest wait for company before a batch starts, in milliseconds (`SMM_MAX_WAIT_MS`).
    public var maxWaitMs = 2.0
    /// Texts queued per model before new requests get 429 (`SMM_MAX_QUEUE`).
    public var maxQueue = 512
    /// Largest request body (`SMM_MAX_BODY_BYTES`); larger gets 413.
    public var maxBodyBytes = 4_194_304
    /// Seconds a connection may stay open with no request in progress before it is closed
    /// (`SMM_IDLE_TIMEOUT_S`); 0: never. Above the 60 s that load balancers and proxies keep idle
    /// upstream connections (AWS ALB, nginx `keepalive_timeout`), so that the server is not the one
    /// closing a connection the proxy is about to reuse.
    public var idleTimeoutS = 75.0
    /// Seconds from a request's first byte to its last, head and body (`SMM_READ_TIMEOUT_S`); a
    /// slower request's connection is closed (slow-loris), with a 408 when its head had arrived. 0: never.
    public var readTimeoutS = 30.0
    /// Most open connections (`SMM_MAX_CONNECTIONS`); over it the listener stops accepting until one
    /// closes (new connections wait in the kernel's backlog). Nil: 4096, fewer when the descriptor
    /// limit is lower (see ``effectiveMaxConnections(descriptorLimit:)``).
    public var maxConnections: Int?
    /// Most inputs in one request (`SMM_MAX_CLIENT_BATCH_SIZE`, TEI's `--max-client-batch-size`);
    /// more gets 413 before any is tokenized.
    public var maxClientBatchSize = 512
    /// Seconds a drain may take before the remaining requests are cut (`SMM_DRAIN_TIMEOUT_S`).
    public var drainTimeoutS = 30.0
    /// Longest time after SIGTERM that the listener stays open answering 503 (`SMM_DRAIN_GRACE_S`);
    /// it ends sooner once no request is in flight or arriving for 250 ms.
    public var drainGraceS = 5.0
    /// Engine threads (`SMM_THREADS`); nil: the physical cores this process may use.
    public var threads: Int?
    /// Log level (`SMM_LOG_LEVEL`): trace also logs request texts.
    public var logLevel: Logger.Level = .info

    /// The defaults.
    public init() {}

    /// One environment variable: its name, the option it backs and what it means (for `--help` and Docs).
    public struct EnvironmentVariable: Sendable {
        /// `SMM_PORT`.
        public var name: String
        /// `--port`.
        public var option: String
        /// What it sets.
        public var help: String
    }

    /// Every variable ``apply(environment:)`` reads.
    public static let environmentVariables: [EnvironmentVariable] = [
        .init(name: "SMM_HOST", option: "--host", help: "address to bind (default 127.0.0.1)"),
        .init(name: "SMM_PORT", option: "--port", help: "port (default 8080)"),
        .init(name: "SMM_MODELS", option: "-m", help: "comma-separated models to serve"),
        .init(name: "SMM_MODEL_NAMES", option: "--name", help: "comma-separated names for them"),
        .init(name: "SMM_API_KEY", option: "--api-key-file", help: "the API key itself"),
        .init(name: "SMM_API_KEY_FILE", option: "--api-key-file", help: "a file holding the API key"),
        .init(name: "SMM_MAX_BATCH_TOKENS", option: "--max-batch-tokens", help: "padded tokens per forward pass (16384)"),
        .init(name: "SMM_MAX_BATCH_REQUESTS", option: "--max-batch-requests", help: "requests per forward pass (64)"),
        .init(name: "SMM_MAX_WAIT_MS", option: "--max-wait-ms", help: "longest wait for company (2)"),
        .init(name: "SMM_MAX_QUEUE", option: "--max-queue", help: "queued texts per model before 429 (512)"),
        .init(name: "SMM_MAX_BODY_BYTES", option: "--max-body-bytes", help: "largest body before 413 (4194304)"),
        .init(name: "SMM_MAX_CLIENT_BATCH_SIZE", option: "--max-client-batch-size", help: "inputs per request before 413 (512)"),
        .init(name: "SMM_IDLE_TIMEOUT_S", option: "--idle-timeout-s", help: "close a connection idle this long (75; 0 never)"),
        .init(name: "SMM_READ_TIMEOUT_S", option: "--read-timeout-s",
              help: "close a connection whose request (head and body) takes longer to arrive (30; 0 never)"),
        .init(name: "SMM_MAX_CONNECTIONS", option: "--max-connections",
              help: "open connections before the listener stops accepting (4096, or the descriptor limit - 128)"),
        .init(name: "SMM_DRAIN_TIMEOUT_S", option: "--drain-timeout-s", help: "longest drain on SIGTERM/SIGINT (30)"),
        .init(name: "SMM_DRAIN_GRACE_S", option: "--drain-grace-s",
              help: "longest time the listener stays open answering 503 after SIGTERM (5; ends when clients go quiet)"),
        .init(name: "SMM_THREADS", option: "--threads", help: "engine threads"),
        .init(name: "SMM_LOG_LEVEL", option: "--log-level", help: "trace, debug, info, notice, warning, error, critical"),
    ]

    /// Takes every `SMM_*` variable that is set.
    /// - Throws: ``ServerOptionsError`` naming the variable when a value does not parse.
    public mutating func apply(environment env: [String: String]) throws {
        func int(_ name: String) throws -> Int? {
            guard let text = env[name], !text.isEmpty else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw ServerOptionsError("\(name)=\(text) is not an integer")
            }
            return value
        }
        func double(_ name: String) throws -> Double? {
            guard let text = env[name], !text.isEmpty else { return nil }
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                throw ServerOptionsError("\(name)=\(text) is not a number")
            }
            return value
        }
        func list(_ name: String) -> [String]? {
            guard let text = env[name], !text.isEmpty else { return nil }
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let v = env["SMM_HOST"], !v.isEmpty { host = v }
        if let v = try int("SMM_PORT") { port = v }
        if let v = list("SMM_MODELS") { models = v }
        if let v = list("SMM_MODEL_NAMES") { names = v }
        if let path = env["SMM_API_KEY_FILE"], !path.isEmpty { apiKey = try Self.readKey(path: path) }
        if let v = env["SMM_API_KEY"], !v.isEmpty { apiKey = v }
        if let v = try int("SMM_MAX_BATCH_TOKENS") { maxBatchTokens = v }
        if let v = try int("SMM_MAX_BATCH_REQUESTS") { maxBatchRequests = v }
        if let v = try double("SMM_MAX_WAIT_MS") { maxWaitMs = v }
        if let v = try int("SMM_MAX_QUEUE") { maxQueue = v }
        if let v = try int("SMM_MAX_BODY_BYTES") { maxBodyBytes = v }
        if let v = try int("SMM_MAX_CLIENT_BATCH_SIZE") { maxClientBatchSize = v }
        if let v = try double("SMM_IDLE_TIMEOUT_S") { idleTimeoutS = v }
        if let v = try double("SMM_READ_TIMEOUT_S") { readTimeoutS = v }
        if let v = try int("SMM_MAX_CONNECTIONS") { maxConnections = v }
        if let v = try double("SMM_DRAIN_TIMEOUT_S") { drainTimeoutS = v }
        if let v = try double("SMM_DRAIN_GRACE_S") { drainGraceS = v }
        if let v = try int("SMM_THREADS") { threads = v }
        if let v = env["SMM_LOG_LEVEL"], !v.isEmpty { logLevel = try Self.level(v) }
    }

    /// The first line of `path`, trimmed.
    /// - Throws: ``ServerOptionsError`` when the file cannot be read or holds no key (the key itself is never in the message).
    public static func readKey(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ServerOptionsError("cannot read the API key file \(path)")
        }
        let key = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !key.isEmpty else { throw ServerOptionsError("the API key file \(path) is empty") }
        return key
    }

    /// A log level by name.
    /// - Throws: ``ServerOptionsError`` for an unknown name.
    public static func level(_ text: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ServerOptionsError("unknown log level \(text): trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    /// Checks ranges.
    /// - Throws: ``ServerOptionsError`` naming the option.
    public func validate() throws {
        guard (0...65535).contains(port) else { throw ServerOptionsError("--port must be 0...65535, got \(port)") }
        guard maxBatchTokens >= 1 else { throw ServerOptionsError("--max-batch-tokens must be >= 1, got \(maxBatchTokens)") }
        guard maxBatchRequests >= 1 else { throw ServerOptionsError("--max-batch-requests must be >= 1, got \(maxBatchRequests)") }
        guard maxWaitMs >= 0, maxWaitMs <= 10_000 else { throw ServerOptionsError("--max-wait-ms must be 0...10000, got \(maxWaitMs)") }
        guard maxQueue >= 1 else { throw ServerOptionsError("--max-queue must be >= 1, got \(maxQueue)") }
        guard maxBodyBytes >= 64 else { throw ServerOptionsError("--max-body-bytes must be >= 64, got \(maxBodyBytes)") }
        guard maxClientBatchSize >= 1 else { throw ServerOptionsError("--max-client-batch-size must be >= 1, got \(maxClientBatchSize)") }
        guard idleTimeoutS >= 0, idleTimeoutS <= 86_400 else { throw ServerOptionsError("--idle-timeout-s must be 0...86400, got \(idleTimeoutS)") }
        guard readTimeoutS >= 0, readTimeoutS <= 86_400 else { throw ServerOptionsError("--read-timeout-s must be 0...86400, got \(readTimeoutS)") }
        if let maxConnections, maxConnections < 1 { throw ServerOptionsError("--max-connections must be >= 1, got \(maxConnections)") }
        guard drainTimeoutS >= 0 else { throw ServerOptionsError("--drain-timeout-s must be >= 0, got \(drainTimeoutS)") }
        guard drainGraceS >= 0, drainGraceS <= 3600 else { throw ServerOptionsError("--drain-grace-s must be between 0 and 3600, got \(drainGraceS)") }
        guard names.count <= max(models.count, 1) else {
            throw ServerOptionsError("\(names.count) --name for \(models.count) -m: give at most one name per model")
        }
        if let key = apiKey, key.isEmpty { throw ServerOptionsError("the API key is empty") }
    }
}

/// A setting that cannot be used, with a message naming it.
public struct ServerOptionsError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public var description: String
    /// An error with `description`.
    public init(_ description: String) { self.description = description }
}

extension ServerOptionsError: LocalizedError {
    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }
}
