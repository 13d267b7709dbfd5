// Token offsets for the TEI `/tokenize` route: the same ids as `encode`, each with the byte range
// of the original text it came from. Each scalar is normalized on its own so every normalized
// scalar knows its source; where that differs from normalizing the whole segment (canonical
// reordering of combining marks), the segment's tokens get the segment's whole range.
extension BertTokenizer {
    /// One token with where it came from.
    public struct OffsetToken: Sendable, Equatable {
        /// Its id.
        public var id: Int
        /// True for `[CLS]`, `[SEP]` and other special tokens.
        public var special: Bool
        /// Byte offset in the UTF-8 of the input where it starts (0 for added special tokens).
        public var start: Int
        /// Byte offset where it ends (exclusive).
        public var stop: Int
    }

    /// Encodes `text` as `encode(_:pair:maxLength:addSpecialTokens:)` does (same ids, same
    /// truncation to `maxLength`), with byte offsets into `text`'s UTF-8.
    public func encodeWithOffsets(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil)
        -> (tokens: [OffsetToken], truncated: Bool) {
        let scalars = Array(text.unicodeScalars)
        var input: [UInt32] = []
        var byteStart: [Int] = []
        input.reserveCapacity(scalars.count)
        byteStart.reserveCapacity(scalars.count + 1)
        var b = 0
        for s in scalars {
            input.append(s.value)
            byteStart.append(b)
            b += UTF8.width(s)
        }
        byteStart.append(b)

        var pieces: [OffsetToken] = []
        func segment(_ range: Range<Int>) {
            // Normalize scalar by scalar, remembering each output's source scalar.
            var normalized: [UInt32] = []
            var origin: [Int] = []
            var single: [UInt32] = []
            for j in range {
                single.removeAll(keepingCapacity: true)
                basic.normalize(input[j..<(j + 1)], into: &single)
                normalized += single
                origin += [Int](repeating: j, count: single.count)
            }
            var whole: [UInt32] = []
            basic.normalize(input[range], into: &whole)
            if whole != normalized {
                normalized = whole
                origin = [Int](repeating: -1, count: whole.count)
            }
            if normalized.isEmpty { return }
            func bytes(_ scalarRange: Range<Int>) -> (Int, Int) {
                let first = origin[scalarRange.lowerBound], last = origin[scalarRange.upperBound - 1]
                if first < 0 || last < 0 { return (byteStart[range.lowerBound], byteStart[range.upperBound]) }
                return (byteStart[first], byteStart[last + 1])
            }
            var utf8: [UInt8] = []
            var bounds: [Int32] = []
            for v in normalized {
                bounds.append(Int32(utf8.count))
                if let s = Unicode.Scalar(v) { utf8 += Array(String(Character(s)).utf8) }
            }
            bounds.append(Int32(utf8.count))
            func words(_ r: Range<Int>) {
                var spans: [Range<Int>] = []
                BasicTokenizer.splitWords(normalized, r, into: &spans)
                for word in spans {
                    var ids: [Int] = []
                    utf8.withUnsafeBufferPointer { u in
                        bounds.withUnsafeBufferPointer { bd in
                            if let ub = u.baseAddress, let bb = bd.baseAddress {
                                model.tokenize(utf8: ub, bounds: bb, scalarRange: word, into: &ids)
                            }
                        }
                    }
                    // Walk the pieces through the word's bytes to find each piece's scalars.
                    var byte = Int(bounds[word.lowerBound])
                    let prefix = model.continuingSubwordPrefix.utf8.count
                    for (k, id) in ids.enumerated() {
                        if id == unkID && ids.count == 1 {
                            let (s, e) = bytes(word)
                            pieces.append(OffsetToken(id: id, special: false, start: s, stop: e))
                            continue
                        }
                        let length = max(0, (token(forID: id)?.utf8.count ?? 0) - (k > 0 ? prefix : 0))
                        let startScalar = scalarIndex(bounds, byte, in: word)
                        byte += length
                        let endScalar = max(startScalar + 1, scalarIndex(bounds, byte, in: word))
                        let (s, e) = bytes(startScalar..<min(endScalar, word.upperBound))
                        pieces.append(OffsetToken(id: id, special: false, start: s, stop: e))
                    }
                }
            }
            if normalizedAddedTokens.isEmpty {
                words(0..<normalized.count)
            } else {
                var cursor = 0
                for piece in normalizedAddedTokens.split(normalized, 0..<normalized.count) {
                    switch piece {
                    case .text(let r):
                        words(r)
                        cursor = r.upperBound
                    case .token(let id):
                        let n = max(1, token(forID: id).map { tok in
                            var out: [UInt32] = []
                            basic.normalize(tok.unicodeScalars.map(\.value)[...], into: &out)
                            return out.count
                        } ?? 1)
                        let r = cursor..<min(normalized.count, cursor + n)
                        let (s, e) = r.isEmpty ? (0, 0) : bytes(r)
                        pieces.append(OffsetToken(id: id, special: specialIDs.contains(id), start: s, stop: e))
                        cursor = r.upperBound
                    }
                }
            }
        }
        if rawAddedTokens.isEmpty {
            segment(0..<input.count)
        } else {
            var cursor = 0
            for piece in rawAddedTokens.split(input, 0..<input.count) {
                switch piece {
                case .text(let r):
                    segment(r)
                    cursor = r.upperBound
                case .token(let id):
                    let n = max(1, token(forID: id)?.unicodeScalars.count ?? 1)
                    let end = min(input.count, cursor + n)
                    pieces.append(OffsetToken(id: id, special: specialIDs.contains(id),
                                              start: byteStart[cursor], stop: byteStart[end]))
                    cursor = end
                }
            }
        }

        let limit = maxLength ?? self.maxLength
        let specials = addSpecialTokens ? 2 : 0
        let budget = max(0, limit - specials)
        var truncated = false
        if pieces.count > budget {
            pieces.removeSubrange(budget...)
            truncated = true
        }
        if addSpecialTokens {
            pieces.insert(OffsetToken(id: clsID, special: true, start: 0, stop: 0), at: 0)
            pieces.append(OffsetToken(id: sepID, special: true, start: 0, stop: 0))
        }
        return (pieces, truncated)
    }

    /// The scalar of `word` whose first byte is at `byte` (or the next one after it).
    private func scalarIndex(_ bounds: [Int32], _ byte: Int, in word: Range<Int>) -> Int {
        var lo = word.lowerBound, hi = word.upperBound
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(bounds[mid]) < byte { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
