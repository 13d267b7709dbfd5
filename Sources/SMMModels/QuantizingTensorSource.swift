// Quantizing at load: a TensorSource that hands out each matrix rounded (f16, bf16) or quantized
// (int8, q4) exactly as `smm-convert --dtype` would store it.
import SMMFormat
import SMMKernels
import SMMTokenizers

/// A `TensorSource` whose matrices read as if stored in a smaller dtype: each tensor the
/// conversion policy would store as f16, bf16, int8 or q4 is rounded (or quantized and dequantized)
/// exactly as `smm-convert --dtype` would store it, so that quantizing an f32 model at load gives
/// the same weights as loading a converted file.
public struct QuantizingTensorSource: TensorSource {
    /// The full-precision source.
    public let base: any TensorSource
    /// The storage type simulated.
    public let dtype: ModelDType
    /// `bert`, `distilbert` or `gpt2` (decides the output-channel axis of each matrix).
    public let modelType: String

    /// Wraps `base`, simulating storage as `dtype` for a model of type `modelType`.
    public init(base: any TensorSource, dtype: ModelDType, modelType: String) {
        self.base = base
        self.dtype = dtype
        self.modelType = modelType
    }

    /// The base's tensor names.
    public var tensorNames: [String] { base.tensorNames }

    /// The tensor `name` rounded (or quantized and dequantized) to the dtype the conversion policy
    /// would store it in, in an owned buffer, or the base's tensor when the policy keeps it f32.
    public func floatTensor(_ name: String) throws -> FloatTensorView? {
        guard let view = try base.floatTensor(name) else { return nil }
        let plan = ModelConverter.storagePlan(name: name, shape: view.shape, dtype: dtype, modelType: modelType)
        guard plan.dtype != .f32 else { return view }
        let buffer = FloatBuffer(count: view.count)
        buffer.pointer.update(from: view.pointer, count: view.count)
        withExtendedLifetime(view.owner) {}
        base.release(name)
        if plan.q4Blocks {
            if let failed = SMMQ4Blocks.roundTrip(buffer.pointer, shape: view.shape, axis: plan.axis) {
                throw Self.q4RangeError(tensor: name, failed)
            }
            return FloatTensorView(pointer: buffer.pointer, shape: view.shape, owner: buffer)
        }
        SMMQuantizer.roundTrip(buffer.pointer, shape: view.shape, as: plan.dtype, axis: plan.axis)
        // The base's values are finite (its loader checks them); a non-finite one now is a value
        // beyond the range of f16 (65504), where the converter refuses it too.
        if let i = (0..<view.count).first(where: { !buffer.pointer[$0].isFinite }) {
            let value = try base.floatTensor(name).map { $0.pointer[i] } ?? .infinity
            throw ModelConverter.rangeError(tensor: name, value: value, element: i, dtype: plan.dtype)
        }
        return FloatTensorView(pointer: buffer.pointer, shape: view.shape, owner: buffer)
    }

    /// The tensor `name` as a converted file would store it: int8 values and per-channel scales
    /// (`SMMQuantizer`, the converter's own functions), f16 or bf16 bits, or the base's tensor
    /// when the conversion policy keeps it f32. A converted tensor is made in an owned buffer and
    /// the base's pages of it are released.
    public func storedTensor(_ name: String) throws -> StoredTensorView? {
        guard let view = try base.floatTensor(name) else { return nil }
        let plan = ModelConverter.storagePlan(name: name, shape: view.shape, dtype: dtype, modelType: modelType)
        let count = view.count, shape = view.shape
        // Tensors whose channels are their rows (embedding tables, nn.Linear weights) and f16/bf16
        // conversions are done in slices of about 1 MiB of f32, each given back to the base once
        // done, so that a large table (GPT-2's 154 MB wte) is never resident as a whole. Every
        // slice gives exactly what the whole tensor at once would (scales are per row).
        let width = shape.count >= 2 ? shape[1...].reduce(1, *) : max(count, 1)
        let sliceRows = max(1, (1 << 18) / max(width, 1))
        let stored: StoredTensorView
        switch plan.dtype {
        case .u8 where plan.q4Blocks:
            // Output by output, as the file stores them; rows of (out, in) matrices in slices.
            let (n, k) = SMMQ4Blocks.geometry(shape: shape, axis: plan.axis)
            let values = ByteBuffer(count: n * k / 2)
            let scales = ByteBuffer(count: 2 * n * (k / SMMQ4Blocks.blockSize))
            let v = values.pointer.bindMemory(to: UInt8.self, capacity: n * k / 2)
            let sc = scales.pointer.bindMemory(to: UInt16.self, capacity: n * (k / SMMQ4Blocks.blockSize))
            if plan.axis == 0 {
                var r0 = 0
                while r0 < n {
                    let rows = min(sliceRows, n - r0), elements = (r0 * k)..<((r0 + rows) * k)
                    if let failed = SMMQ4Blocks.quantize(view.pointer + elements.lowerBound, shape: [rows, k], axis: 0,
                                                         values: v + r0 * k / 2,
                                                         scales: sc + r0 * (k / SMMQ4Blocks.blockSize)) {
                        throw Self.q4RangeError(tensor: name, (failed.output + r0, failed.input))
                    }
                    base.release(name, elements: elements)
                    r0 += rows
                }
            } else if let failed = SMMQ4Blocks.quantize(view.pointer, shape: shape, axis: plan.axis, values: v, scales: sc) {
                throw Self.q4RangeError(tensor: name, failed)
            }
            stored = StoredTensorView(elements: .q4(values: v, scales: sc, axis: plan.axis), shape: shape,
                                      owner: [values, scales] as [any Sendable])
        case .i8:
            let values = ByteBuffer(count: count)
            let q = values.pointer.bindMemory(to: Int8.self, capacity: count)
            let scaleBuffer: FloatBuffer
            if plan.axis == 0, shape.count >= 2 {
                scaleBuffer = FloatBuffer(count: shape[0])
                var r0 = 0
                while r0 < shape[0] {
                    let rows = min(sliceRows, shape[0] - r0), elements = (r0 * width)..<((r0 + rows) * width)
                    let slice = [rows] + shape[1...]
                    let scales = SMMQuantizer.int8Scales(view.pointer + elements.lowerBound, shape: slice, axis: 0)
                    SMMQuantizer.quantizeInt8(view.pointer + elements.lowerBound, shape: slice, axis: 0, scales: scales,
                                              into: q + elements.lowerBound)
                    (scaleBuffer.pointer + r0).update(from: scales, count: rows)
                    base.release(name, elements: elements)
                    r0 += rows
                }
            } else {
                let scales = SMMQuantizer.int8Scales(view.pointer, shape: shape, axis: plan.axis)
                SMMQuantizer.quantizeInt8(view.pointer, shape: shape, axis: plan.axis, scales: scales, into: q)
                scaleBuffer = FloatBuffer(scales)
            }
            stored = StoredTensorView(elements: .int8(values: q, scales: scaleBuffer.pointer, axis: plan.axis),
                                      shape: shape, owner: [values, scaleBuffer] as [any Sendable])
        case .f16, .bf16:
            let bits = ByteBuffer(count: 2 * count)
            let out = bits.pointer.bindMemory(to: UInt16.self, capacity: count)
            let half = plan.dtype == .f16
            var e0 = 0
            while e0 < count {
                let elements = e0..<min(count, e0 + sliceRows * width)
                if half {
                    for i in elements { out[i] = f32ToF16Bits(view.pointer[i]) }
                } else {
                    for i in elements { out[i] = f32ToBF16Bits(view.pointer[i]) }
                }
                try ModelConverter.checkEncodedRange(
                    UnsafeBufferPointer(start: view.pointer + elements.lowerBound, count: elements.count),
                    encoded: UnsafeRawBufferPointer(start: out + elements.lowerBound, count: 2 * elements.count),
                    as: plan.dtype, tensor: name, firstElement: elements.lowerBound)
                base.release(name, elements: elements)
                e0 = elements.upperBound
            }
            stored = StoredTensorView(elements: half ? .f16(out) : .bf16(out), shape: shape, owner: bits)
        default:
            return try base.storedTensor(name)
        }
        withExtendedLifetime(view.owner) {}
        base.release(name)
        return stored
    }

    /// The error for a tensor whose block at (output, input) needs a q4 scale beyond f16's range.
    static func q4RangeError(tensor: String, _ failed: (output: Int, input: Int)) -> ModelError {
        .invalidInput("tensor '\(tensor)' has values too large for q4 blocks (the block at output \(failed.output), "
            + "input \(failed.input) needs a scale beyond f16's range)")
    }

    /// Passes the release on to the base.
    public func release(_ name: String) { base.release(name) }

    /// Passes the release of those elements on to the base.
    public func release(_ name: String, elements: Range<Int>) { base.release(name, elements: elements) }
}
