import Foundation
import XCTest
@testable import SmartModelManager

/// Absurd sizes in a hand-written catalog are reported by name, never an arithmetic trap.
final class CatalogLimitsTests: XCTestCase {
    private func decode(_ fields: String) -> Error? {
        let json = """
        {"models": [{"id": "m", "architecture": "bert", "tasks": ["embedding"], "path": "m", \(fields)}]}
        """
        do { _ = try ModelCatalog.decode(Data(json.utf8)); return nil } catch { return error }
    }

    func testAbsurdSizesAreErrors() {
        let cases: [(String, String)] = [
            ("\"parameters\": 9223372036854775807", "parameters must be at most 1000000000000"),
            ("\"parameters\": 1000, \"activationBytes\": -5", "activationBytes must be between 0 and"),
            ("\"parameters\": 1000, \"activationBytes\": 9223372036854775807", "activationBytes must be between 0 and"),
            ("\"parameters\": 1000, \"minMemoryBytes\": 9223372036854775807", "minMemoryBytes must be between 0 and"),
            ("\"parameters\": 1000, \"sizeBytes\": {\"f32\": 9223372036854775807}", "sizeBytes.f32 must be at most"),
        ]
        for (fields, message) in cases {
            let error = decode(fields)
            XCTAssertNotNil(error, fields)
            XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains(message), "\(fields): \(String(describing: error))")
        }
        XCTAssertNil(decode("\"parameters\": 1000000000000"), "the largest count is accepted")
    }

    func testEstimatesFromTheLargestCount() throws {
        let entry = CatalogEntry(id: "big", source: "", architecture: "gpt2", tasks: [.generation],
                                 parameters: CatalogEntry.maxParameters, path: "big")
        XCTAssertEqual(entry.sizeBytes.f32, 4_000_000_000_000)
        XCTAssertEqual(entry.minMemoryBytes, (4_000_000_000_000 + 250_000_000_000) * 2)
        XCTAssertNoThrow(try entry.validate())
    }

    func testInfiniteCPUQuotaIsIgnored() {
        XCTAssertNil(ProcParser.cpuMax("inf 100000"))
        XCTAssertNil(ProcParser.cpuMax("200000 inf"))
        XCTAssertEqual(ProcParser.cpuMax("150000 100000"), 1.5)
    }
}
