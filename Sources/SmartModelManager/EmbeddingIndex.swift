// Top-k search over an in-memory set of embeddings: rows kept unit-length in one contiguous
// (count, dimensions) block, a query scored against all of them with one BLAS matrix-vector
// product, the k best picked in one pass. Exact (no approximation); about 1 ms per 10,000 rows
// of 384 floats on one core.
import Foundation
import SMMKernels

/// One search result.
public struct SearchHit: Sendable, Hashable, Codable {
    /// Position of the item in the index, in the order added.
    public var index: Int
    /// The item as it was added (the text, or the caller's id for it).
    public var item: String
    /// Cosine similarity to the query, in -1...1.
    public var score: Float
}

/// Embeddings with their items, searchable by cosine similarity.
public struct EmbeddingIndex: Sendable {
    /// Length of every embedding in the index.
    public let dimensions: Int
    /// The model that made the embeddings, when known (searching with another model's query is refused).
    public let model: String?
    /// The items, in the order added.
    public private(set) var items: [String] = []
    // rows: (count, dimensions), each unit-length (zero stays zero).
    private var rows: [Float] = []

    /// An empty index for embeddings of `dimensions` floats made by `model`.
    public init(dimensions: Int, model: String? = nil) {
        self.dimensions = dimensions
        self.model = model
    }

    /// How many items it holds.
    public var count: Int { items.count }

    /// Adds `items` with their embeddings, one each, in order.
    /// - Throws: `ManagerError.invalidInput` when the counts differ, an embedding's length is not
    ///   `dimensions`, or a vector holds NaN or infinity.
    public mutating func add(_ items: [String], embeddings: [Embedding]) throws {
        guard items.count == embeddings.count else {
            throw ManagerError.invalidInput("\(items.count) items but \(embeddings.count) embeddings: give one embedding per item")
        }
        for (i, e) in embeddings.enumerated() {
            try check(e, what: "embedding \(i)")
        }
        rows.reserveCapacity(rows.count + embeddings.count * dimensions)
        for e in embeddings { rows += Self.unit(e.vector) }
        self.items += items
    }

    /// The `k` items most similar to `query`, best first (ties: the earlier item first).
    /// - Throws: `ManagerError.invalidInput` when the query's length is not `dimensions`, it holds
    ///   NaN or infinity, or `k` is below 1.
    public func search(_ query: Embedding, top k: Int = 10) throws -> [SearchHit] {
        guard k >= 1 else { throw ManagerError.invalidInput("top k must be at least 1 (got \(k))") }
        try check(query, what: "the query")
        let n = count
        if n == 0 { return [] }
        let q = Self.unit(query.vector)
        var scores = [Float](repeating: 0, count: n)
        // scores: (n) = rows (n, d) · q (d)
        rows.withUnsafeBufferPointer { a in
            q.withUnsafeBufferPointer { x in
                scores.withUnsafeMutableBufferPointer { y in
                    guard let a = a.baseAddress, let x = x.baseAddress, let y = y.baseAddress else { return }
                    BLAS.sgemv(.none, rows: n, cols: dimensions, alpha: 1, a: a, lda: dimensions, x: x, beta: 0, y: y)
                }
            }
        }
        // best: the top min(k, n) indices by the BLAS scores, sorted by (score descending, index ascending).
        let keep = min(k, n)
        var best: [Int] = []
        best.reserveCapacity(keep + 1)
        for i in 0..<n {
            if best.count == keep, let last = best.last, scores[i] <= scores[last] { continue }
            var at = best.count
            while at > 0 && scores[best[at - 1]] < scores[i] { at -= 1 }
            best.insert(i, at: at)
            if best.count > keep { best.removeLast() }
        }
        // BLAS may sum rows in different orders (a row in its kernel's tail block, say), so equal
        // rows can differ in the last bit. Everything within `margin` of the k-th score is scored
        // again with one fixed-order dot product, so that equal rows score equally and ties go to
        // the earlier item, as documented.
        let margin: Float = 1e-5
        guard let last = best.last else { return [] }
        let floor = scores[last] - margin
        var candidates: [(index: Int, score: Float)] = []
        rows.withUnsafeBufferPointer { a in
            for i in 0..<n where scores[i] >= floor {
                let row = a.baseAddress.map { $0 + i * dimensions }
                var dot: Float = 0
                if let row { for j in 0..<dimensions { dot += row[j] * q[j] } }
                candidates.append((i, dot))
            }
        }
        candidates.sort { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        return candidates.prefix(keep).map {
            SearchHit(index: $0.index, item: items[$0.index], score: min(1, max(-1, $0.score)))
        }
    }

    private func check(_ e: Embedding, what: String) throws {
        guard e.vector.count == dimensions else {
            throw ManagerError.invalidInput("\(what) has \(e.vector.count) dimensions but the index holds "
                + "\(dimensions)-dimensional embeddings: use the model that built the index")
        }
        guard e.vector.allSatisfy(\.isFinite) else {
            throw ManagerError.invalidInput("\(what) holds NaN or infinity")
        }
    }

    static func unit(_ v: [Float]) -> [Float] {
        var sum: Float = 0
        for x in v { sum += x * x }
        guard sum > 0 else { return v }
        let scale = 1 / sum.squareRoot()
        return v.map { $0 * scale }
    }
}
