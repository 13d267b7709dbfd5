// Comparing and searching through the manager: the model serving the embedding task (or `task`)
// embeds, the comparison is cosine, the search is `EmbeddingIndex`'s exact top-k.
import Foundation

extension ModelManager {
    /// Cosine similarity of two texts, embedded by the model serving `task`, in -1...1.
    public func similarity(_ a: String, _ b: String, task: ModelTask = .similarity) async throws -> Float {
        let result = try await embed([a, b], task: task)
        return ZeroShotScorer.cosine(result.vectors[0], result.vectors[1])
    }

    /// An index of `texts` (each its own item) for `search`, embedded by the model serving `task`.
    /// The index remembers that model: a search after a switch to another model is refused.
    public func index(_ texts: [String], task: ModelTask = .embedding) async throws -> EmbeddingIndex {
        if texts.isEmpty {
            return try await withModel(for: task) { model, context in
                EmbeddingIndex(dimensions: try await model.embed([""]).first?.count ?? 0, model: context.model.id)
            }
        }
        let result = try await embed(texts, task: task)
        var index = EmbeddingIndex(dimensions: result.vectors.first?.count ?? 0, model: result.model)
        try index.add(texts, embeddings: result.vectors.indices.map { i in
            Embedding(vector: result.vectors[i], truncated: i < result.truncated.count && result.truncated[i])
        })
        return index
    }

    /// The `k` items of `index` closest to `query`, best first, the query embedded by the model
    /// serving `task`.
    /// - Throws: `ManagerError.invalidInput` when the model serving `task` is not the one that
    ///   built `index` (build the index again, or pin the task with `switchModel(_:forTask:)`).
    public func search(_ query: String, in index: EmbeddingIndex, top k: Int = 10,
                       task: ModelTask = .embedding) async throws -> [SearchHit] {
        try await withModel(for: task) { model, context in
            if let built = index.model, built != context.model.id {
                throw ManagerError.invalidInput("the index was built with '\(built)' but '\(context.model.id)' now serves "
                    + "\(task): build the index again, or pin the task with switchModel(\"\(built)\", forTask:)")
            }
            guard let vector = try await model.embed([query]).first else {
                throw ManagerError.inferenceFailed(model: context.model.id, reason: "no embedding came back")
            }
            return try index.search(Embedding(vector: vector), top: k)
        }
    }
}
