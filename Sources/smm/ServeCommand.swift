// `smm serve`: the inference service (OpenAI and TEI routes, dynamic batching, metrics, drain).
// Parses the options over the SMM_* environment and hands over to SMMServer.
import ArgumentParser
import Foundation
import Logging
import SMMServer
import SmartModelManager

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve embeddings, classification and sentiment over HTTP (OpenAI- and TEI-compatible).",
        discussion: """
            Routes: POST /v1/embeddings, GET /v1/models[/{id}], POST /v1/sentiment, POST /v1/classify, \
            POST /embed, POST /predict, POST /tokenize, GET /info, GET /health, GET /ready, GET /metrics. \
            See Docs/SERVING.md.

            Every option also reads an environment variable (the command line wins):
            \(ServerOptions.environmentVariables.map { "  \($0.name.padding(toLength: max(24, $0.name.count), withPad: " ", startingAt: 0)) \($0.option): \($0.help)" }.joined(separator: "\n"))
            """)

    @Option(help: "Address to bind (default 127.0.0.1; 0.0.0.0 for every interface). Env: SMM_HOST.")
    var host: String?
    @Option(help: "Port (default 8080). Env: SMM_PORT.")
    var port: Int?
    @Option(name: [.short, .customLong("model")],
            help: "A model to serve: an .smm file, a Hugging Face directory or a catalog id (repeatable). Without it the manager picks. Env: SMM_MODELS.")
    var models: [String] = []
    @Option(help: "The name to serve the matching -m under (repeatable; default: the file stem). Env: SMM_MODEL_NAMES.")
    var name: [String] = []
    @Option(help: "A file whose first line is the API key clients must send as 'Authorization: Bearer KEY'. Env: SMM_API_KEY_FILE, SMM_API_KEY.")
    var apiKeyFile: String?
    @Option(help: "Most padded tokens in one forward pass (default 16384). Env: SMM_MAX_BATCH_TOKENS.")
    var maxBatchTokens: Int?
    @Option(help: "Most requests in one forward pass (default 64). Env: SMM_MAX_BATCH_REQUESTS.")
    var maxBatchRequests: Int?
    @Option(help: "Longest wait for other requests before a batch starts, ms (default 2). Env: SMM_MAX_WAIT_MS.")
    var maxWaitMs: Double?
    @Option(help: "Texts queued per model before new requests get 429 (default 512). Env: SMM_MAX_QUEUE.")
    var maxQueue: Int?
    @Option(help: "Largest request body in bytes; larger gets 413 (default 4194304). Env: SMM_MAX_BODY_BYTES.")
    var maxBodyBytes: Int?
    @Option(help: "Most inputs in one request; more gets 413 before any is tokenized (default 512, as --max-queue). Env: SMM_MAX_CLIENT_BATCH_SIZE.")
    var maxClientBatchSize: Int?
    @Option(help: "Close a connection with no request in progress for this many seconds (default 75; 0 never). Env: SMM_IDLE_TIMEOUT_S.")
    var idleTimeoutS: Double?
    @Option(help: "Close a connection whose request, head and body, has not arrived this many seconds after its first byte (default 30; 408 once the head is in; 0 never). Env: SMM_READ_TIMEOUT_S.")
    var readTimeoutS: Double?
    @Option(help: "Most open connections; over it new ones wait in the backlog until one closes (default 4096, or the descriptor limit - 128 when lower). Env: SMM_MAX_CONNECTIONS.")
    var maxConnections: Int?
    @Option(help: "Longest drain after SIGTERM/SIGINT, seconds (default 30). Env: SMM_DRAIN_TIMEOUT_S.")
    var drainTimeoutS: Double?
    @Option(help: "Longest time the listener stays open answering 503 after SIGTERM, seconds (default 5; ends once clients go quiet). Env: SMM_DRAIN_GRACE_S.")
    var drainGraceS: Double?
    @Option(help: "Engine threads (default: the physical cores this process may use). Env: SMM_THREADS.")
    var threads: Int?
    @Option(help: "Folder of models the manager selects from (default: $SMM_MODELS_DIR, else the per-user folder smm fetch fills: ~/.cache/smm/models on Linux).")
    var modelsDir: String?
    @Option(help: "Quantize the weights at load: f16, bf16, int8 or q4.")
    var dtype: ModelDType?
    @Option(help: "trace, debug, info, notice, warning, error (default info; trace logs request texts). Env: SMM_LOG_LEVEL.")
    var logLevel: String?

    func options(environment: [String: String]) throws -> ServerOptions {
        var o = ServerOptions()
        try o.apply(environment: environment)
        if let host { o.host = host }
        if let port { o.port = port }
        if !models.isEmpty { o.models = models }
        if !name.isEmpty { o.names = name }
        if let apiKeyFile { o.apiKey = try ServerOptions.readKey(path: apiKeyFile) }
        if let maxBatchTokens { o.maxBatchTokens = maxBatchTokens }
        if let maxBatchRequests { o.maxBatchRequests = maxBatchRequests }
        if let maxWaitMs { o.maxWaitMs = maxWaitMs }
        if let maxQueue { o.maxQueue = maxQueue }
        if let maxBodyBytes { o.maxBodyBytes = maxBodyBytes }
        if let maxClientBatchSize { o.maxClientBatchSize = maxClientBatchSize }
        if let idleTimeoutS { o.idleTimeoutS = idleTimeoutS }
        if let readTimeoutS { o.readTimeoutS = readTimeoutS }
        if let maxConnections { o.maxConnections = maxConnections }
        if let drainTimeoutS { o.drainTimeoutS = drainTimeoutS }
        if let drainGraceS { o.drainGraceS = drainGraceS }
        if let threads { o.threads = threads }
        if let logLevel { o.logLevel = try ServerOptions.level(logLevel) }
        try o.validate()
        return o
    }

    func run() async throws {
        let options: ServerOptions
        do { options = try self.options(environment: ProcessInfo.processInfo.environment) } catch let e as ServerOptionsError {
            throw CLIError(e.description)
        }
        try applyThreads(options.threads)
        // Many connections need many descriptors: the soft limit (often 1024) goes up to the hard one.
        let descriptors = DescriptorLimit.raiseSoftToHard()
        var configuration = try ManagerConfiguration.fromEnvironment()
        if let modelsDir { configuration.modelsDirectory = URL(fileURLWithPath: modelsDir) }
        let manager = try ModelManager(configuration: configuration)
        var logger = Logger(label: "smm.serve")
        logger.logLevel = options.logLevel
        let server = InferenceServer(options: options, manager: manager, logger: logger)
        logger.notice(Logger.Message(stringLiteral: "smm serve on http://\(options.host):\(options.port) (max batch \(options.maxBatchTokens) tokens / "
                      + "\(options.maxBatchRequests) requests, wait \(options.maxWaitMs) ms, queue \(options.maxQueue)"
                      + ", \(options.effectiveMaxConnections(descriptorLimit: descriptors.soft)) connections (descriptor limit \(descriptors.soft))"
                      + "\(options.apiKey == nil ? "" : ", API key required"))"))
        try await server.run(dtype: dtype)
    }
}
