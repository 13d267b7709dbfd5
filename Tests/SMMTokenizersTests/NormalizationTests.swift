import Foundation
import XCTest
@testable import SMMTokenizers

/// `BasicTokenizer.decomposeCanonically` cuts long texts into runs; the result must be the NFD of
/// the whole text, whatever sits at the cuts.
final class NormalizationTests: XCTestCase {
    func testRunsGiveTheNFDOfTheWholeText() {
        // Starters, precomposed letters, combining marks of different classes (U+0323 below: 220,
        // U+0308 above: 230, in non-canonical order), U+0F73 (class 0, decomposing to non-starters),
        // U+0344 (a non-starter decomposing to two), Hangul, CJK, ASCII.
        let pieces: [[UInt32]] = [[0x65], [0xE9], [0x65, 0x301], [0x61, 0x308, 0x323], [0xF73], [0xF71, 0xF73],
                                  [0x344], [0xD55C], [0x4E2D], [0x20], [0x1E69], [0x41, 0x30A], [0x212B]]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            var scalars: [UInt32] = []
            while scalars.count < 3 * BasicTokenizer.nfdRun + 7 {
                scalars += pieces[Int.random(in: 0..<pieces.count, using: &generator)]
            }
            let whole = String(String.UnicodeScalarView(scalars.compactMap(Unicode.Scalar.init)))
                .decomposedStringWithCanonicalMapping.unicodeScalars.map(\.value)
            var buffer: [UInt32] = [0x78]  // a prefix the function must leave alone
            buffer += scalars
            BasicTokenizer.decomposeCanonically(&buffer, from: 1)
            XCTAssertEqual(buffer.first, 0x78)
            XCTAssertEqual(Array(buffer.dropFirst()), whole)
        }
    }

    func testWhereRunsMayBeCut() {
        XCTAssertTrue(BasicTokenizer.startsStably(0x61))
        XCTAssertTrue(BasicTokenizer.startsStably(0xE9), "é: a starter decomposing to e + U+0301")
        XCTAssertFalse(BasicTokenizer.startsStably(0x301), "a combining mark")
        XCTAssertFalse(BasicTokenizer.startsStably(0xF73), "class 0 but decomposes to non-starters")
    }
}
