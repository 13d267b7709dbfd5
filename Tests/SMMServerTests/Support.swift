// Shared set-up for the server tests: fixture and real models, servers built around them, and
// small request helpers over HummingbirdTesting.
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SMMJSON
import HummingbirdTesting
import Hummingbird
import Logging
import ServiceLifecycle
import SMMModels
import XCTest
@testable import SMMServer
@testable import SmartModelManager

/// The repository root (for Weights/ and Tests/Fixtures/).
let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url
}()

enum Models {
    static let minilmDirectory = repositoryRoot.appendingPathComponent("Weights/models/all-MiniLM-L6-v2")
    static let tinyBert = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-bert")
    static let tinyDistilBert = repositoryRoot.appendingPathComponent("Tests/Fixtures/models/tiny-distilbert")

    static func encoder(_ url: URL) throws -> TextEncoder {
        guard case .encoder(let e) = try EngineBackend.loadEngineModel(at: url) else {
            throw ServerOptionsError("\(url.path) is not an encoder")
        }
        return e
    }

    static let minilmBox = LockedBox<TextEncoder?>(nil)
    /// The real all-MiniLM-L6-v2, loaded once; skips (or fails with SMM_REQUIRE_REAL_MODELS=1) when absent.
    static func minilm() throws -> TextEncoder {
        let weights = minilmDirectory.appendingPathComponent("model.safetensors").path
        guard FileManager.default.fileExists(atPath: weights) else {
            if ProcessInfo.processInfo.environment["SMM_REQUIRE_REAL_MODELS"] == "1" {
                XCTFail("SMM_REQUIRE_REAL_MODELS=1 but \(weights) is missing; run bash Tools/fetch_minilm.sh")
            }
            throw XCTSkip("the real all-MiniLM-L6-v2 is not at \(weights) (bash Tools/fetch_minilm.sh)")
        }
        if let e = minilmBox.value { return e }
        let e = try encoder(minilmDirectory)
        minilmBox.value = e
        return e
    }
}

func makeManager() throws -> ModelManager {
    var c = ManagerConfiguration()
    c.modelsDirectory = repositoryRoot.appendingPathComponent("Weights/models")
    c.cacheDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("smm-serve-\(UUID().uuidString)")
    c.logLevel = .error
    return try ModelManager(configuration: c)
}

func quietLogger() -> Logger {
    var l = Logger(label: "smm.serve.test")
    l.logLevel = ProcessInfo.processInfo.environment["SMM_TEST_LOG"] == "1" ? .info : .critical
    return l
}

/// A server with the given models registered and ready (no listener: use `app.test(.router)` or `.live`).
func makeServer(_ options: ServerOptions = ServerOptions(), models: [(String, TextEncoder, Bool)],
                paused: Set<String> = []) throws -> InferenceServer {
    let server = InferenceServer(options: options, manager: try makeManager(), logger: quietLogger())
    for (name, encoder, random) in models {
        server.register(ServedModel(name: name, encoder: encoder, location: URL(fileURLWithPath: "/fixtures/\(name)"),
                                    weightsAreRandom: random, limits: server.batcherLimits, observer: server.metrics,
                                    startPaused: paused.contains(name)))
    }
    server.markReady()
    return server
}

extension TestClientProtocol {
    /// POSTs a JSON text.
    func post(_ uri: String, _ json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var h = headers
        h[.contentType] = "application/json"
        return try await execute(uri: uri, method: .post, headers: h, body: ByteBuffer(string: json))
    }
    /// POSTs raw bytes.
    func post(_ uri: String, bytes: [UInt8]) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: bytes))
    }
    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }
}

extension TestResponse {
    /// The body as JSON.
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed]) }
    var text: String { String(buffer: body) }
    /// `error.param` of an OpenAI-shaped error.
    var openAIParam: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["param"] as? String }
    /// `error_type` of a TEI-shaped error.
    var teiType: String? { (json as? [String: Any])?["error_type"] as? String }
}

func floats(_ any: Any?) -> [Float] { ((any as? [Any]) ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }

func cosine(_ a: [Float], _ b: [Float]) -> Float {
    var dot: Float = 0, na: Float = 0, nb: Float = 0
    for i in 0..<min(a.count, b.count) {
        dot += a[i] * b[i]
        na += a[i] * a[i]
        nb += b[i] * b[i]
    }
    return dot / max(1e-12, (na * nb).squareRoot())
}

/// JSON string literal of `s`.
func quoted(_ s: String) -> String { JSONValue.quoted(s) }

/// Asserts a response's status (outside an autoclosure, so the request can be awaited).
func expectStatus(_ r: TestResponse, _ status: HTTPResponse.Status, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, status, r.text, file: file, line: line)
}

extension TestResponse {
    /// A header by name.
    func header(_ name: String) -> String? { headers.first { $0.name.rawName == name }?.value }
}

/// POSTs on a connection of its own (the live test client has one connection, which serializes
/// requests); returns the status and the body.
func livePost(_ port: Int?, _ uri: String, _ json: String) async throws -> (Int, Data) {
    let p = try XCTUnwrap(port)
    return try await TestClient.withClient(host: "127.0.0.1", port: p) { client in
        let r = try await client.post(uri, headers: [.contentType: "application/json"], body: ByteBuffer(string: json))
        return (Int(r.status.code), Data(r.body.map { Array($0.readableBytesView) } ?? []))
    }
}

func jsonObject(_ data: Data) -> Any? { try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) }

/// Starts `server.run` in a task (no model loading, no signals); returns it and the service group
/// once /health answers.
/// A loopback port no socket holds now: the kernel's choice for a socket bound to port 0, then
/// released. (A random pick could land on a port in use, such as a client's ephemeral port, and the
/// server under test would then never start.)
func freeLoopbackPort() -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return Int.random(in: 20_000..<30_000) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    guard bound == 0, withUnsafeMutablePointer(to: &address, {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }) == 0 else { return Int.random(in: 20_000..<30_000) }
    return Int(UInt16(bigEndian: address.sin_port))
    #else
    return Int.random(in: 20_000..<30_000)
    #endif
}

func startServer(_ server: InferenceServer) async throws -> (Task<Void, any Error>, ServiceGroup) {
    let box = LockedBox<ServiceGroup?>(nil)
    let task = Task { try await server.run(load: false, signals: [], onGroup: { box.value = $0 }) }
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
        if box.value != nil, let r = try? await TestClient.withClient(host: "127.0.0.1", port: server.options.port, operation: {
            try await $0.get("/health")
        }), r.status == .ok { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    let group = try XCTUnwrap(box.value, "the server did not start within 20 s")
    if (try? await TestClient.withClient(host: "127.0.0.1", port: server.options.port, operation: { try await $0.get("/health") }))?.status != .ok {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        throw ServerOptionsError("the server under test never answered /health on port \(server.options.port)")
    }
    return (task, group)
}
