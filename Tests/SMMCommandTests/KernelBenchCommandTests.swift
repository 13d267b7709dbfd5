import Foundation
import SMMJSON
import SMMKernels
import XCTest
@testable import smm

/// `smm bench-kernels`: one JSON line per instruction peak and per kernel and shape, with rates
/// that are positive and, against their instruction's peak, below what the instruction allows.
final class KernelBenchCommandTests: XCTestCase {
    func testJSONLinesCoverEveryKernelOfThisCPUAndStayBelowThePeaks() throws {
        let run = try runSMM(["bench-kernels", "--rows", "8", "--seconds", "0.01", "--json"], stdin: Data())
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try run.stdout.split(separator: "\n").map { try XCTUnwrap(try JSONParser.parse(Array($0.utf8)).objectValue) }
        let peaks = lines.filter { $0["peak_gops"] != nil }
        let kernels = lines.filter { $0["kernel"] != nil }
        if CPUFeatures.current.hasVNNI {
            XCTAssertTrue(peaks.contains { $0["instruction"]?.stringValue == "vpdpbusd" })
            XCTAssertTrue(kernels.contains { $0["kernel"]?.stringValue == "q4" })
        }
        XCTAssertEqual(kernels.filter { $0["kernel"]?.stringValue == "f32" }.count, 3, "three BERT-base shapes")
        for k in kernels {
            let gops = try XCTUnwrap(k["gops"]?.doubleValue)
            XCTAssertGreaterThan(gops, 0.01)
            if let share = k["share_of_peak"]?.doubleValue {
                // 8 rows are far from peak; above 1.5 would mean the peak loop is wrong.
                XCTAssertGreaterThan(share, 0)
                XCTAssertLessThan(share, 1.5, "\(k)")
            }
        }
        let bad = try runSMM(["bench-kernels", "--rows", "0"], stdin: Data())
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--rows must list row counts"), bad.stderr)
    }
}
