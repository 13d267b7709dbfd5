/// The merge step of byte-level BPE, on integer ids.
///
/// A word (one pre-token) starts as one symbol per byte, each the vocabulary id of that byte's
/// character; then the adjacent pair with the lowest merge rank is merged, leftmost first, until no
/// adjacent pair has a merge. This is the order of OpenAI's `bpe()` and of Hugging Face's
/// `Word::merge_all`, so the result is the same.
///
/// Short words (the usual case) are merged by scanning for the lowest rank; long ones use a linked
/// list of symbols and a binary heap of candidate merges, so a long run without spaces is
/// O(n log n), not quadratic.
struct BytePairEncoder: Sendable {
    /// One merge rule: the rank (lower merges first) and the id of the merged token.
    struct Merge: Sendable {
        var rank: Int32
        var newID: Int32
    }

    /// Vocabulary id of each byte's character, or -1 when the vocabulary lacks it.
    let byteIDs: [Int32]
    /// Merge rules keyed by `pairKey(left, right)`.
    let merges: [UInt64: Merge]
    /// Id substituted for bytes whose character is missing from the vocabulary; when nil they are
    /// dropped, as Hugging Face does for a BPE model without `unk_token`.
    let unknownID: Int32?
    /// Fuse runs of unknown symbols into one (`fuse_unk`).
    let fuseUnknown: Bool
    /// Words at most this long (in bytes) are merged by scanning; longer ones with the heap.
    static let scanLimit = 48

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        (UInt64(UInt32(bitPattern: left)) << 32) | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the ids of one word (`bytes[range]`) to `output`.
    func encodeWord(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into output: inout [Int]) {
        if range.isEmpty { return }
        if range.count == 1 {
            let id = byteIDs[Int(bytes[range.lowerBound])]
            if id >= 0 { output.append(Int(id)) } else if let u = unknownID { output.append(Int(u)) }
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(range.count)
        for i in range {
            let id = byteIDs[Int(bytes[i])]
            if id >= 0 {
                symbols.append(id)
            } else if let u = unknownID {
                if fuseUnknown, symbols.last == u { continue }
                symbols.append(u)
            }
        }
        if symbols.count <= Self.scanLimit {
            mergeByScanning(&symbols)
        } else {
            mergeWithHeap(&symbols)
        }
        for s in symbols { output.append(Int(s)) }
    }

    /// Repeatedly merges the leftmost pair of lowest rank. Fine for short words.
    func mergeByScanning(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var bestRank = Int32.max
            var bestIndex = -1
            var bestID: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let m = merges[Self.pairKey(symbols[i], symbols[i + 1])], m.rank < bestRank {
                    bestRank = m.rank
                    bestIndex = i
                    bestID = m.newID
                }
            }
            if bestIndex < 0 { return }
            symbols[bestIndex] = bestID
            symbols.remove(at: bestIndex + 1)
        }
    }

    /// Hugging Face's `Word::merge_all`: a doubly linked list of symbols and a min-heap of
    /// (rank, position) candidates; stale candidates are skipped when popped.
    func mergeWithHeap(_ symbols: inout [Int32]) {
        let n = symbols.count
        var ids = symbols
        var prev = [Int32](repeating: -1, count: n)
        var next = [Int32](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n {
            prev[i] = Int32(i - 1)
            next[i] = i + 1 < n ? Int32(i + 1) : -1
        }
        var heap = MinHeap()
        heap.reserve(n)
        for i in 0..<(n - 1) {
            if let m = merges[Self.pairKey(ids[i], ids[i + 1])] {
                heap.push(.init(rank: m.rank, position: Int32(i), newID: m.newID))
            }
        }
        while let top = heap.pop() {
            let pos = Int(top.position)
            if !alive[pos] { continue }
            let right = Int(next[pos])
            if right < 0 { continue }
            // Skip candidates whose pair has changed since they were pushed.
            guard let current = merges[Self.pairKey(ids[pos], ids[right])], current.newID == top.newID else {
                continue
            }
            ids[pos] = top.newID
            alive[right] = false
            let after = next[right]
            next[pos] = after
            if after >= 0 { prev[Int(after)] = Int32(pos) }
            let before = prev[pos]
            if before >= 0, let m = merges[Self.pairKey(ids[Int(before)], top.newID)] {
                heap.push(.init(rank: m.rank, position: before, newID: m.newID))
            }
            if after >= 0, let m = merges[Self.pairKey(top.newID, ids[Int(after)])] {
                heap.push(.init(rank: m.rank, position: Int32(pos), newID: m.newID))
            }
        }
        symbols.removeAll(keepingCapacity: true)
        var i = 0
        while i >= 0 && i < n {
            symbols.append(ids[i])
            i = Int(next[i])
        }
    }
}

/// A binary min-heap of merge candidates ordered by rank, then position.
private struct MinHeap {
    struct Entry {
        var rank: Int32
        var position: Int32
        var newID: Int32

        @inline(__always)
        static func < (a: Entry, b: Entry) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.position < b.position
        }
    }

    private var items: [Entry] = []

    mutating func reserve(_ n: Int) { items.reserveCapacity(n) }

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[i] < items[parent] {
                items.swapAt(i, parent)
                i = parent
            } else {
                break
            }
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < n && items[l] < items[smallest] { smallest = l }
            if r < n && items[r] < items[smallest] { smallest = r }
            if smallest == i { break }
            items.swapAt(i, smallest)
            i = smallest
        }
        return first
    }
}
