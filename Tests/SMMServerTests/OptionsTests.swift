// Options: defaults, every SMM_* variable, errors naming the variable or option.
import Foundation
import XCTest
@testable import SMMServer

final class OptionsTests: XCTestCase {
    func testEnvironmentVariablesSetEveryOption() throws {
        var o = ServerOptions()
        XCTAssertEqual(o.host, "127.0.0.1")
        XCTAssertEqual(o.port, 8080)
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("smm-key-\(UUID().uuidString)")
        try "from-file\n".write(to: keyFile, atomically: true, encoding: .utf8)
        try o.apply(environment: [
            "SMM_HOST": "0.0.0.0", "SMM_PORT": "9000", "SMM_MODELS": "a.smm, b", "SMM_MODEL_NAMES": "x,y",
            "SMM_API_KEY_FILE": keyFile.path, "SMM_MAX_BATCH_TOKENS": "4096", "SMM_MAX_BATCH_REQUESTS": "8",
            "SMM_MAX_WAIT_MS": "0.5", "SMM_MAX_QUEUE": "32", "SMM_MAX_BODY_BYTES": "1024", "SMM_DRAIN_TIMEOUT_S": "3",
            "SMM_THREADS": "2", "SMM_LOG_LEVEL": "debug", "SMM_IDLE_TIMEOUT_S": "12.5", "SMM_READ_TIMEOUT_S": "7",
            "SMM_MAX_CONNECTIONS": "300", "SMM_MAX_CLIENT_BATCH_SIZE": "32",
        ])
        XCTAssertEqual(o.idleTimeoutS, 12.5)
        XCTAssertEqual(o.readTimeoutS, 7)
        XCTAssertEqual(o.maxConnections, 300)
        XCTAssertEqual(o.maxClientBatchSize, 32)
        XCTAssertEqual(o.effectiveMaxConnections(descriptorLimit: 100), 300, "an explicit limit is kept")
        XCTAssertEqual(o.host, "0.0.0.0")
        XCTAssertEqual(o.port, 9000)
        XCTAssertEqual(o.models, ["a.smm", "b"])
        XCTAssertEqual(o.names, ["x", "y"])
        XCTAssertEqual(o.apiKey, "from-file")
        XCTAssertEqual(o.maxBatchTokens, 4096)
        XCTAssertEqual(o.maxBatchRequests, 8)
        XCTAssertEqual(o.maxWaitMs, 0.5)
        XCTAssertEqual(o.maxQueue, 32)
        XCTAssertEqual(o.maxBodyBytes, 1024)
        XCTAssertEqual(o.drainTimeoutS, 3)
        XCTAssertEqual(o.threads, 2)
        XCTAssertEqual(o.logLevel, .debug)
        try o.validate()
        try o.apply(environment: ["SMM_API_KEY": "direct"])
        XCTAssertEqual(o.apiKey, "direct")
        XCTAssertEqual(Set(ServerOptions.environmentVariables.map(\.name)).count, ServerOptions.environmentVariables.count)
    }

    func testBadValuesNameTheVariableOrOption() {
        var o = ServerOptions()
        XCTAssertThrowsError(try o.apply(environment: ["SMM_PORT": "eighty"])) { XCTAssertTrue("\($0)".contains("SMM_PORT")) }
        XCTAssertThrowsError(try o.apply(environment: ["SMM_LOG_LEVEL": "loud"])) { XCTAssertTrue("\($0)".contains("loud")) }
        o.maxQueue = 0
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--max-queue")) }
        XCTAssertThrowsError(try ServerOptions.readKey(path: "/nonexistent/key"))
        for (name, value) in [("SMM_IDLE_TIMEOUT_S", "soon"), ("SMM_READ_TIMEOUT_S", "inf"), ("SMM_MAX_CONNECTIONS", "many"),
                              ("SMM_MAX_CLIENT_BATCH_SIZE", "1.5")] {
            var p = ServerOptions()
            XCTAssertThrowsError(try p.apply(environment: [name: value])) { XCTAssertTrue("\($0)".contains(name)) }
        }
        for (option, change) in [("--idle-timeout-s", { (p: inout ServerOptions) in p.idleTimeoutS = -1 }),
                                 ("--read-timeout-s", { (p: inout ServerOptions) in p.readTimeoutS = -0.5 }),
                                 ("--max-connections", { (p: inout ServerOptions) in p.maxConnections = 0 }),
                                 ("--max-client-batch-size", { (p: inout ServerOptions) in p.maxClientBatchSize = 0 })] {
            var p = ServerOptions()
            change(&p)
            XCTAssertThrowsError(try p.validate()) { XCTAssertTrue("\($0)".contains(option)) }
        }
    }

    func testConnectionLimitDefaultFollowsTheDescriptorLimit() {
        let o = ServerOptions()
        XCTAssertEqual(o.idleTimeoutS, 75)
        XCTAssertEqual(o.readTimeoutS, 30)
        XCTAssertEqual(o.maxClientBatchSize, 512)
        XCTAssertNil(o.maxConnections)
        XCTAssertEqual(o.effectiveMaxConnections(descriptorLimit: 1_048_576), 4096)
        XCTAssertEqual(o.effectiveMaxConnections(descriptorLimit: 1024), 1024 - 128, "room kept for the other descriptors")
        XCTAssertEqual(o.effectiveMaxConnections(descriptorLimit: 50), 1)
        let raised = DescriptorLimit.raiseSoftToHard()
        XCTAssertEqual(raised.soft, min(raised.hard, raised.soft), "soft is at most hard")
        XCTAssertGreaterThanOrEqual(raised.soft, 64)
    }
}
