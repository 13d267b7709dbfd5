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
    static func convert(_ model: String, _ dtype: SMMStorageDType, into dir: URL, hashSources: Bool = true) throws -> URL {
        let out = dir.appendingPathComponent("\(model)-\(dtype.rawValue).smm")
        try ModelConverter.convert(directory: url("models/\(model)"), to: out,
                                   options: ModelConverter.Options(dtype: dtype, hashSources: hashSources))
        return out
    }
}
