// The key/value cache of a GPT-2 generation session, and the uninitialised float storage it and the
// session's scratch live in.
//
// Layout: keys and values are each one (layer, capacity, C) row-major block: position p of layer l
// is the C-float row at (l * capacity + p) * C, heads side by side (head h at column h * headDim),
// which is exactly what `Attention.causal` reads with ldKV = C.
//
// The storage is allocated once per session and never zero-filled: a large allocation is mapped
// lazily by the OS, so a 1024-position cache costs memory only for the positions actually written,
// and making a session is O(1). Every row is written before it is read (positions < count).
import SMMKernels

/// Float storage that is allocated once, 64-byte aligned, and not initialised.
///
/// Only for buffers whose elements are always written before they are read (the KV cache, the
/// session's activation scratch). Not safe to write from two threads at once to the same elements.
final class UninitializedFloats: @unchecked Sendable {
    /// First element.
    let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    let count: Int

    init(count: Int) {
        self.count = max(0, count)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(64, self.count * 4), alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(16, self.count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// A preallocated GPT-2 key/value cache for `capacity` positions of every layer.
///
/// Belongs to one `GenerationSession`, which belongs to one task: it is deliberately not `Sendable`.
final class KVCache {
    /// Number of transformer blocks.
    let layers: Int
    /// Positions the cache can hold (at most the model's `n_positions`).
    let capacity: Int
    /// Floats per position of one layer (C = n_embd).
    let width: Int
    /// Positions written so far: the next token goes at position `count`.
    var count = 0

    // keys, values: (layers, capacity, C)
    private let keys: UninitializedFloats
    private let values: UninitializedFloats

    init(layers: Int, capacity: Int, width: Int) {
        self.layers = layers
        self.capacity = capacity
        self.width = width
        keys = UninitializedFloats(count: layers * capacity * width)
        values = UninitializedFloats(count: layers * capacity * width)
    }

    /// Keys of `layer`: (capacity, C), row p = position p.
    @inline(__always)
    func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys.pointer + layer * capacity * width }

    /// Values of `layer`: (capacity, C), row p = position p.
    @inline(__always)
    func values(layer: Int) -> UnsafeMutablePointer<Float> { values.pointer + layer * capacity * width }

    /// Positions still free.
    var remaining: Int { capacity - count }

    /// Forgets every position (the storage is kept and overwritten).
    func reset() { count = 0 }

    /// Bytes reserved for keys and values (touched only as positions are written).
    var byteCount: Int { 2 * layers * capacity * width * MemoryLayout<Float>.size }
}

@available(*, unavailable, message: "a KV cache belongs to one task")
extension KVCache: Sendable {}
