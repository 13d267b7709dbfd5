import Foundation
import XCTest
@testable import SMMModels

/// The sampler on hand-made logits: option validation, greedy, top-k, top-p, repetition penalty,
/// temperature, and the seeded generator's reproducibility.
final class SamplerTests: XCTestCase {
    private func assertInvalid(_ options: SamplingOptions, mentions name: String, file: StaticString = #filePath,
                               line: UInt = #line) {
        XCTAssertThrowsError(try Sampler(options: options), file: file, line: line) { error in
            guard case ModelError.invalidInput(let message) = error else {
                return XCTFail("expected invalidInput, got \(error)", file: file, line: line)
            }
            XCTAssertTrue(message.contains(name), "'\(message)' should name \(name)", file: file, line: line)
        }
    }

    func testInvalidOptionsAreRejectedByName() {
        assertInvalid(SamplingOptions(temperature: -0.5), mentions: "temperature")
        assertInvalid(SamplingOptions(temperature: .nan), mentions: "temperature")
        assertInvalid(SamplingOptions(temperature: .infinity), mentions: "temperature")
        assertInvalid(SamplingOptions(topK: -1), mentions: "topK")
        assertInvalid(SamplingOptions(topP: 0), mentions: "topP")
        assertInvalid(SamplingOptions(topP: 1.01), mentions: "topP")
        assertInvalid(SamplingOptions(topP: -0.2), mentions: "topP")
        assertInvalid(SamplingOptions(topP: .nan), mentions: "topP")
        assertInvalid(SamplingOptions(repetitionPenalty: 0), mentions: "repetitionPenalty")
        assertInvalid(SamplingOptions(repetitionPenalty: -1), mentions: "repetitionPenalty")
        XCTAssertNoThrow(try Sampler(options: SamplingOptions(temperature: 0.7, topK: 40, topP: 1, repetitionPenalty: 1.2)))
        XCTAssertNoThrow(try Sampler(options: .greedy))
        XCTAssertThrowsError(try GenerationOptions(maxNewTokens: -1).validate())
        XCTAssertThrowsError(try GenerationOptions(stopStrings: ["ok", ""]).validate())
    }

    func testGreedyIsArgmaxWithTiesToLowestID() throws {
        var sampler = try Sampler(options: .greedy)
        XCTAssertEqual(sampler.sample([0.1, 3, -2, 3, 1]), 1)
        XCTAssertEqual(sampler.sample([-5, -1, -1]), 1)
        XCTAssertEqual(sampler.sample([.nan, 2, 7]), 2)
        XCTAssertEqual(Sampler.argmax([4, 4, 4]), 0)
        XCTAssertEqual(Sampler.argmax([-.infinity, -.infinity]), 0)
    }

    func testTopKOneIsGreedy() throws {
        var rng = SplitMix64(state: 7)
        for seed in 0..<50 as Range<UInt64> {
            var logits = (0..<500).map { _ in Float(Double(rng.next() % 10_000) / 1000 - 5) }
            if seed % 5 == 0 { logits[17] = logits.max()!; logits[300] = logits[17] }   // ties
            var topK1 = try Sampler(options: SamplingOptions(temperature: 1.3, topK: 1, seed: seed))
            XCTAssertEqual(topK1.sample(logits), Sampler.argmax(logits), "seed \(seed)")
            var topKP = try Sampler(options: SamplingOptions(temperature: 0.8, topK: 1, topP: 0.3, seed: seed))
            XCTAssertEqual(topKP.sample(logits), Sampler.argmax(logits), "seed \(seed)")
        }
    }

    func testSameSeedSamePicksDifferentSeedsDiffer() throws {
        var rng = SplitMix64(state: 99)
        let logits = (0..<1000).map { _ in Float(Double(rng.next() % 1000) / 400) }
        func picks(_ options: SamplingOptions) throws -> [Int] {
            var sampler = try Sampler(options: options)
            return (0..<64).map { _ in sampler.sample(logits) }
        }
        for options in [SamplingOptions(seed: 5), SamplingOptions(temperature: 0.7, topK: 50, seed: 5),
                        SamplingOptions(temperature: 1.2, topP: 0.9, seed: 5),
                        SamplingOptions(temperature: 0.9, topK: 100, topP: 0.8, repetitionPenalty: 1.3, seed: 5)] {
            let a = try picks(options), b = try picks(options)
            XCTAssertEqual(a, b, "\(options)")
            var other = options
            other.seed = 6
            XCTAssertNotEqual(a, try picks(other), "\(options)")
        }
    }

    func testGeneratorIsStableAcrossPlatforms() {
        // Published SplitMix64 test vector (seed 1234567).
        var sm = SplitMix64(state: 1_234_567)
        XCTAssertEqual((0..<5).map { _ in sm.next() },
                       [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                        4_593_380_528_125_082_431, 16_408_922_859_458_223_821])
        // xoshiro256** seeded by SplitMix64(42), as computed by an independent implementation.
        var x = Xoshiro256StarStar(seed: 42)
        XCTAssertEqual((0..<4).map { _ in x.next() },
                       [1_546_998_764_402_558_742, 6_990_951_692_964_543_102, 12_544_586_762_248_559_009,
                        17_057_574_109_182_124_193])
        var d = Xoshiro256StarStar(seed: 1)
        for _ in 0..<1000 {
            let u = d.nextDouble()
            XCTAssertTrue(u >= 0 && u < 1)
        }
    }

    private func frequencies(_ logits: [Float], _ options: SamplingOptions, draws: Int = 20_000) throws -> [Double] {
        var sampler = try Sampler(options: options)
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<draws { counts[sampler.sample(logits)] += 1 }
        return counts.map { Double($0) / Double(draws) }
    }

    func testSamplesFollowTheSoftmax() throws {
        let probs: [Float] = [0.5, 0.3, 0.15, 0.05]
        let logits = probs.map { Float(log(Double($0))) + 3 }
        let f = try frequencies(logits, SamplingOptions(seed: 1))
        for (got, want) in zip(f, probs) { XCTAssertEqual(got, Double(want), accuracy: 0.015) }
        // Temperature 2: p ∝ sqrt(p).
        let roots = probs.map { Double($0).squareRoot() }
        let hot = try frequencies(logits, SamplingOptions(temperature: 2, seed: 2))
        for (got, want) in zip(hot, roots.map { $0 / roots.reduce(0, +) }) { XCTAssertEqual(got, want, accuracy: 0.015) }
        // A very low temperature is (almost surely) greedy.
        let cold = try frequencies(logits, SamplingOptions(temperature: 0.01, seed: 3), draws: 1000)
        XCTAssertEqual(cold[0], 1)
    }

    func testTopPKeepsTheSmallestNucleus() throws {
        // HF: sorted ascending [.05, .15, .3, .5], cumsum [.05, .2, .5, 1], drop cumsum <= 1 - p.
        let probs: [Double] = [0.3, 0.05, 0.5, 0.15]
        let logits = probs.map { Float(log($0)) }
        let cases: [(Float, Set<Int>)] = [(0.01, [2]), (0.45, [2]), (0.6, [2, 0]), (0.75, [2, 0]),
                                          (0.85, [2, 0, 3]), (0.97, [0, 1, 2, 3]), (1, [0, 1, 2, 3])]
        for (p, allowed) in cases {
            let f = try frequencies(logits, SamplingOptions(topP: p, seed: 11), draws: 4000)
            let seen = Set(f.indices.filter { f[$0] > 0 })
            XCTAssertEqual(seen, allowed, "topP \(p)")
            // Within the nucleus, renormalised probabilities.
            let mass = allowed.reduce(0) { $0 + probs[$1] }
            for id in allowed { XCTAssertEqual(f[id], probs[id] / mass, accuracy: 0.03, "topP \(p) id \(id)") }
        }
    }

    func testTopPOnALargeVocabularyMatchesABruteForceNucleus() throws {
        // Many tokens with small probabilities: exercises the threshold search for candidates.
        var rng = SplitMix64(state: 3)
        let v = 5000
        let logits = (0..<v).map { _ in Float(Double(rng.next() % 100_000) / 100_000 * 6) }
        for p: Float in [0.3, 0.9, 0.999] {
            let top = logits.max()!
            let weights = logits.map { exp(Double($0 - top)) }
            let total = weights.reduce(0, +)
            let order = weights.indices.sorted { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
            var nucleus = Set<Int>(), mass = 0.0
            for id in order where mass < Double(p) * total { nucleus.insert(id); mass += weights[id] }
            var sampler = try Sampler(options: SamplingOptions(topP: p, seed: 8))
            var seen = Set<Int>()
            for _ in 0..<400 {
                let id = sampler.sample(logits)
                seen.insert(id)
                XCTAssertTrue(nucleus.contains(id), "topP \(p): \(id) outside the nucleus of \(nucleus.count)")
                if !nucleus.contains(id) { break }
            }
            // The least likely kept tokens are reachable too (the cut is not too tight).
            XCTAssertGreaterThan(seen.count, min(nucleus.count, 400) / 4, "topP \(p)")
        }
    }

    func testTopKKeepsTheKMostLikely() throws {
        let logits: [Float] = [1, 5, 2, 4, 3, 0]
        let f = try frequencies(logits, SamplingOptions(temperature: 3, topK: 3, seed: 4), draws: 5000)
        XCTAssertEqual(Set(f.indices.filter { f[$0] > 0 }), [1, 3, 4])
        // top-k then top-p: of the 3 kept (5, 4, 3 at T=1), p=0.5 keeps only the best.
        let g = try frequencies(logits, SamplingOptions(topK: 3, topP: 0.5, seed: 4), draws: 2000)
        XCTAssertEqual(Set(g.indices.filter { g[$0] > 0 }), [1])
        // k larger than the vocabulary is off.
        let h = try frequencies(logits, SamplingOptions(temperature: 5, topK: 100, seed: 4), draws: 5000)
        XCTAssertEqual(Set(h.indices.filter { h[$0] > 0 }), Set(0..<6))
    }

    func testRepetitionPenaltyLikeTransformers() throws {
        var sampler = try Sampler(options: SamplingOptions(temperature: 0, repetitionPenalty: 2))
        // positive logits are divided: 2 / 2 = 1 < 1.5
        XCTAssertEqual(sampler.sample([2, 1.5], previousTokens: [0]), 1)
        // negative logits are multiplied: -1 * 2 = -2 < -1.5
        XCTAssertEqual(sampler.sample([-1, -1.5], previousTokens: [0]), 1)
        XCTAssertEqual(sampler.sample([-1, -1.5], previousTokens: []), 0)
        // each distinct token once: 2 / 1.5 = 1.33 > 1.2 (twice would be 0.89)
        var once = try Sampler(options: SamplingOptions(temperature: 0, repetitionPenalty: 1.5))
        XCTAssertEqual(once.sample([2, 1.2], previousTokens: [0, 0, 0]), 0)
        // ids outside the vocabulary are ignored
        XCTAssertEqual(once.sample([2, 1.2], previousTokens: [-3, 9]), 0)
        // the array API leaves the caller's logits alone
        let logits: [Float] = [2, 1.5]
        _ = sampler.sample(logits, previousTokens: [0])
        XCTAssertEqual(logits, [2, 1.5])
        // in place on a buffer
        var buffer: [Float] = [2, -1, 3]
        var p2 = try Sampler(options: SamplingOptions(temperature: 0, repetitionPenalty: 2))
        _ = buffer.withUnsafeMutableBufferPointer { p2.sample($0, previousTokens: [0, 1]) }
        XCTAssertEqual(buffer, [1, -2, 3])
    }

    func testInfiniteAndDegenerateLogits() throws {
        var s = try Sampler(options: SamplingOptions(seed: 1))
        XCTAssertEqual(s.sample([0, .infinity, 3]), 1)
        XCTAssertEqual(s.sample([-.infinity, 2, -.infinity]), 1)
        XCTAssertEqual(s.sample([-.infinity, -.infinity]), 0)
        var tiny = try Sampler(options: SamplingOptions(temperature: .leastNonzeroMagnitude, seed: 1))
        XCTAssertEqual(tiny.sample([0, 1, 3, 2]), 2)
        var k = try Sampler(options: SamplingOptions(topK: 2, topP: 0.5, seed: 1))
        XCTAssertEqual(k.sample([0, -.infinity, 9, 1]), 2)
    }
}
