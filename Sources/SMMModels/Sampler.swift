// Choosing the next token from a row of logits, with the semantics of Hugging Face `generate`:
//   repetition penalty (processor) -> temperature -> top-k -> top-p (warpers, in that order) -> sample
// Greedy (temperature 0) is the argmax of the penalised logits, ties to the lowest id.
//
// The random numbers come from our own xoshiro256** seeded by SplitMix64, so a seed gives the same
// picks on every platform and Swift version (Swift's `SystemRandomNumberGenerator` and the standard
// library's `random(in:using:)` mapping are not specified to be stable). Probabilities are computed
// with `expf` and summed in Double; picks could only differ between platforms if `expf` rounded
// differently at a point that decides a pick, which in practice does not happen.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the next token is chosen.
public struct SamplingOptions: Sendable, Equatable {
    /// Softmax temperature; 0 means greedy (argmax). Must be >= 0.
    public var temperature: Float
    /// Keep only the `topK` most likely tokens; 0 turns it off. Must be >= 0.
    public var topK: Int
    /// Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches
    /// `topP` (at least one); 1 turns it off. Must be in (0, 1].
    public var topP: Float
    /// Divides positive (multiplies negative) logits of tokens already in the prompt or the output
    /// by this (as transformers' `repetition_penalty`); 1 turns it off. Must be > 0.
    public var repetitionPenalty: Float
    /// Seed of the random generator: the same seed gives the same tokens. Nil: a random seed.
    public var seed: UInt64?

    /// Sampling with the given settings (defaults: temperature 1, no top-k/top-p/penalty, random seed).
    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1,
                seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    /// Greedy decoding: always the most likely token.
    public static let greedy = SamplingOptions(temperature: 0)

    /// Whether this is greedy decoding (temperature 0).
    public var isGreedy: Bool { temperature == 0 }

    /// Throws `ModelError.invalidInput` naming the first option that is out of range.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw ModelError.invalidInput("temperature must be a finite number >= 0 (0 = greedy), got \(temperature)")
        }
        guard topK >= 0 else {
            throw ModelError.invalidInput("topK must be >= 0 (0 = off), got \(topK)")
        }
        guard topP > 0, topP <= 1 else {
            throw ModelError.invalidInput("topP must be in (0, 1] (1 = off), got \(topP)")
        }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw ModelError.invalidInput("repetitionPenalty must be a finite number > 0 (1 = off), got \(repetitionPenalty)")
        }
    }
}

/// Picks tokens from logits according to `SamplingOptions`. Keeps its random state (and reusable
/// scratch) between calls: use one sampler per generated sequence.
public struct Sampler: Sendable {
    /// The settings.
    public let options: SamplingOptions
    private var random: Xoshiro256StarStar
    // Repetition-penalty dedupe: marks[id] == epoch when id was penalised in this call.
    private var marks: [UInt32] = []
    private var epoch: UInt32 = 0
    // Candidates of top-k / top-p: ids and their (then unnormalised) probabilities.
    private var candidateIDs: [Int32] = []
    private var candidateValues: [Float] = []

    /// Makes a sampler. Throws `ModelError.invalidInput` when an option is out of range.
    public init(options: SamplingOptions) throws {
        try options.validate()
        self.options = options
        random = Xoshiro256StarStar(seed: options.seed ?? UInt64.random(in: .min ... .max))
    }

    /// Picks the next token from `logits` (one row, V floats), given the ids of the prompt and
    /// everything generated so far (for the repetition penalty). `logits` is used as scratch:
    /// its contents are changed.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>, previousTokens: [Int]) -> Int {
        let v = logits.count
        guard v > 1, let base = logits.baseAddress else { return 0 }
        if options.repetitionPenalty != 1 { applyRepetitionPenalty(base, count: v, previousTokens) }
        let invT = 1 / options.temperature
        // Greedy, or a temperature so small that 1/T overflows (the limit is greedy too).
        if options.isGreedy || !invT.isFinite { return Self.argmax(UnsafeBufferPointer(logits)) }
        if options.topK > 0 && options.topK < v {
            selectTopK(base, count: v, k: options.topK)
            // probabilities (unnormalised) of the k candidates
            var m = -Float.infinity
            for value in candidateValues where value > m { m = value }
            if m == .infinity || m == -.infinity { return Int(bestCandidate()) }
            var total = 0.0
            for i in candidateValues.indices {
                let w = expf((candidateValues[i] - m) * invT)
                candidateValues[i] = w.isNaN ? 0 : w
                total += Double(candidateValues[i])
            }
            if options.topP < 1 { total = keepNucleus(total: total) }
            return Int(pickCandidate(total: total))
        }
        // All V tokens: probabilities (unnormalised) in place.
        var m = -Float.infinity
        for i in 0..<v where base[i] > m { m = base[i] }
        if m == .infinity || m == -.infinity { return Self.argmax(UnsafeBufferPointer(logits)) }
        var total = 0.0
        for i in 0..<v {
            let w = expf((base[i] - m) * invT)
            base[i] = w.isNaN ? 0 : w
            total += Double(base[i])
        }
        if options.topP < 1 {
            gatherNucleusCandidates(base, count: v, total: total)
            total = keepNucleus(total: total)
            return Int(pickCandidate(total: total))
        }
        let u = random.nextDouble() * total
        var acc = 0.0
        var last = 0
        for i in 0..<v where base[i] > 0 {
            acc += Double(base[i])
            last = i
            if acc > u { return i }
        }
        return last
    }

    /// `sample(_:previousTokens:)` on an array (copied; the argument is left as it is).
    public mutating func sample(_ logits: [Float], previousTokens: [Int] = []) -> Int {
        var copy = logits
        return copy.withUnsafeMutableBufferPointer { sample($0, previousTokens: previousTokens) }
    }

    /// Index of the largest value; ties go to the lowest index, NaNs are skipped (0 when all are NaN).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        var found = false
        for (i, value) in logits.enumerated() where !value.isNaN {
            if !found || value > bestValue { best = i; bestValue = value; found = true }
        }
        return best
    }

    /// `argmax` of an array.
    public static func argmax(_ logits: [Float]) -> Int {
        logits.withUnsafeBufferPointer { argmax($0) }
    }

    // MARK: - Steps

    /// transformers' `RepetitionPenaltyLogitsProcessor`: each distinct previous token once.
    private mutating func applyRepetitionPenalty(_ logits: UnsafeMutablePointer<Float>, count v: Int, _ previous: [Int]) {
        if marks.count != v { marks = [UInt32](repeating: 0, count: v); epoch = 0 }
        epoch &+= 1
        if epoch == 0 {
            for i in marks.indices { marks[i] = 0 }
            epoch = 1
        }
        let p = options.repetitionPenalty
        for id in previous where id >= 0 && id < v && marks[id] != epoch {
            marks[id] = epoch
            let value = logits[id]
            logits[id] = value < 0 ? value * p : value / p
        }
    }

    /// Puts the k largest logits in the candidates (exactly k; ties to the lower id, so top-k 1 is greedy).
    private mutating func selectTopK(_ logits: UnsafeMutablePointer<Float>, count v: Int, k: Int) {
        candidateIDs.removeAll(keepingCapacity: true)
        candidateValues.removeAll(keepingCapacity: true)
        // A min-heap whose root is the worst kept candidate: lowest value, then highest id.
        // Ids arrive in increasing order, so a newcomer replaces the root only with a larger value.
        for i in 0..<v {
            let raw = logits[i]
            let value = raw.isNaN ? -Float.infinity : raw
            if candidateIDs.count < k {
                candidateIDs.append(Int32(i))
                candidateValues.append(value)
                siftUp(candidateIDs.count - 1)
            } else if value > candidateValues[0] {
                candidateIDs[0] = Int32(i)
                candidateValues[0] = value
                siftDown(0)
            }
        }
    }

    @inline(__always)
    private func isWorse(_ a: Int, _ b: Int) -> Bool {
        candidateValues[a] < candidateValues[b]
            || (candidateValues[a] == candidateValues[b] && candidateIDs[a] > candidateIDs[b])
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard isWorse(i, parent) else { return }
            candidateIDs.swapAt(i, parent)
            candidateValues.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = candidateIDs.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var worst = i
            if l < n && isWorse(l, worst) { worst = l }
            if r < n && isWorse(r, worst) { worst = r }
            if worst == i { return }
            candidateIDs.swapAt(i, worst)
            candidateValues.swapAt(i, worst)
            i = worst
        }
    }

    /// The candidate with the largest value (lowest id on ties).
    private func bestCandidate() -> Int32 {
        guard !candidateIDs.isEmpty else { return 0 }
        var best = 0
        for i in candidateIDs.indices.dropFirst() where isWorse(best, i) { best = i }
        return candidateIDs[best]
    }

    /// Collects a set of the most likely tokens that surely contains the nucleus: every token with
    /// weight >= tau, lowering tau until their mass reaches topP (without sorting all V tokens).
    private mutating func gatherNucleusCandidates(_ weights: UnsafeMutablePointer<Float>, count v: Int, total: Double) {
        let target = Double(options.topP) * total
        var tau: Float = 1e-3   // weights are relative to the most likely token's (1)
        while true {
            candidateIDs.removeAll(keepingCapacity: true)
            candidateValues.removeAll(keepingCapacity: true)
            var mass = 0.0
            for i in 0..<v where weights[i] >= tau && weights[i] > 0 {
                candidateIDs.append(Int32(i))
                candidateValues.append(weights[i])
                mass += Double(weights[i])
            }
            if mass >= target || tau == 0 { return }
            tau = tau < 1e-30 ? 0 : tau / 256
        }
    }

    /// Keeps the nucleus of the candidates: in order of probability (descending, ties to the lower
    /// id), each token whose more likely predecessors have less than topP of the mass (so at least
    /// one). Finds it by three-way partitioning (expected O(n), no full sort); the kept candidates
    /// end up first, in a deterministic order. Returns the kept mass.
    private mutating func keepNucleus(total: Double) -> Double {
        let target = Double(options.topP) * total
        var lo = 0, hi = candidateIDs.count
        var kept = 0.0   // mass of candidates[0..<lo], all in the nucleus
        while lo < hi {
            let pivot = medianOfThree(lo, hi)
            // [lo, g) > pivot, [g, e) == pivot, [e, hi) < pivot
            var g = lo, i = lo, e = hi
            while i < e {
                let w = candidateValues[i]
                if w > pivot {
                    swapCandidates(i, g); g += 1; i += 1
                } else if w < pivot {
                    e -= 1; swapCandidates(i, e)
                } else {
                    i += 1
                }
            }
            var greater = 0.0
            for j in lo..<g { greater += Double(candidateValues[j]) }
            if kept + greater >= target {
                hi = g   // the nucleus ends among the greater ones
                continue
            }
            kept += greater
            // Equal weights in id order.
            if e - g > 1 {
                let run = (g..<e).map { (candidateIDs[$0], candidateValues[$0]) }.sorted { $0.0 < $1.0 }
                for (offset, item) in run.enumerated() {
                    candidateIDs[g + offset] = item.0
                    candidateValues[g + offset] = item.1
                }
            }
            var j = g
            while j < e && kept < target { kept += Double(candidateValues[j]); j += 1 }
            lo = j
            if j < e || kept >= target { break }
        }
        candidateIDs.removeSubrange(lo...)
        candidateValues.removeSubrange(lo...)
        return kept
    }

    @inline(__always)
    private mutating func swapCandidates(_ a: Int, _ b: Int) {
        candidateIDs.swapAt(a, b)
        candidateValues.swapAt(a, b)
    }

    /// The median of the first, middle and last weights of `lo..<hi`.
    private func medianOfThree(_ lo: Int, _ hi: Int) -> Float {
        let a = candidateValues[lo], b = candidateValues[(lo + hi - 1) / 2], c = candidateValues[hi - 1]
        return max(min(a, b), min(max(a, b), c))
    }

    /// Draws one candidate in proportion to its weight.
    private mutating func pickCandidate(total: Double) -> Int32 {
        guard total > 0 else { return bestCandidate() }
        let u = random.nextDouble() * total
        var acc = 0.0
        var last: Int32 = candidateIDs.first ?? 0
        for (id, w) in zip(candidateIDs, candidateValues) where w > 0 {
            acc += Double(w)
            last = id
            if acc > u { return id }
        }
        return last
    }
}

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64: fast, and the same sequence on
/// every platform for a given seed.
struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var sm = SplitMix64(state: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// SplitMix64 (Steele, Lea, Flood): expands one 64-bit seed into well-mixed state words; also the
/// generator of reproducible random inputs (`smm bench`'s token ids).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The state, advanced by the golden-ratio increment on every draw.
    public var state: UInt64

    /// A generator starting from `state`.
    public init(state: UInt64) { self.state = state }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
