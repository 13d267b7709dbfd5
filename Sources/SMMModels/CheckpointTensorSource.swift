// A Hugging Face safetensors checkpoint as a `TensorSource`: aligned f32 tensors are used in
// place in the mapping; f16, bf16, f64 and unaligned f32 are converted once into owned buffers.
// A tensor quantized at load can have its pages dropped afterwards (`release`).
import SMMFormat
import SMMKernels

/// The tensors of a `Checkpoint` (single or sharded safetensors) as float32 views.
public struct CheckpointTensorSource: TensorSource {
    /// The checkpoint read from.
    public let checkpoint: Checkpoint

    /// Wraps an opened checkpoint.
    public init(_ checkpoint: Checkpoint) { self.checkpoint = checkpoint }

    /// The checkpoint's tensor names, sorted.
    public var tensorNames: [String] { checkpoint.names }

    /// The tensor `name` in place when it is aligned f32, else converted once into an owned f32 buffer.
    public func floatTensor(_ name: String) throws -> FloatTensorView? {
        guard checkpoint.has(name) else { return nil }
        let view = try checkpoint.tensor(name)
        if view.dtype == .f32 && view.isAligned, let base = view.bytes.baseAddress {
            return FloatTensorView(pointer: base.assumingMemoryBound(to: Float.self), shape: view.shape,
                                   owner: view.owner)
        }
        guard view.dtype.isConvertibleToF32 else {
            throw ModelError.unsupportedDType(name: name, dtype: view.dtype.safetensorsName)
        }
        let buffer = FloatBuffer(count: view.elementCount)
        try view.copyFloats(into: UnsafeMutableBufferPointer(start: buffer.pointer, count: view.elementCount))
        return FloatTensorView(pointer: buffer.pointer, shape: view.shape, owner: buffer)
    }

    /// Drops the resident pages of tensor `name` from its file's mapping (`MADV_DONTNEED`), once the
    /// model holds its own copy (quantized at load). Views stay valid: the pages are read again
    /// from the file if touched.
    public func release(_ name: String) {
        release(name, elements: 0..<Int.max)
    }

    /// Drops the pages of elements `elements` of tensor `name` (clamped to the tensor).
    public func release(_ name: String, elements: Range<Int>) {
        guard checkpoint.has(name), let view = try? checkpoint.tensor(name), view.byteCount > 0,
              let start = view.bytes.baseAddress else { return }
        let size = view.dtype.byteSize
        let lower = min(max(0, elements.lowerBound), view.elementCount)
        let upper = min(max(lower, elements.upperBound), view.elementCount)
        guard upper > lower else { return }
        let offset = start - view.owner.baseAddress
        view.owner.advise(.dontNeed, range: (offset + lower * size)..<(offset + upper * size))
    }
}
