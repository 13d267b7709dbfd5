// A DEFLATE decoder (RFC 1951: stored, fixed-Huffman and dynamic-Huffman blocks), for the zip
// entries of model wheels (ZipArchive.swift). Pure Swift, no zlib.
//
// The output size is known beforehand (a zip entry's header gives it), so the output is one buffer
// of exactly that size: a stream that would write past it, ends before filling it, runs out of
// input, or holds an invalid code, length or distance is an `InflateError`. Every loop consumes
// input or produces output, and both are bounded, so a hostile stream ends in an error, never in a
// crash or a hang.

/// Why a DEFLATE stream could not be decoded.
public enum InflateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input ended before the final block did.
    case truncated
    /// A block header has type 3 (reserved).
    case invalidBlockType
    /// A stored block's length and its one's complement disagree.
    case storedLengthMismatch(length: Int, complement: Int)
    /// A dynamic block's code lengths do not form a usable Huffman code; `reason` says which.
    case invalidCodeLengths(String)
    /// A bit pattern that the block's Huffman code does not assign, or a reserved symbol (286, 287, 30, 31).
    case invalidSymbol
    /// A back-reference reaches before the start of the output.
    case distanceTooFar(distance: Int, available: Int)
    /// The stream decodes to more bytes than expected.
    case outputTooLarge(expected: Int)
    /// The stream ended after fewer bytes than expected.
    case outputTooSmall(expected: Int, actual: Int)

    /// A sentence saying what is wrong with the stream.
    public var description: String {
        switch self {
        case .truncated: return "the compressed data ends before its last block (truncated)"
        case .invalidBlockType: return "the compressed data has a block of reserved type 3 (corrupt)"
        case let .storedLengthMismatch(length, complement):
            return "a stored block's length \(length) does not match its complement \(complement) (corrupt)"
        case let .invalidCodeLengths(reason): return "invalid Huffman code lengths: \(reason) (corrupt)"
        case .invalidSymbol: return "the compressed data holds an invalid Huffman code (corrupt)"
        case let .distanceTooFar(distance, available):
            return "a back-reference of distance \(distance) reaches before the start of the output (\(available) bytes written; corrupt)"
        case let .outputTooLarge(expected):
            return "the compressed data decodes to more than the expected \(expected) bytes"
        case let .outputTooSmall(expected, actual):
            return "the compressed data decodes to \(actual) bytes, not the expected \(expected)"
        }
    }
}

/// Raw DEFLATE decompression (no zlib or gzip wrapper).
public enum Inflate {
    /// Decodes the raw DEFLATE stream `input`, which must decode to exactly `expectedSize` bytes.
    /// Bytes after the final block are ignored (a zip entry's data ends on a byte boundary).
    /// - Throws: `InflateError` for a truncated or corrupt stream, or one of another size.
    public static func decompress(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        guard expectedSize >= 0 else { throw InflateError.outputTooSmall(expected: expectedSize, actual: 0) }
        // At least one byte, so that the buffer has an address even for an empty output.
        return try [UInt8](unsafeUninitializedCapacity: max(expectedSize, 1)) { buffer, initialized in
            initialized = 0
            guard let base = buffer.baseAddress else { throw InflateError.outputTooLarge(expected: expectedSize) }
            var decoder = Decoder(input: input, out: base, capacity: expectedSize)
            try decoder.run()
            guard decoder.outPos == expectedSize else {
                throw InflateError.outputTooSmall(expected: expectedSize, actual: decoder.outPos)
            }
            initialized = expectedSize
        }
    }

    /// Decodes `input` (see `decompress(_:expectedSize:)`).
    public static func decompress(_ input: [UInt8], expectedSize: Int) throws -> [UInt8] {
        try input.withUnsafeBytes { try decompress($0, expectedSize: expectedSize) }
    }

    // MARK: Tables of RFC 1951 section 3.2.5

    static let lengthBase: [UInt16] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                       35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                       3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase: [UInt16] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                         257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                         8193, 12289, 16385, 24577]
    static let distanceExtra: [UInt8] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
                                         7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// The order in which a dynamic block lists the code-length code's lengths.
    static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// `base << 8 | extraBits` of length symbols 257...285.
    static let lengthCodes = Table(zip(lengthBase, lengthExtra).map { UInt32($0) << 8 | UInt32($1) })
    /// `base << 8 | extraBits` of distance symbols 0...29.
    static let distanceCodes = Table(zip(distanceBase, distanceExtra).map { UInt32($0) << 8 | UInt32($1) })

    static let fixedLiteral: Huffman = {
        var lengths = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { lengths[i] = 9 }
        for i in 256..<280 { lengths[i] = 7 }
        // The fixed code is complete and valid by construction (a test decodes fixed blocks).
        return (try? Huffman(lengths: lengths)) ?? Huffman()
    }()
    static let fixedDistance: Huffman = { (try? Huffman(lengths: [UInt8](repeating: 5, count: 30))) ?? Huffman() }()

    /// A constant table in memory of its own, read through a pointer in the decoding loops.
    /// Immutable after `init`, hence safe to share.
    final class Table: @unchecked Sendable {
        let values: UnsafeMutableBufferPointer<UInt32>
        init(_ contents: [UInt32]) {
            values = .allocate(capacity: max(contents.count, 1))
            values.initialize(repeating: 0)
            _ = values.initialize(from: contents)
        }
        deinit { values.deallocate() }
    }

    /// A canonical Huffman code: a direct table for codes of up to `fastBits` bits, and the counts
    /// and sorted symbols for the longer (rare) ones, decoded bit by bit. Immutable after `init`.
    final class Huffman: @unchecked Sendable {
        static let fastBits = 10
        static let maxBits = 15
        /// Indexed by the next `fastBits` input bits: `symbol << 4 | length`, or 0 when the code is
        /// longer or the pattern is unassigned.
        let fast: UnsafeMutablePointer<UInt32>
        /// Number of codes of each length 0...15.
        let counts: UnsafeMutablePointer<Int>
        /// Symbols in canonical order (by length, then value).
        let symbols: UnsafeMutablePointer<UInt16>

        /// A code without symbols: every pattern is invalid.
        convenience init() {
            self.init(fast: [UInt32](repeating: 0, count: 1 << Self.fastBits),
                      counts: [Int](repeating: 0, count: Self.maxBits + 1), symbols: [0])
        }

        private init(fast: [UInt32], counts: [Int], symbols: [UInt16]) {
            self.fast = .allocate(capacity: fast.count)
            self.fast.initialize(from: fast, count: fast.count)
            self.counts = .allocate(capacity: counts.count)
            self.counts.initialize(from: counts, count: counts.count)
            self.symbols = .allocate(capacity: symbols.count)
            self.symbols.initialize(from: symbols, count: symbols.count)
        }

        /// The code with these code lengths (0: symbol unused). Incomplete codes are accepted (the
        /// unassigned patterns are errors when met); over-subscribed ones are not.
        convenience init(lengths: [UInt8]) throws {
            var counts = [Int](repeating: 0, count: Self.maxBits + 1)
            for l in lengths { counts[Int(l)] += 1 }
            counts[0] = 0
            var left = 1
            for len in 1...Self.maxBits {
                left = (left << 1) - counts[len]
                if left < 0 { throw InflateError.invalidCodeLengths("over-subscribed code of length \(len)") }
            }
            var offsets = [Int](repeating: 0, count: Self.maxBits + 2)
            for len in 1...Self.maxBits { offsets[len + 1] = offsets[len] + counts[len] }
            var symbols = [UInt16](repeating: 0, count: max(offsets[Self.maxBits + 1], 1))
            for (symbol, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[Int(l)]] = UInt16(symbol)
                offsets[Int(l)] += 1
            }
            var fast = [UInt32](repeating: 0, count: 1 << Self.fastBits)
            var code = 0
            var index = 0
            for len in 1...Self.maxBits {
                for _ in 0..<counts[len] {
                    if len <= Self.fastBits {
                        // Codes are sent most significant bit first into a least-significant-first
                        // bit stream: the table is indexed by the reversed code.
                        var reversed = 0
                        for b in 0..<len where code & (1 << b) != 0 { reversed |= 1 << (len - 1 - b) }
                        let entry = UInt32(symbols[index]) << 4 | UInt32(len)
                        var i = reversed
                        while i < (1 << Self.fastBits) {
                            fast[i] = entry
                            i += 1 << len
                        }
                    }
                    code += 1
                    index += 1
                }
                code <<= 1
            }
            self.init(fast: fast, counts: counts, symbols: symbols)
        }

        deinit {
            fast.deallocate()
            counts.deallocate()
            symbols.deallocate()
        }
    }

    /// The decoder's state: input bits, output position.
    struct Decoder {
        let input: UnsafeRawBufferPointer
        let out: UnsafeMutablePointer<UInt8>
        let capacity: Int
        var outPos = 0
        /// Next input byte to load into `bits`; may run past `input.count` (zeros are loaded then).
        var inPos = 0
        var bits: UInt64 = 0
        var bitCount = 0

        init(input: UnsafeRawBufferPointer, out: UnsafeMutablePointer<UInt8>, capacity: Int) {
            self.input = input
            self.out = out
            self.capacity = capacity
        }

        /// Loads bytes until at least 57 bits are buffered. Past the end of the input it loads zeros;
        /// once 8 of those are loaded and fewer than 57 bits remain, bits beyond the input have
        /// been consumed: the stream is truncated.
        @inline(__always)
        mutating func refill() throws {
            while bitCount <= 56 {
                if inPos < input.count {
                    bits |= UInt64(input[inPos]) << UInt64(bitCount)
                } else if inPos >= input.count + 8 {
                    throw InflateError.truncated
                }
                inPos += 1
                bitCount += 8
            }
        }

        /// The next `n` (0...32) bits, consumed. Call `refill` first.
        @inline(__always)
        mutating func take(_ n: Int) -> Int {
            let value = Int(truncatingIfNeeded: bits & ((1 << UInt64(n)) - 1))
            bits >>= UInt64(n)
            bitCount -= n
            return value
        }

        /// Throws `truncated` when more bits have been consumed than the input holds.
        func checkNotOverrun() throws {
            if inPos * 8 - bitCount > input.count * 8 { throw InflateError.truncated }
        }

        /// One symbol of `code`. Call `refill` first (a code has at most 15 bits).
        @inline(__always)
        mutating func decode(_ code: Huffman) throws -> Int {
            let entry = code.fast[Int(truncatingIfNeeded: bits) & ((1 << Huffman.fastBits) - 1)]
            if entry != 0 {
                let len = Int(entry & 15)
                bits >>= UInt64(len)
                bitCount -= len
                return Int(entry >> 4)
            }
            // Longer than fastBits, or unassigned: canonical decoding, one bit at a time.
            var codeValue = 0
            var first = 0
            var index = 0
            for len in 1...Huffman.maxBits {
                codeValue |= Int(truncatingIfNeeded: (bits >> UInt64(len - 1)) & 1)
                let count = code.counts[len]
                if codeValue - first < count {
                    bits >>= UInt64(len)
                    bitCount -= len
                    return Int(code.symbols[index + codeValue - first])
                }
                index += count
                first = (first + count) << 1
                codeValue <<= 1
            }
            throw InflateError.invalidSymbol
        }

        mutating func run() throws {
            var final = false
            while !final {
                try refill()
                try checkNotOverrun()
                final = take(1) == 1
                switch take(2) {
                case 0: try stored()
                case 1: try huffman(Inflate.fixedLiteral, Inflate.fixedDistance)
                case 2: try dynamic()
                default: throw InflateError.invalidBlockType
                }
            }
            try checkNotOverrun()
        }

        mutating func stored() throws {
            // Skip to the byte boundary, then LEN and NLEN.
            _ = take(bitCount & 7)
            try refill()
            let length = take(16)
            let complement = take(16)
            guard length == ~complement & 0xFFFF else {
                throw InflateError.storedLengthMismatch(length: length, complement: complement)
            }
            // The bit buffer holds whole bytes now: give back the ones not consumed.
            inPos -= bitCount / 8
            bits = 0
            bitCount = 0
            guard inPos <= input.count, length <= input.count - inPos else { throw InflateError.truncated }
            guard length <= capacity - outPos else { throw InflateError.outputTooLarge(expected: capacity) }
            if length > 0, let src = input.baseAddress {
                (out + outPos).update(from: src.advanced(by: inPos).assumingMemoryBound(to: UInt8.self), count: length)
            }
            inPos += length
            outPos += length
        }

        mutating func dynamic() throws {
            try refill()
            let literalCount = take(5) + 257
            let distanceCount = take(5) + 1
            let lengthCount = take(4) + 4
            guard literalCount <= 286, distanceCount <= 30 else {
                throw InflateError.invalidCodeLengths(
                    "\(literalCount) literal/length and \(distanceCount) distance codes (at most 286 and 30)")
            }
            var lengthLengths = [UInt8](repeating: 0, count: 19)
            for i in 0..<lengthCount {
                try refill()
                lengthLengths[Inflate.codeLengthOrder[i]] = UInt8(take(3))
            }
            let lengthCode = try Huffman(lengths: lengthLengths)
            var lengths = [UInt8](repeating: 0, count: literalCount + distanceCount)
            var i = 0
            while i < lengths.count {
                try refill()
                try checkNotOverrun()
                let symbol = try decode(lengthCode)
                var repeatValue: UInt8 = 0
                var times = 0
                switch symbol {
                case 0...15:
                    lengths[i] = UInt8(symbol)
                    i += 1
                    continue
                case 16:
                    guard i > 0 else {
                        throw InflateError.invalidCodeLengths("a repeat of the previous length with none before it")
                    }
                    repeatValue = lengths[i - 1]
                    times = 3 + take(2)
                case 17: times = 3 + take(3)
                case 18: times = 11 + take(7)
                default: throw InflateError.invalidSymbol
                }
                guard times <= lengths.count - i else {
                    throw InflateError.invalidCodeLengths("a repeat runs past the \(lengths.count) code lengths")
                }
                for _ in 0..<times {
                    lengths[i] = repeatValue
                    i += 1
                }
            }
            guard lengths[256] != 0 else { throw InflateError.invalidCodeLengths("the end-of-block code has no length") }
            let literal = try Huffman(lengths: Array(lengths[0..<literalCount]))
            let distance = try Huffman(lengths: Array(lengths[literalCount...]))
            try huffman(literal, distance)
        }

        /// The symbols of one Huffman-coded block, up to its end-of-block code.
        mutating func huffman(_ literal: Huffman, _ distance: Huffman) throws {
            let lengthCodes = Inflate.lengthCodes.values
            let distanceCodes = Inflate.distanceCodes.values
            while true {
                // 57+ bits: a literal/length code (15 bits), its extra bits (5), a distance code
                // (15) and its extra bits (13) all fit.
                try refill()
                let symbol = try decode(literal)
                if symbol < 256 {
                    guard outPos < capacity else { throw InflateError.outputTooLarge(expected: capacity) }
                    out[outPos] = UInt8(truncatingIfNeeded: symbol)
                    outPos += 1
                    continue
                }
                if symbol == 256 { break }
                let li = symbol - 257
                guard li < 29 else { throw InflateError.invalidSymbol }
                let lcode = lengthCodes[li]
                let length = Int(lcode >> 8) + take(Int(lcode & 0xFF))
                let dsym = try decode(distance)
                guard dsym < 30 else { throw InflateError.invalidSymbol }
                let dcode = distanceCodes[dsym]
                let dist = Int(dcode >> 8) + take(Int(dcode & 0xFF))
                guard dist <= outPos else { throw InflateError.distanceTooFar(distance: dist, available: outPos) }
                guard length <= capacity - outPos else { throw InflateError.outputTooLarge(expected: capacity) }
                let end = outPos + length
                if dist >= length {
                    (out + outPos).update(from: out + (outPos - dist), count: length)
                    outPos = end
                } else {
                    var from = outPos - dist
                    while outPos < end {
                        out[outPos] = out[from]
                        outPos += 1
                        from += 1
                    }
                }
            }
            try checkNotOverrun()
        }
    }
}
