import Foundation
import XCTest
import SMMFormat
import SMMModels

/// Paths of the committed fixtures and the (git-ignored) real models.
enum Fixtures {
    /// `Tests/Fixtures/<path>`.
    static func url(_ path: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(path)
    }

    /// `Weights/models/<name>`, the real models fetched by the Tools scripts.
    static func realModel(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Weights/models").appendingPathComponent(name)
    }

    /// Parsed JSON object at `Tests/Fixtures/<path>`.
    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(path))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], "\(path) is not a JSON object")
    }

    /// Whether a missing real model must fail the test instead of skipping it (CI sets this).
    static var requireRealModels: Bool { ProcessInfo.processInfo.environment["SMM_REQUIRE_REAL_MODELS"] == "1" }
}

extension Array where Element == Any {
    var floats: [Float] { compactMap { ($0 as? NSNumber)?.floatValue } }
    var ints: [Int] { compactMap { ($0 as? NSNumber)?.intValue } }
    var intRows: [[Int]] { compactMap { ($0 as? [Any])?.ints } }
}

/// Largest absolute difference of two equal-length arrays (infinity when lengths differ).
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
    return dot / (na.squareRoot() * nb.squareRoot())
}

extension Fixtures {
    /// A fresh temporary directory for `test`, removed when the test ends.
    static func scratchDirectory(_ test: XCTestCase, prefix: String, function: String = #function) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("smm-\(prefix)-\(function.filter(\.isLetter))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Fixture model `model` converted to a `dtype` `.smm` file in `dir`.
    static func convert(_ model: String, _ dtype: ModelDType, into dir: URL, hashSources: Bool = true) throws -> URL {
        let out = dir.appendingPathComponent("\(model)-\(dtype.rawValue).smm")
        try ModelConverter.convert(directory: url("models/\(model)"), to: out,
                                   options: ModelConverter.Options(dtype: dtype, hashSources: hashSources))
        return out
    }
}

extension Fixtures {
    /// A copy of fixture model `name` in `dir`, to be edited.
    static func copyModel(_ name: String, into dir: URL) throws -> URL {
        let copy = dir.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.copyItem(at: url("models/\(name)"), to: copy)
        return copy
    }

    /// Sets `key` of `model`'s config.json to `value`.
    static func editConfig(_ model: URL, _ key: String, _ value: Any) throws {
        let url = model.appendingPathComponent("config.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        object[key] = value
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
    }

    /// Overwrites element `element` of the F32 tensor `tensor` in `model`'s model.safetensors with
    /// the float whose bits are `bits` (8-byte little-endian header length, JSON header, data).
    static func patchFloat(_ model: URL, tensor: String, element: Int, bits: UInt32) throws {
        let url = model.appendingPathComponent("model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: url))
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        let entry = try XCTUnwrap(header[tensor] as? [String: Any], "no tensor \(tensor)")
        XCTAssertEqual(entry["dtype"] as? String, "F32")
        let begin = try XCTUnwrap((entry["data_offsets"] as? [Any])?.ints.first)
        let offset = 8 + headerLength + begin + 4 * element
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(i))) }
        try Data(bytes).write(to: url)
    }
}
