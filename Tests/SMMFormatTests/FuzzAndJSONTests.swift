import Foundation
import XCTest
@testable import SMMFormat

final class FuzzTests: XCTestCase {

    /// Flips bytes, truncates and splices a small valid file 2000 times (seeded): every attempt must
    /// either parse into tensors that can all be read, or throw a FormatError. Never a crash.
    func testRandomMutationsNeverCrash() throws {
        let dir = try makeTemporaryDirectory(self)
        var writer = SafetensorsTestWriter()
        writer.metadata = ["format": "pt"]
        writer.add("emb", shape: [4, 3], floats: (0..<12).map { Float($0) / 4 })
        writer.add("ln.w", shape: [3], floats: [1, 2, 3], as: .f16)
        writer.add("ln.b", shape: [3], floats: [-1, 0, 1], as: .bf16)
        writer.add("ids", dtype: "I64", shape: [2], data: [UInt8](repeating: 1, count: 16))
        let original = writer.bytes()
        let headerEnd = 8 + Int(original[0]) + Int(original[1]) << 8
        let url = dir.appendingPathComponent("fuzz.safetensors")

        var rng = SeededGenerator(seed: 0x5AFE_7E45)
        var parsed = 0
        var rejected = 0
        var kinds: Set<String> = []
        for iteration in 0..<2000 {
            var bytes = original
            switch iteration % 5 {
            case 0: // flip 1-4 random bits, in the data section only every other time
                let region = iteration % 10 == 0 ? headerEnd..<bytes.count : 0..<bytes.count
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: region, using: &rng)
                    bytes[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                }
            case 1: // overwrite 1-3 header bytes with random values (mostly breaks the JSON)
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    bytes[Int.random(in: 8..<headerEnd, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case 2: // truncate at a random length (including 0 and inside the length prefix)
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            case 3: // overwrite a digit of the header with another digit (shapes, offsets) or a length byte
                let digits = (8..<headerEnd).filter { (0x30...0x39).contains(bytes[$0]) }
                let i = digits.randomElement(using: &rng)!
                bytes[i] = UInt8.random(in: 0x30...0x39, using: &rng)
                if Bool.random(using: &rng) {
                    bytes[Int.random(in: 0..<8, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            default: // delete or duplicate a random slice of the header, then maybe truncate
                let a = Int.random(in: 8..<headerEnd, using: &rng)
                let b = min(headerEnd, a + Int.random(in: 1...12, using: &rng))
                if Bool.random(using: &rng) {
                    bytes.removeSubrange(a..<b)
                } else {
                    bytes.insert(contentsOf: bytes[a..<b], at: a)
                }
                if Bool.random(using: &rng) { bytes = Array(bytes.prefix(bytes.count - Int.random(in: 0...20, using: &rng))) }
            }
            try writeBytes(bytes, to: url)
            do {
                let file = try SafetensorsFile(url: url)
                parsed += 1
                for name in file.tensorNames {
                    let info = try XCTUnwrap(file.info(name))
                    let raw = try file.rawBytes(name)
                    XCTAssertEqual(raw.count, info.elementCount * info.dtype.byteSize)
                    XCTAssertLessThanOrEqual(info.byteRange.upperBound, bytes.count)
                    if info.dtype.isConvertibleToF32 {
                        XCTAssertEqual(try file.floats(name).count, info.elementCount)
                    } else {
                        XCTAssertThrowsError(try file.floats(name))
                    }
                }
                withExtendedLifetime(file) {}
            } catch let error as FormatError {
                rejected += 1
                XCTAssertFalse(error.description.isEmpty)
                kinds.insert(Mirror(reflecting: error).children.first?.label ?? "\(error)")   // the case name
            } catch {
                XCTFail("iteration \(iteration): non-FormatError \(error)")
            }
        }
        XCTAssertEqual(parsed + rejected, 2000)
        XCTAssertGreaterThan(parsed, 200, "data-only mutations must still parse")
        XCTAssertGreaterThan(rejected, 500)
        XCTAssertGreaterThanOrEqual(kinds.count, 6, "many different validations fire: \(kinds.sorted())")
    }
}
