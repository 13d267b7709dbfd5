// The server's state: the models it serves (opened through the manager, each with its batcher),
// readiness and draining, and the helpers every route shares (body reading and decoding,
// tokenizing with the model's limit, model lookup, JSON answers).
import Foundation
import SMMJSON
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SMMModels
import SMMTokenizers
import SmartModelManager

/// One model the server answers with: an encoder opened through the manager, and its batcher.
public final class ServedModel: Sendable {
    /// The name clients use (`model`), the file stem or `--name`.
    public let name: String
    /// The engine's encoder.
    public let encoder: TextEncoder
    /// Where it was loaded from.
    public let location: URL
    /// Its catalog id, when it came from the catalog.
    public let catalogID: String?
    /// The dtype it runs in.
    public let dtype: ModelDType
    /// True when its weights are random (catalog flag or a `.random-weights` marker): answers say so.
    public let weightsAreRandom: Bool
    /// Why the manager chose it, when it chose.
    public let reasons: [String]
    /// Its batcher.
    public let batcher: DynamicBatcher
    private let prototypeBox = LockedBox<[[[Float]]]?>(nil)

    /// A served model; the batcher starts at once unless `startPaused`.
    public init(name: String, encoder: TextEncoder, location: URL, catalogID: String? = nil, dtype: ModelDType = .f32,
                weightsAreRandom: Bool, reasons: [String] = [], limits: BatcherLimits, observer: (any BatchObserver)?,
                startPaused: Bool = false) {
        self.name = name
        self.encoder = encoder
        self.location = location
        self.catalogID = catalogID
        self.dtype = dtype
        self.weightsAreRandom = weightsAreRandom
        self.reasons = reasons
        batcher = DynamicBatcher(name: name, encoder: encoder, limits: limits, observer: observer, startPaused: startPaused)
    }

    /// True when it has a sequence-classification head.
    public var isClassifier: Bool { encoder.model.hasClassifier }
    /// Its labels in id order (classifiers).
    public var labels: [String] {
        let l = encoder.model.labels
        return l.isEmpty && isClassifier ? [] : l
    }
    /// Longest input in tokens, special tokens included.
    public var maxLength: Int { encoder.maxLength }
    /// Embedding size.
    public var dimensions: Int { encoder.model.hiddenSize }

    /// The zero-shot market-sentiment prototypes (label descriptions embedded once, through the batcher).
    func sentimentPrototypes(_ labels: ZeroShotLabelSet) async throws -> [[[Float]]] {
        if let cached = prototypeBox.value { return cached }
        var groups: [[[Float]]] = []
        for label in labels.labels {
            let inputs = try label.descriptions.map { BatchInput(ids: try encoder.tokenizer.encode($0).ids) }
            groups.append(try await batcher.submit(inputs, kind: .embed(normalize: true)).vectors)
        }
        prototypeBox.value = groups
        return groups
    }
}

/// A value behind a lock.
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    func update<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&stored) } }
}

/// Where the server is in its life.
public enum ServerPhase: String, Sendable {
    /// Models are loading: /ready is 503.
    case loading
    /// Serving: /ready is 200.
    case ready
    /// SIGTERM/SIGINT came: /ready is 503, accepted requests are being answered.
    case draining
}

/// The inference server: models, state and the shared route helpers. Build the HTTP application
/// with ``application(configuration:)`` and run it with ``run()``.
public final class InferenceServer: Sendable {
    /// The settings.
    public let options: ServerOptions
    /// The manager every model is opened through.
    public let manager: ModelManager
    /// Metrics.
    public let metrics: ServerMetrics
    /// The request logger (`smm.serve`).
    public let logger: Logger
    /// The engine's version string for `/info`.
    public static let version = "0.13.0"

    private let modelsBox = LockedBox<[ServedModel]>([])
    private let phaseBox = LockedBox<ServerPhase>(.loading)
    private let inFlightBox = LockedBox<Int>(0)
    private let lastDrainArrival = LockedBox<ContinuousClock.Instant?>(nil)

    /// A server; no model is loaded yet (``loadModels()`` or ``register(_:)``).
    public init(options: ServerOptions, manager: ModelManager, logger: Logger? = nil) {
        self.options = options
        self.manager = manager
        self.metrics = ServerMetrics()
        var l = logger ?? Logger(label: "smm.serve")
        if logger == nil { l.logLevel = options.logLevel }
        self.logger = l
        metrics.ready(false)
    }

    // MARK: - State

    /// The phase.
    public var phase: ServerPhase { phaseBox.value }
    /// The served models, in `-m` order.
    public var models: [ServedModel] { modelsBox.value }
    /// Requests being answered now.
    public var inFlight: Int { inFlightBox.value }

    /// Adds a model (tests, and ``loadModels()``).
    public func register(_ model: ServedModel) {
        modelsBox.update { $0.append(model) }
    }

    /// Marks the server ready (after its models are in).
    public func markReady() {
        phaseBox.update { if $0 == .loading { $0 = .ready } }
        metrics.ready(phase == .ready)
    }

    /// Starts draining: /ready answers 503 from now on.
    public func beginDrain() {
        phaseBox.value = .draining
        metrics.ready(false)
    }

    /// The smallest queue depth when every served model's queue is full (`--max-queue`), else nil.
    func saturatedQueue() -> Int? {
        let depths = models.map(\.batcher.queuedTexts)
        guard let least = depths.min(), least >= options.maxQueue else { return nil }
        return least
    }

    /// A request came in while draining (it was answered 503).
    func noteDrainArrival() { lastDrainArrival.value = .now }

    /// The drain's grace: holds the listener open (new requests get 503 with `Connection: close`)
    /// until no request is in flight and none has arrived for `quiet`, or `options.drainGraceS` passed.
    func drainGrace(quiet: Duration = .milliseconds(250)) async {
        let start = ContinuousClock.now
        let limit = Duration.milliseconds(Int64(max(0, options.drainGraceS) * 1000))
        while ContinuousClock.now - start < limit {
            let last = lastDrainArrival.value ?? start
            // The in-flight count includes requests being answered 503 right now.
            if inFlight == 0, ContinuousClock.now - last >= quiet, ContinuousClock.now - start >= quiet { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    func requestStarted() { inFlightBox.update { $0 += 1 } }
    func requestFinished() { inFlightBox.update { $0 -= 1 } }

    /// The limits each batcher gets.
    public var batcherLimits: BatcherLimits {
        BatcherLimits(maxBatchTokens: options.maxBatchTokens, maxBatchRequests: options.maxBatchRequests,
                      maxWait: options.maxWaitMs / 1000, maxQueue: options.maxQueue)
    }

    /// Opens every `-m` model through the manager (or, with none, the manager's choice for embeddings,
    /// and its sentiment classifier when that is a different, real classifier), then marks the server ready.
    /// - Throws: the manager's errors; `ServerOptionsError` for a GPT-2 model or a duplicate name.
    public func loadModels(dtype: ModelDType? = nil) async throws {
        var specs: [(ModelReference?, String?, ModelTask)] = []
        if options.models.isEmpty {
            specs.append((nil, options.names.first, .embedding))
        } else {
            for (i, m) in options.models.enumerated() {
                specs.append((ModelReference(m), i < options.names.count ? options.names[i] : nil, .embedding))
            }
        }
        for (reference, name, task) in specs {
            try await open(reference, name: name, task: task, dtype: dtype)
        }
        if options.models.isEmpty, let selection = try? await manager.selectOptimalModel(task: .sentiment),
           let chosen = selection.chosen, chosen.method == .classifier,
           !models.contains(where: { $0.catalogID == chosen.key.id }) {
            do {
                try await open(.catalog(chosen.key.id), name: nil, task: .sentiment, dtype: dtype, reasons: chosen.reasons)
            } catch {
                logger.warning("sentiment classifier \(chosen.key.id) not served: \(error)")
            }
        }
        markReady()
    }

    private func open(_ reference: ModelReference?, name: String?, task: ModelTask, dtype: ModelDType?,
                      reasons: [String] = []) async throws {
        let opened = try await manager.open(reference, task: task, dtype: dtype)
        guard case .encoder(let encoder) = opened.model else {
            throw ServerOptionsError("\(reference?.description ?? "the selected model") is a GPT-2 model; smm serve serves BERT and DistilBERT models")
        }
        let served = name ?? opened.catalogID ?? Self.stem(opened.location)
        guard !models.contains(where: { $0.name == served }) else {
            throw ServerOptionsError("two models would be served as '\(served)': give each a --name")
        }
        var random = FileManager.default.fileExists(atPath: opened.location.appendingPathComponent(".random-weights").path)
        if let id = opened.catalogID, let info = try? await manager.modelInfo(id) {
            random = random || info.availability.weightsAreRandom
        }
        let why = reasons.isEmpty ? (opened.selection?.chosen?.reasons ?? []) : reasons
        register(ServedModel(name: served, encoder: encoder, location: opened.location, catalogID: opened.catalogID,
                             dtype: dtype ?? encoder.model.computeDType, weightsAreRandom: random, reasons: why,
                             limits: batcherLimits,
                             observer: metrics))
        logger.info(Logger.Message(stringLiteral: "serving \(served) from \(opened.location.path) (\(encoder.model.architecture.rawValue), "
                    + "\(encoder.model.hasClassifier ? "classifier, \(encoder.model.labels.count) labels" : "embedder"), "
                    + "max \(encoder.maxLength) tokens\(random ? ", RANDOM WEIGHTS" : ""))"))
    }

    static func stem(_ url: URL) -> String {
        let last = url.lastPathComponent
        return last.hasSuffix(".smm") ? String(last.dropLast(4)) : last
    }

    // MARK: - Route helpers

    /// The model named `name` (nil: the first served model, or the first classifier when `classifier`).
    /// - Throws: 400 for an empty name, 404 for an unknown one, 503 while loading, 400 for a model without
    ///   a classification head when `classifier`.
    func model(named name: String?, classifier: Bool = false) throws -> ServedModel {
        let all = models
        if let name {
            guard !name.isEmpty else { throw ServerError.invalidField("model", "model must not be empty", code: "empty_model") }
            guard let m = all.first(where: { $0.name == name || $0.catalogID == name }) else {
                if all.isEmpty { throw ServerError.unavailable("models are loading") }
                throw ServerError.modelNotFound(name, served: all.map(\.name))
            }
            if classifier && !m.isClassifier {
                throw ServerError.invalidField("model", "model '\(m.name)' has no classification head; it embeds, it does not classify",
                                               code: "not_a_classifier")
            }
            return m
        }
        if classifier {
            if let m = all.first(where: \.isClassifier) { return m }
            if all.isEmpty { throw ServerError.unavailable("models are loading") }
            throw ServerError.invalidField("model", "no classification model is served (served: \(all.map(\.name).joined(separator: ", ")))",
                                           code: "no_classifier")
        }
        guard let first = all.first(where: { !$0.isClassifier }) ?? all.first else { throw ServerError.unavailable("models are loading") }
        return first
    }

    /// The first served model with a sentiment head (labels that read as positive/negative), if any.
    func sentimentClassifier() -> ServedModel? {
        models.first { m in
            m.isClassifier && Set(m.labels.map(ModelManager.sentimentLabel)).isSuperset(of: ["positive", "negative"])
        }
    }

    /// Reads the body (413 over `--max-body-bytes`), checks UTF-8 and nesting depth (400), and decodes `T`
    /// (a DecodingError becomes a 400 naming the field).
    func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let limit = options.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw ServerError.bodyTooLarge(limit: limit)
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ServerError.bodyTooLarge(limit: limit)
        } catch is NIOTooManyBytesError {
            // A chunked body (no Content-Length) cut off at the limit.
            throw ServerError.bodyTooLarge(limit: limit)
        }
        let bytes = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
        // Too many inputs: 413 before any parsing (one pass over the bytes), so that a flood of
        // requests with thousands of inputs each costs the server as little CPU as possible.
        if let (key, count) = InputCounter.count(bytes), count > options.maxClientBatchSize {
            throw ServerError.tooManyInputs(key, count: count, limit: options.maxClientBatchSize)
        }
        // UTF-8, the strict reader, then Codable (RequestDecoding.swift, which the fuzzer compiles).
        do {
            return try decodeRequestBody(T.self, from: bytes)
        } catch let error as RequestBodyError {
            throw ServerError.invalidJSON(error.message)
        } catch let error as DecodingError {
            throw ServerError.fromDecoding(error)
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.invalidJSON("the body is not valid JSON: \(error)")
        }
    }

    /// Tokenizes `texts` for `model`: over its limit, cut when `truncate`, else `ServerError.tooLong`
    /// naming `field[i]`. Returns the inputs and which were cut.
    func tokenize(_ texts: [String], for model: ServedModel, truncate: Bool, field: String, single: Bool)
        throws -> (inputs: [BatchInput], truncated: [Bool]) {
        guard !texts.isEmpty else { throw ServerError.empty(field, "\(field) must not be an empty list") }
        try checkInputCount(texts.count, field: field)
        let tokenizer = model.encoder.tokenizer
        var inputs: [BatchInput] = []
        var cut: [Bool] = []
        inputs.reserveCapacity(texts.count)
        for (i, text) in texts.enumerated() {
            let full = try tokenizer.encode(text, pair: nil, maxLength: Int.max, addSpecialTokens: true)
            if full.ids.count > model.maxLength {
                guard truncate else {
                    throw ServerError.tooLong(single ? field : "\(field)[\(i)]", tokens: full.ids.count, limit: model.maxLength)
                }
                let short = try tokenizer.encode(text)
                inputs.append(BatchInput(ids: short.ids, typeIDs: short.typeIDs))
                cut.append(true)
            } else {
                inputs.append(BatchInput(ids: full.ids, typeIDs: full.typeIDs))
                cut.append(false)
            }
        }
        return (inputs, cut)
    }

    /// 413 when one request has more inputs than `--max-client-batch-size` (before any is tokenized).
    func checkInputCount(_ count: Int, field: String) throws {
        if count > options.maxClientBatchSize {
            throw ServerError.tooManyInputs(field, count: count, limit: options.maxClientBatchSize)
        }
    }

    /// A JSON answer.
    func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, model: ServedModel? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let model {
            headers[HTTPField.Name("x-smm-model")!] = model.name
            if model.weightsAreRandom { headers[HTTPField.Name("x-smm-weights-random")!] = "true" }
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized())))
    }
}
