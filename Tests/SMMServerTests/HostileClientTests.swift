// Hostile clients, live on a real listener with short timeouts: a request head dribbled and never
// finished is closed after --read-timeout-s; a body that stops coming gets 408 and a close; an idle
// connection is closed after --idle-timeout-s; bytes that are not HTTP get 400 and a close; a
// Content-Length over --max-body-bytes gets 413 before the body is read, and the connection closes;
// more inputs than --max-client-batch-size get 413 (router); the connection limit holds new
// connections back until one closes.
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceLifecycle
import XCTest
@testable import SMMServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking TCP connection to 127.0.0.1 with plain sockets (the test client would finish every request).
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ServerOptionsError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else {
            close(fd)
            throw ServerOptionsError("connect() failed: \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc_send(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Reads until the server closes (returns what came and when) or `timeout` passes (nil time).
    func readUntilClosed(timeout: Double) -> (bytes: [UInt8], closedAfter: Double?) {
        let start = Date()
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = timeout - Date().timeIntervalSince(start)
            if left <= 0 { return (out, nil) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(left * 1000))
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return (out, Date().timeIntervalSince(start)) }
            out += buffer[0..<n]
        }
    }
}

private func Glibc_send(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.send(fd, p, n, Int32(MSG_NOSIGNAL))
    #else
    return Darwin.send(fd, p, n, 0)
    #endif
}

final class HostileClientTests: XCTestCase {
    func start(_ server: InferenceServer) async throws -> (Task<Void, any Error>, ServiceGroup) {
        try await startServer(server)
    }

    func serve(_ configure: (inout ServerOptions) -> Void, _ body: (Int, InferenceServer) async throws -> Void) async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.port = freeLoopbackPort()
        options.drainGraceS = 0
        configure(&options)
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)])
        let (task, group) = try await start(server)
        do { try await body(options.port, server) } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await task.value
    }

    func status(_ bytes: [UInt8]) -> Int? {
        let text = String(decoding: bytes.prefix(12), as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    func testAHeadThatNeverEndsIsClosedAfterTheReadTimeout() async throws {
        try await serve({ $0.readTimeoutS = 1; $0.idleTimeoutS = 30 }) { port, server in
            let c = try RawConnection(port: port)
            c.send("POST /embed HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            let (bytes, closed) = c.readUntilClosed(timeout: 10)
            let after = try XCTUnwrap(closed, "the server closes the connection")
            XCTAssertGreaterThan(after, 0.8)
            XCTAssertLessThan(after, 3.0, "closed about --read-timeout-s after the first byte")
            XCTAssertTrue(bytes.isEmpty, "no answer to a head that never came")
            XCTAssertTrue(server.metrics.render().contains(#"smm_read_timeouts_total{part="head"} 1"#), server.metrics.render())
            // A well-behaved request on a new connection still works.
            let ok = try await livePost(port, "/embed", #"{"inputs":"still serving"}"#)
            XCTAssertEqual(ok.0, 200)
        }
    }

    func testABodyThatStopsComingGets408AndAClose() async throws {
        try await serve({ $0.readTimeoutS = 1; $0.idleTimeoutS = 30 }) { port, _ in
            let c = try RawConnection(port: port)
            c.send("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"inputs\":")
            let (bytes, closed) = c.readUntilClosed(timeout: 10)
            XCTAssertEqual(status(bytes), 408, String(decoding: bytes, as: UTF8.self))
            XCTAssertTrue(String(decoding: bytes, as: UTF8.self).lowercased().contains("connection: close"))
            let after = try XCTUnwrap(closed)
            XCTAssertLessThan(after, 4.0)
        }
    }

    func testAnIdleConnectionIsClosedAfterTheIdleTimeoutAndAKeptAliveOneServes() async throws {
        try await serve({ $0.idleTimeoutS = 1; $0.readTimeoutS = 30 }) { port, _ in
            let idle = try RawConnection(port: port)
            let (_, closed) = idle.readUntilClosed(timeout: 10)
            let after = try XCTUnwrap(closed)
            XCTAssertGreaterThan(after, 0.8)
            XCTAssertLessThan(after, 3.0)
            // A request, then idle: closed about a second after the answer, not before it.
            let c = try RawConnection(port: port)
            c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            let (bytes, closedAfterAnswer) = c.readUntilClosed(timeout: 10)
            XCTAssertEqual(status(bytes), 200)
            XCTAssertNotNil(closedAfterAnswer)
        }
    }

    func testGarbageGets400AndAClose() async throws {
        try await serve({ $0.readTimeoutS = 5 }) { port, _ in
            for garbage in ["\u{16}\u{03}\u{01}\u{00}\u{a5}\u{01}\u{00}\u{00}\u{a1}\u{03}\u{03}binary\r\n\r\n",
                            "GET / HTTP/9.9 what\r\n\r\n", "NOT HTTP AT ALL\r\n\r\n"] {
                let c = try RawConnection(port: port)
                c.send(garbage)
                let (bytes, closed) = c.readUntilClosed(timeout: 8)
                XCTAssertEqual(status(bytes), 400, "\(garbage.debugDescription): \(String(decoding: bytes, as: UTF8.self))")
                XCTAssertNotNil(closed, "closed after the 400")
                XCTAssertLessThan(closed ?? 99, 4)
            }
            let ok = try await livePost(port, "/embed", #"{"inputs":"still serving"}"#)
            XCTAssertEqual(ok.0, 200)
        }
    }

    func testA1GBContentLengthGets413BeforeTheBodyAndTheConnectionCloses() async throws {
        try await serve({ $0.maxBodyBytes = 4096 }) { port, _ in
            let c = try RawConnection(port: port)
            c.send("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
            c.send([UInt8](repeating: UInt8(ascii: "a"), count: 65536))
            let (bytes, closed) = c.readUntilClosed(timeout: 8)
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertEqual(status(bytes), 413, text)
            XCTAssertTrue(text.lowercased().contains("connection: close"), text)
            XCTAssertTrue(text.contains("body_too_large") || text.contains("--max-body-bytes"), text)
            XCTAssertNotNil(closed, "the connection closes instead of reading a gigabyte")
            // Also on a route that reads no body, and without the API key.
            let health = try RawConnection(port: port)
            health.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n")
            let (h, hClosed) = health.readUntilClosed(timeout: 8)
            XCTAssertEqual(status(h), 413, String(decoding: h, as: UTF8.self))
            XCTAssertNotNil(hClosed)
        }
    }

    func testTheConnectionLimitHoldsNewConnectionsUntilOneCloses() async throws {
        try await serve({ $0.maxConnections = 2 }) { port, _ in
            var first: RawConnection? = try RawConnection(port: port)
            let second = try RawConnection(port: port)
            try await Task.sleep(for: .milliseconds(200))
            // The third connects (the kernel's backlog) but is not served while two are open.
            let third = try RawConnection(port: port)
            third.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let (held, _) = third.readUntilClosed(timeout: 1)
            XCTAssertTrue(held.isEmpty, "not served over the limit: \(String(decoding: held, as: UTF8.self))")
            first = nil  // one closes: the third is accepted and answered
            _ = first
            let (bytes, _) = third.readUntilClosed(timeout: 5)
            XCTAssertEqual(status(bytes), 200, String(decoding: bytes, as: UTF8.self))
            withExtendedLifetime(second) {}
        }
    }

    func testTheInputCounterCountsTheTopLevelListWithoutParsing() {
        func count(_ json: String) -> Int? { InputCounter.count(Array(json.utf8))?.count }
        XCTAssertEqual(count(#"{"inputs":["a","b,c","d\"]"]}"#), 3, "commas and brackets inside strings do not count")
        XCTAssertEqual(count(#" { "model" : "m", "truncate": true, "x": {"inputs": [1,2]}, "inputs" : [ "a" , "b" ] } "#), 2)
        XCTAssertEqual(count(#"{"input":[[101,102],[101,7,102],[]]}"#), 3, "lists of token ids")
        XCTAssertEqual(count(#"{"input":[]}"#), 0)
        XCTAssertNil(count(#"{"input":[101,102,103]}"#), "one input as token ids is not a list of inputs")
        XCTAssertNil(count(#"{"inputs":"one text"}"#))
        XCTAssertNil(count(#"{"other":["a","b"]}"#))
        XCTAssertNil(count(#"["a","b"]"#))
        XCTAssertNil(count(#"{"inputs":["a","b""#), "unterminated")
        let many = "{\"inputs\":[" + (0..<1000).map { "\"w\($0)\"" }.joined(separator: ",") + "]}"
        XCTAssertEqual(count(many), 1000)
    }

    func testMoreInputsThanTheClientBatchSizeGet413() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        var options = ServerOptions()
        options.maxClientBatchSize = 4
        options.maxQueue = 8
        let server = try makeServer(options, models: [("tiny-bert", tiny, true)])
        try await server.application().test(.router) { client in
            let five = #"["a","b","c","d","e"]"#
            let tei = try await client.post("/embed", #"{"inputs":\#(five)}"#)
            XCTAssertEqual(tei.status, .contentTooLarge, tei.text)
            XCTAssertEqual(tei.teiType, "Validation")
            XCTAssertTrue(tei.text.contains("--max-client-batch-size"), tei.text)
            let openAI = try await client.post("/v1/embeddings", #"{"input":\#(five)}"#)
            XCTAssertEqual(openAI.status, .contentTooLarge, openAI.text)
            XCTAssertEqual(openAI.openAIParam, "input")
            let ids = try await client.post("/v1/embeddings", #"{"input":[[101,102],[101,102],[101,102],[101,102],[101,102]]}"#)
            XCTAssertEqual(ids.status, .contentTooLarge, ids.text)
            let tok = try await client.post("/tokenize", #"{"inputs":\#(five)}"#)
            XCTAssertEqual(tok.status, .contentTooLarge, tok.text)
            let four = try await client.post("/embed", #"{"inputs":["a","b","c","d"]}"#)
            XCTAssertEqual(four.status, .ok, four.text)
        }
        // More than the queue could ever hold is 413 too (never 429: waiting would not help).
        options.maxClientBatchSize = 100
        let small = try makeServer(options, models: [("tiny-bert", tiny, true)])
        try await small.application().test(.router) { client in
            let nine = try await client.post("/embed", #"{"inputs":["a","b","c","d","e","f","g","h","i"]}"#)
            XCTAssertEqual(nine.status, .contentTooLarge, nine.text)
            XCTAssertTrue(nine.text.contains("--max-queue"), nine.text)
        }
    }
}
