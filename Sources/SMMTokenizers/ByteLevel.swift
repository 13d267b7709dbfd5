/// GPT-2's reversible byte ↔ Unicode mapping (`bytes_to_unicode` in OpenAI's `encoder.py`,
/// `ByteLevel` in Hugging Face `tokenizers`).
///
/// Every byte 0…255 is given a printable Unicode character so that BPE tokens can be stored as
/// text: the printable bytes `!`…`~`, `¡`…`¬` and `®`…`ÿ` stand for themselves, and the remaining
/// 68 bytes (controls, space, DEL, NBSP, soft hyphen …) are shifted, in order, to U+0100…U+0143.
/// That is why a space shows up as `Ġ` (U+0120) and a newline as `Ċ` (U+010A) in GPT-2 vocabularies.
public enum ByteLevel {
    /// The character that stands for each byte: `byteToScalar[Int(byte)]`.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: Unicode.Scalar(0), count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if isPrintable(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar`, indexed by scalar value (0…323); -1 where a value stands for no byte.
    static let scalarToByteTable: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    /// The byte a mapped character stands for, or nil when the character is not part of the table.
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = Int(scalar.value)
        guard v < scalarToByteTable.count else { return nil }
        let b = scalarToByteTable[v]
        return b < 0 ? nil : UInt8(b)
    }

    /// Maps raw bytes to their byte-level string (`"Hello world"` → `"HelloĠworld"`).
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var scalars = String.UnicodeScalarView()
        for b in bytes { scalars.append(byteToScalar[Int(b)]) }
        return String(scalars)
    }

    /// Maps a byte-level string back to raw bytes, or nil when it contains a character that stands
    /// for no byte.
    public static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard let b = byte(for: s) else { return nil }
            out.append(b)
        }
        return out
    }

    /// The bytes a vocabulary token stands for, as Hugging Face's `ByteLevel` decoder does it:
    /// the mapped bytes when every character is in the table, else the token's own UTF-8
    /// (added tokens written in plain text).
    static func bytes(ofToken token: String) -> [UInt8] {
        decode(token) ?? Array(token.utf8)
    }

    private static func isPrintable(_ b: Int) -> Bool {
        (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
    }
}
