// Graceful drain, live on a real listener: the drain turns /ready to 503 at once, every accepted
// request is answered, and run() returns; with a drain timeout, what is left is cut and run()
// still returns.
import Foundation
import HummingbirdTesting
import Hummingbird
import ServiceLifecycle
import XCTest
@testable import SMMServer

final class DrainTests: XCTestCase {
    static func freePort() -> Int { freeLoopbackPort() }

    func start(_ server: InferenceServer) async throws -> (Task<Void, any Error>, ServiceGroup) {
        try await startServer(server)
    }

    func testDrainAnswersEveryAcceptedRequestAndReturns() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.port = Self.freePort()
        options.drainTimeoutS = 20
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)], paused: ["tiny-bert"])
        let model = try XCTUnwrap(server.models.first)
        let (task, group) = try await start(server)
        let port = options.port
        let answers = try await withThrowingTaskGroup(of: Int.self) { requests in
            for i in 0..<6 {
                requests.addTask {
                    try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                        Int(try await client.post("/embed", headers: [.contentType: "application/json"],
                                                  body: ByteBuffer(string: #"{"inputs": "text \#(i)"}"#)).status.code)
                    }
                }
            }
            while model.batcher.queuedTexts < 6 { try await Task.sleep(for: .milliseconds(5)) }
            await group.triggerGracefulShutdown()
            let deadline = Date().addingTimeInterval(10)
            while server.phase != .draining && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
            XCTAssertEqual(server.phase, .draining, "/ready turns 503 at once")
            // During the grace the listener is open: a new request is told to go elsewhere (503,
            // Connection: close) rather than reset; liveness still answers 200.
            let late = try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                try await client.post("/embed", headers: [.contentType: "application/json"],
                                      body: ByteBuffer(string: #"{"inputs": "late"}"#))
            }
            XCTAssertEqual(late.status, .serviceUnavailable)
            XCTAssertEqual(late.headers[.connection], "close")
            XCTAssertEqual(late.headers[.retryAfter], "1")
            let live = try await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.get("/health") }
            XCTAssertEqual(live.status, .ok)
            model.batcher.resume()
            var out: [Int] = []
            for try await s in requests { out.append(s) }
            return out
        }
        XCTAssertEqual(answers, [Int](repeating: 200, count: 6), "every accepted request is answered")
        try await task.value
        XCTAssertEqual(server.inFlight, 0)
        // The listener is gone.
        let after = try? await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.get("/health") }
        XCTAssertNil(after)
    }

    func testDrainTimeoutCutsWhatIsLeftAndStillReturns() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.port = Self.freePort()
        options.drainTimeoutS = 0.5
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)], paused: ["tiny-bert"])
        let model = try XCTUnwrap(server.models.first)
        let (task, group) = try await start(server)
        let port = options.port
        let stuck = Task {
            try? await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                try await client.post("/embed", headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"inputs": "x"}"#))
            }
        }
        while model.batcher.queuedTexts < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let begun = Date()
        await group.triggerGracefulShutdown()
        try await task.value
        XCTAssertLessThan(Date().timeIntervalSince(begun), 5, "the drain ends after --drain-timeout-s")
        model.batcher.resume()
        _ = await stuck.value
    }
}
