// An `.smm` file as a `TensorSource`.
//
// f32 tensors are used in place in the mapping (the format aligns every tensor to 64 bytes, so no
// copy is needed). `storedTensor` hands out f16, bf16 and int8 tensors in place too: embedding
// tables are read row by row in their stored type, and int8 matrices are packed for the int8
// kernels straight from the file's integers and scales (the file's pages are then dropped). Only
// what must run in f32 from a reduced-precision tensor (an f16 or bf16 file's matrices, an int8
// file loaded as f32) is converted, once, at load (`floatTensor`; int8: value = q × scale[channel]).
import SMMFormat
import SMMKernels
import SMMTokenizers

/// The tensors of a validated `.smm` file.
public struct SMMFileTensorSource: TensorSource {
    /// The file read from.
    public let file: SMMFile
    /// The file's tensor names, in table order.
    public let tensorNames: [String]

    /// Wraps an opened file.
    public init(_ file: SMMFile) {
        self.file = file
        self.tensorNames = file.tensors.map(\.name)
    }

    /// The tensor `name` in place when it is aligned plain f32 on a little-endian host, else
    /// converted once into an owned f32 buffer (int8 dequantized with its scales).
    public func floatTensor(_ name: String) throws -> FloatTensorView? {
        guard let entry = file.entry(name) else { return nil }
        #if _endian(little)
        if entry.dtype == .f32, entry.quantization == .none {
            let base = file.mapping.baseAddress + entry.dataOffset
            if Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
                return FloatTensorView(pointer: base.assumingMemoryBound(to: Float.self), shape: entry.shape, owner: file)
            }
        }
        #endif
        guard entry.dtype.isConvertibleToF32 || entry.quantization != .none else {
            throw ModelError.unsupportedDType(name: name, dtype: entry.dtype.safetensorsName)
        }
        let buffer = FloatBuffer(count: entry.elementCount)
        try file.copyFloats(entry, into: UnsafeMutableBufferPointer(start: buffer.pointer, count: entry.elementCount))
        return FloatTensorView(pointer: buffer.pointer, shape: entry.shape, owner: buffer)
    }

    /// The tensor `name` in place in its stored type (f32, f16, bf16, int8 per channel, q4 blocks) when the
    /// mapping can be read directly (little-endian host, aligned data: always for files written
    /// to the format), else converted to f32.
    public func storedTensor(_ name: String) throws -> StoredTensorView? {
        guard let entry = file.entry(name) else { return nil }
        #if _endian(little)
        let base = file.mapping.baseAddress + entry.dataOffset
        if entry.quantization == .none, Int(bitPattern: base) % 4 == 0 {
            switch entry.dtype {
            case .f16:
                return StoredTensorView(elements: .f16(base.assumingMemoryBound(to: UInt16.self)), shape: entry.shape,
                                        owner: file)
            case .bf16:
                return StoredTensorView(elements: .bf16(base.assumingMemoryBound(to: UInt16.self)), shape: entry.shape,
                                        owner: file)
            default:
                break
            }
        }
        if case let .q4Blocks(axis, _) = entry.quantization, let scale = file.scaleEntry(for: entry) {
            return StoredTensorView(elements: .q4(values: base.assumingMemoryBound(to: UInt8.self),
                                                  scales: (file.mapping.baseAddress + scale.dataOffset)
                                                      .assumingMemoryBound(to: UInt16.self), axis: axis),
                                    shape: entry.shape, owner: file)
        }
        if let q = int8Tensor(name), Int(bitPattern: q.scales) % MemoryLayout<Float>.alignment == 0 {
            return StoredTensorView(elements: .int8(values: q.values, scales: q.scales, axis: q.axis), shape: q.shape,
                                    owner: file)
        }
        #endif
        return try floatTensor(name).map(StoredTensorView.init)
    }

    /// Drops the resident pages of tensor `name` from the mapping (`MADV_DONTNEED`): called once
    /// its values have been packed into the model's own memory. The data stays reachable (a later
    /// read pages it in again from the file), so views of it, or of tensors sharing its first or last
    /// page, stay valid.
    public func release(_ name: String) {
        guard let entry = file.entry(name), entry.byteLength > 0 else { return }
        file.mapping.advise(.dontNeed, range: entry.dataOffset..<(entry.dataOffset + entry.byteLength))
    }

    /// Drops the pages of elements `elements` of tensor `name` (clamped to the tensor).
    public func release(_ name: String, elements: Range<Int>) {
        guard let entry = file.entry(name), entry.byteLength > 0, entry.elementCount > 0 else { return }
        let size = entry.byteLength / entry.elementCount
        let lower = min(max(0, elements.lowerBound), entry.elementCount)
        let upper = min(max(lower, elements.upperBound), entry.elementCount)
        guard upper > lower else { return }
        file.mapping.advise(.dontNeed, range: (entry.dataOffset + lower * size)..<(entry.dataOffset + upper * size))
    }

    /// The f32 matrix `name` in place when the file stores it in packed panels (little-endian host,
    /// 64-byte-aligned data), else nil.
    public func packedPanels(_ name: String) -> PackedPanelsView? {
        #if _endian(little)
        guard let entry = file.entry(name), case let .packedPanels(axis) = entry.quantization else { return nil }
        let base = file.mapping.baseAddress + entry.dataOffset
        guard Int(bitPattern: base) % 64 == 0 else { return nil }
        return PackedPanelsView(panels: base.assumingMemoryBound(to: Float.self), shape: entry.shape, axis: axis, owner: file)
        #else
        return nil
        #endif
    }

    /// An int8 tensor in place, with its per-channel scales: for int8 kernels.
    public struct Int8TensorView: @unchecked Sendable {
        /// The int8 values, row-major, 64-byte aligned.
        public let values: UnsafePointer<Int8>
        /// One scale per channel along `axis`.
        public let scales: UnsafePointer<Float>
        /// The tensor's shape.
        public let shape: [Int]
        /// The output-channel axis (0 for `nn.Linear` (out, in), 1 for GPT-2 `Conv1D` (in, out)).
        public let axis: Int
        /// Keeps the mapping alive.
        public let owner: SMMFile
    }

    /// The int8 tensor `name` in place, or nil when it is absent or not stored as int8.
    public func int8Tensor(_ name: String) -> Int8TensorView? {
        #if _endian(little)
        guard let entry = file.entry(name), case let .int8PerChannel(axis, _) = entry.quantization,
              let scale = file.scaleEntry(for: entry) else { return nil }
        let base = file.mapping.baseAddress
        return Int8TensorView(values: (base + entry.dataOffset).assumingMemoryBound(to: Int8.self),
                              scales: (base + scale.dataOffset).assumingMemoryBound(to: Float.self),
                              shape: entry.shape, axis: axis, owner: file)
        #else
        return nil
        #endif
    }
}
