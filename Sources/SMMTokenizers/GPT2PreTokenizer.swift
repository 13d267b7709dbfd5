/// GPT-2's pre-tokenizer: splits text into the pieces that BPE works on, exactly like the regex
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// used by OpenAI's `encoder.py` and Hugging Face's `ByteLevel` pre-tokenizer, written out by hand
/// over Unicode scalars (no regex engine: `NSRegularExpression` is slow and behaves differently on
/// Linux).
///
/// Character classes follow the Unicode properties the regex engines use: `\p{L}` is general
/// category L (Lu, Ll, Lt, Lm, Lo), `\p{N}` is N (Nd, Nl, No), and `\s` is the `White_Space`
/// property. Everything else (punctuation, symbols, marks, controls, unassigned) is "other".
/// Characters assigned after Unicode 16.0 count as unassigned, as in the reference (see
/// `unicodeVersion`).
///
/// The subtle alternative is `\s+(?!\S)`: a run of whitespace that is followed by a non-space
/// gives its last character back, so that it can start the next piece (`"a  b"` →
/// `"a"`, `" "`, `" b"`); a single whitespace character before a non-space is a piece on its own
/// unless it is a plain space that the next piece takes (`"a\nb"` → `"a"`, `"\n"`, `"b"`).
public enum GPT2PreTokenizer {
    /// Character classes, as small integers so they can live in a compact array.
    static let other: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 3

    /// Classes of the ASCII characters, computed once.
    private static let asciiClasses: [UInt8] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    /// Classes of Latin-1 and the other two-byte scalars (U+0080…U+07FF), computed once: they are
    /// common in European text and their property lookups are comparatively slow.
    private static let twoByteClasses: [UInt8] = (0x80..<0x800).map { classify(Unicode.Scalar(UInt32($0))!) }

    /// The newest Unicode version whose assignments count. Hugging Face `tokenizers` matches the
    /// regex with Oniguruma, whose tables are Unicode 16.0; Swift's are newer, so characters
    /// assigned later (Unicode 17's new letters, for example) are treated as unassigned ("other"),
    /// exactly as the reference tokenizer sees them.
    static let unicodeVersion: (major: Int, minor: Int) = (16, 0)

    /// The class of one scalar: letter, number, whitespace or other.
    static func classify(_ scalar: Unicode.Scalar) -> UInt8 {
        let properties = scalar.properties
        if let age = properties.age,
           age.major > unicodeVersion.major || (age.major == unicodeVersion.major && age.minor > unicodeVersion.minor) {
            return other
        }
        if properties.isWhitespace { return space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return other
        }
    }

    /// Splits a string into GPT-2 pre-tokens.
    public static func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var pieces: [String] = []
        bytes.withUnsafeBufferPointer { buffer in
            split(buffer, 0..<buffer.count) { range in
                pieces.append(String(decoding: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self))
            }
        }
        return pieces
    }

    /// Splits the valid UTF-8 in `bytes[range]` into pre-tokens and calls `body` with the byte
    /// range of each, in order. The ranges cover the input exactly.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
                      _ body: (Range<Int>) -> Void) {
        if range.isEmpty { return }
        // Decode once into per-scalar classes and byte offsets; the matcher below then works on
        // scalar indices. `offsets[count]` is the end of the range.
        var classes: [UInt8] = []
        var offsets: [Int] = []
        classes.reserveCapacity(range.count)
        offsets.reserveCapacity(range.count + 1)
        var p = range.lowerBound
        let end = range.upperBound
        while p < end {
            let b0 = bytes[p]
            offsets.append(p)
            if b0 < 0x80 {
                classes.append(asciiClasses[Int(b0)])
                p += 1
            } else if b0 < 0xE0 {
                let v = (UInt32(b0 & 0x1F) << 6) | UInt32(bytes[p + 1] & 0x3F)
                classes.append(twoByteClasses[Int(v) - 0x80])
                p += 2
            } else if b0 < 0xF0 {
                let v = (UInt32(b0 & 0x0F) << 12) | (UInt32(bytes[p + 1] & 0x3F) << 6)
                    | UInt32(bytes[p + 2] & 0x3F)
                classes.append(classify(Unicode.Scalar(v) ?? "\u{FFFD}"))
                p += 3
            } else {
                let v = (UInt32(b0 & 0x07) << 18) | (UInt32(bytes[p + 1] & 0x3F) << 12)
                    | (UInt32(bytes[p + 2] & 0x3F) << 6) | UInt32(bytes[p + 3] & 0x3F)
                classes.append(classify(Unicode.Scalar(v) ?? "\u{FFFD}"))
                p += 4
            }
        }
        offsets.append(end)
        let n = classes.count

        var i = 0
        while i < n {
            let start = offsets[i]
            let b = bytes[start]

            // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, ASCII apostrophe only). The characters after
            // the apostrophe are ASCII, so comparing bytes is comparing scalars.
            if b == UInt8(ascii: "'") && i + 1 < n {
                let c1 = bytes[start + 1]
                var length = 0
                if c1 == UInt8(ascii: "s") || c1 == UInt8(ascii: "t") || c1 == UInt8(ascii: "m")
                    || c1 == UInt8(ascii: "d") {
                    length = 2
                } else if i + 2 < n {
                    let c2 = bytes[start + 2]
                    if (c1 == UInt8(ascii: "r") && c2 == UInt8(ascii: "e"))
                        || (c1 == UInt8(ascii: "v") && c2 == UInt8(ascii: "e"))
                        || (c1 == UInt8(ascii: "l") && c2 == UInt8(ascii: "l")) {
                        length = 3
                    }
                }
                if length > 0 {
                    body(start..<offsets[i + length])
                    i += length
                    continue
                }
            }

            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional plain space, then a run of
            // one class.
            let k = (b == 0x20 && i + 1 < n) ? i + 1 : i
            let cls = classes[k]
            if cls != space {
                var j = k + 1
                while j < n && classes[j] == cls { j += 1 }
                body(start..<offsets[j])
                i = j
                continue
            }

            // `\s+(?!\S)` then `\s+`: the whitespace run, less its last character when a non-space
            // follows and the run is longer than one.
            var j = i + 1
            while j < n && classes[j] == space { j += 1 }
            if j < n && j - i >= 2 { j -= 1 }
            body(start..<offsets[j])
            i = j
        }
    }
}
