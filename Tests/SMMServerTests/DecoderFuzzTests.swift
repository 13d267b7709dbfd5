// Property test of the request decoding: random and truncated JSON, wrong types, huge numbers,
// deep nesting, long strings, random bytes, on every POST route: always an answer below 500 (a 4xx
// for everything malformed), never a crash, and the server still answers afterwards.
import Foundation
import HummingbirdTesting
import Hummingbird
import XCTest
@testable import SMMServer

final class DecoderFuzzTests: XCTestCase {
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        mutating func int(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    }

    static let routes = ["/v1/embeddings", "/embed", "/predict", "/tokenize", "/v1/sentiment", "/v1/classify"]
    static let valid = [
        #"{"input": ["a b", "c"], "model": "tiny-bert", "encoding_format": "float"}"#,
        #"{"inputs": ["a b", "c"], "normalize": true, "truncate": false}"#,
        #"{"inputs": "a b", "raw_scores": false}"#,
        #"{"inputs": ["a"], "add_special_tokens": true}"#,
    ]
    static let values = [#""s""#, "1", "-1", "1e400", "123456789012345678901234567890", "true", "null", "[]", "{}",
                         #"[1, "a"]"#, #"[[1], "a"]"#, "[[]]", "[-5]", "[99999999999]", "0.5", #""\ud800""#, #""\u0000""#]
    static let fields = ["input", "inputs", "model", "encoding_format", "dimensions", "normalize", "truncate",
                         "raw_scores", "add_special_tokens", "truncation_direction"]

    static func malformed(_ g: inout Generator) -> [UInt8] {
        switch g.int(7) {
        case 0:  // truncated valid JSON
            let v = Array(Self.valid[g.int(Self.valid.count)].utf8)
            return Array(v.prefix(g.int(v.count - 1)))
        case 1:  // random bytes
            return (0..<g.int(200)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        case 2:  // deep nesting
            let depth = 50 + g.int(20_000)
            return Array(#"{"inputs": "#.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: depth)
                + [UInt8](repeating: UInt8(ascii: "]"), count: g.int(2) == 0 ? depth : 0) + Array("}".utf8)
        case 3:  // a wrong type or value in every field
            let pairs = (0..<(1 + g.int(4))).map { _ in
                "\(quoted(Self.fields[g.int(Self.fields.count)])): \(Self.values[g.int(Self.values.count)])"
            }
            return Array("{\(pairs.joined(separator: ", "))}".utf8)
        case 4:  // a long string in the wrong place, or a long key
            let long = String(repeating: "é", count: 1 + g.int(300_000))
            return Array(#"{"model": \#(quoted(long)), "inputs": 3}"#.utf8)
        case 5:  // a flipped byte in a valid body
            var v = Array(Self.valid[g.int(Self.valid.count)].utf8)
            v[g.int(v.count)] = UInt8(truncatingIfNeeded: g.next())
            return v
        default:  // not an object
            return Array(Self.values[g.int(Self.values.count)].utf8)
        }
    }

    func testMalformedRequestsAlwaysGetA4xxAndNeverCrash() async throws {
        let tiny = try Models.encoder(Models.tinyBert)
        let server = try makeServer(models: [("tiny-bert", tiny, true)])
        try await server.application().test(.router) { client in
            var g = Generator(state: 0x5EED)
            var counts: [Int: Int] = [:]
            for i in 0..<1200 {
                let body = Self.malformed(&g)
                let route = Self.routes[i % Self.routes.count]
                let r = try await client.post(route, bytes: body)
                counts[Int(r.status.code), default: 0] += 1
                XCTAssertLessThan(r.status.code, 500, "\(route) \(String(decoding: body.prefix(200), as: UTF8.self)): \(r.text)")
                if r.status.code >= 400 {
                    XCTAssertNotNil(r.json, "every error has a JSON body")
                }
            }
            print("fuzz statuses: \(counts.sorted { $0.key < $1.key })")
            XCTAssertGreaterThan(counts.filter { (400..<500).contains($0.key) }.values.reduce(0, +), 1000)
            expectStatus(try await client.post("/embed", #"{"inputs": "still alive"}"#), .ok)
        }
    }
}
