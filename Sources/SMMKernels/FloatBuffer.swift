// Owned, 64-byte-aligned Float storage: activations, scratch, and weights converted at load.

/// A fixed-size, zero-initialised, 64-byte-aligned array of Float that frees itself.
///
/// Reference semantics: it is meant to be sized once (per model, per batch) and reused, never
/// grown in a hot path. Not safe to write from two threads at once to the same elements.
public final class FloatBuffer: @unchecked Sendable {
    /// First element.
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int

    /// Allocates `count` zeroed floats.
    public init(count: Int) {
        self.count = max(0, count)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(64, self.count * 4), alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(64, self.count * 4))
        pointer = raw.bindMemory(to: Float.self, capacity: max(16, self.count))
    }

    /// Copies `values` into a new buffer.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// The elements as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }
}
