// Where a model's weights come from (a Hugging Face checkpoint directory, later an SMM file), and
// the shape-checked accessors every model loader uses.
import SMMFormat
import SMMKernels

/// A float32 view of one stored tensor. The memory stays valid while `owner` is alive.
public struct FloatTensorView: @unchecked Sendable {
    /// The tensor's elements, row-major.
    public let pointer: UnsafePointer<Float>
    /// The tensor's shape.
    public let shape: [Int]
    /// What owns the memory (a mapped file, a converted buffer).
    public let owner: any Sendable

    /// Wraps a pointer and its owner.
    public init(pointer: UnsafePointer<Float>, shape: [Int], owner: any Sendable) {
        self.pointer = pointer
        self.shape = shape
        self.owner = owner
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// One stored tensor in the element type it is kept in (in place in a mapped file, or in an owned
/// buffer), so that int8 kernels and embedding lookups can read it without an f32 copy.
public struct StoredTensorView: @unchecked Sendable {
    /// The elements, row-major, in native byte order.
    public enum Elements {
        /// IEEE binary32.
        case f32(UnsafePointer<Float>)
        /// IEEE binary16 bit patterns.
        case f16(UnsafePointer<UInt16>)
        /// bfloat16 bit patterns (the upper half of a binary32).
        case bf16(UnsafePointer<UInt16>)
        /// int8 per channel: element `(o, c, i)` of the tensor viewed as `(outer, shape[axis], inner)`
        /// stands for `Float(values[...]) * scales[c]` (the `.smm` format's quantization 1).
        case int8(values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, axis: Int)
        /// q4 blocks of a rank-2 matrix with outputs along `axis` (the `.smm` format's quantization 3,
        /// `SMMQ4Blocks`): N·K/2 bytes of codes, output by output, and N·K/32 f16 scale bit patterns.
        case q4(values: UnsafePointer<UInt8>, scales: UnsafePointer<UInt16>, axis: Int)
    }

    /// The elements.
    public let elements: Elements
    /// The tensor's shape.
    public let shape: [Int]
    /// What owns the memory (a mapped file, an owned buffer).
    public let owner: any Sendable

    /// Wraps stored elements and their owner.
    public init(elements: Elements, shape: [Int], owner: any Sendable) {
        self.elements = elements
        self.shape = shape
        self.owner = owner
    }

    /// An f32 view as a stored tensor.
    public init(_ view: FloatTensorView) {
        self.init(elements: .f32(view.pointer), shape: view.shape, owner: view.owner)
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// A store of named tensors a model can be built from.
public protocol TensorSource: Sendable {
    /// The names of all tensors (for error messages and architecture checks).
    var tensorNames: [String] { get }
    /// The tensor called `name` as float32 (in place when stored as aligned f32, converted otherwise),
    /// or nil when there is no such tensor.
    func floatTensor(_ name: String) throws -> FloatTensorView?
    /// The tensor called `name` in the type it is stored in (f32, f16, bf16, int8 per channel or q4 blocks),
    /// without converting it, or nil when there is no such tensor. The default implementation
    /// returns `floatTensor(name)` as f32.
    func storedTensor(_ name: String) throws -> StoredTensorView?
    /// Tells the source that the model will not read tensor `name` through the views it handed
    /// out any more (its values were copied: quantized, packed), so that its pages can be given
    /// back to the system. Views stay valid (a mapped file re-reads dropped pages on access); this
    /// only lowers resident memory. The default implementation does nothing.
    func release(_ name: String)
    /// Like `release(_:)`, for the elements `elements` (row-major indices) of tensor `name` only, so
    /// that a large tensor converted piece by piece can be given back piece by piece. The default
    /// implementation does nothing.
    func release(_ name: String, elements: Range<Int>)
    /// The f32 weight matrix `name` in place when it is stored in the f32 kernel's packed panels (an
    /// f32 `.smm` file's linear weights), else nil. The default implementation returns nil.
    func packedPanels(_ name: String) -> PackedPanelsView?
}

/// An f32 weight matrix stored in packed panels (`SMMPanelLayout`), in place.
public struct PackedPanelsView: @unchecked Sendable {
    /// The panels, 64-byte aligned.
    public let panels: UnsafePointer<Float>
    /// The tensor's shape as in the checkpoint ((out, in), or (in, out) for GPT-2's `Conv1D`).
    public let shape: [Int]
    /// The output axis (0 or 1).
    public let axis: Int
    /// Keeps the memory alive.
    public let owner: any Sendable

    /// Wraps stored panels.
    public init(panels: UnsafePointer<Float>, shape: [Int], axis: Int, owner: any Sendable) {
        self.panels = panels
        self.shape = shape
        self.axis = axis
        self.owner = owner
    }
}

extension TensorSource {
    /// Returns `floatTensor(name)` as an f32 stored tensor.
    public func storedTensor(_ name: String) throws -> StoredTensorView? {
        try floatTensor(name).map(StoredTensorView.init)
    }

    /// Does nothing.
    public func release(_ name: String) {}

    /// Does nothing.
    public func release(_ name: String, elements: Range<Int>) {}

    /// Returns nil: the source stores no packed panels.
    public func packedPanels(_ name: String) -> PackedPanelsView? { nil }
}

/// Owned, 64-byte-aligned, zero-initialised bytes (int8 weights and f16/bf16 tables made at load).
final class ByteBuffer: @unchecked Sendable {
    /// First byte.
    let pointer: UnsafeMutableRawPointer
    /// Number of bytes.
    let count: Int

    /// Allocates `count` zeroed bytes.
    init(count: Int) {
        self.count = max(0, count)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(64, self.count), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(64, self.count))
    }

    deinit { pointer.deallocate() }
}

/// Shape-checked access to a `TensorSource` under a key prefix (`bert.`, `distilbert.`, `transformer.`, none).
///
/// With `quantization` set to `.int8`, `linear` and `conv1D` build int8 layers directly: from the
/// source's int8 tensors when it stores them per output channel (an int8 `.smm` file, or
/// quantization at load through `QuantizingTensorSource`), else by quantizing the f32 matrix; the
/// source is then told that the matrix's own pages are no longer needed (`TensorSource.release`).
struct WeightLoader {
    let source: any TensorSource
    let prefix: String
    let modelName: String
    /// `.int8` or `.q4`: the linear layers asked with `quantize: true` are built as int8 or q4 weights
    /// (q4 where the input count is a multiple of 32, int8 otherwise).
    var quantization: ModelDType? = nil
    /// Where int8 packing runs.
    var pool: WorkerPool = .shared

    /// Picks the first prefix under which `probe` exists, so that a bare `BertModel` checkpoint and a
    /// `BertForSequenceClassification` one (keys under `bert.`) both load.
    init(source: any TensorSource, prefixes: [String], probe: String, modelName: String,
         quantization: ModelDType? = nil, pool: WorkerPool = .shared) throws {
        self.source = source
        self.modelName = modelName
        self.quantization = quantization
        self.pool = pool
        let names = Set(source.tensorNames)
        guard let found = prefixes.first(where: { names.contains($0 + probe) }) else {
            throw ModelError.missingTensor(name: (prefixes.first ?? "") + probe, model: modelName)
        }
        prefix = found
    }

    init(source: any TensorSource, prefix: String, modelName: String, quantization: ModelDType? = nil,
         pool: WorkerPool = .shared) {
        self.source = source
        self.prefix = prefix
        self.modelName = modelName
        self.quantization = quantization
        self.pool = pool
    }

    /// The tensor `prefix + name`, which must have exactly `shape`.
    func tensor(_ name: String, _ shape: [Int]) throws -> FloatTensorView {
        guard let view = try source.floatTensor(prefix + name) else {
            throw ModelError.missingTensor(name: prefix + name, model: modelName)
        }
        guard view.shape == shape else {
            throw ModelError.wrongShape(name: prefix + name, expected: shape, actual: view.shape)
        }
        return view
    }

    /// The tensor `prefix + name` as stored (not converted), which must have exactly `shape`.
    func stored(_ name: String, _ shape: [Int]) throws -> StoredTensorView {
        guard let view = try source.storedTensor(prefix + name) else {
            throw ModelError.missingTensor(name: prefix + name, model: modelName)
        }
        guard view.shape == shape else {
            throw ModelError.wrongShape(name: prefix + name, expected: shape, actual: view.shape)
        }
        return view
    }

    /// The embedding table `prefix + name` of shape (rows, width), read in place in its stored type.
    func embedding(_ name: String, rows: Int, width: Int) throws -> EmbeddingTable {
        let view = try stored(name, [rows, width])
        if let table = EmbeddingTable(view) { return table }
        // int8 with scales along another axis than the rows (not written by smm-convert): as f32.
        return EmbeddingTable(f32: try tensor(name, [rows, width]))
    }

    /// Whether `prefix + name` exists.
    func has(_ name: String) -> Bool { source.tensorNames.contains(prefix + name) }

    /// A PyTorch `nn.Linear` (weight (out, in), bias (out)) called `name`; int8 when `quantization`
    /// is `.int8` and `quantize` is true, else f32 packed for the AVX-512 kernel when `pack` is true
    /// and the kernel runs here (see `f32Linear`).
    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = true, quantize: Bool = true,
                pack: Bool = true) throws -> LinearWeight {
        if quantization == .q4, quantize,
           let q = try q4Matrix(name + ".weight", shape: [out, inFeatures], out: out, in: inFeatures, layout: .outIn) {
            let b = bias ? try tensor(name + ".bias", [out]) : nil
            return LinearWeight(q4: q, bias: b?.pointer, layout: .outIn, owner: b?.owner)
        }
        if quantization == .int8 || quantization == .q4, quantize,
           let q = try int8Matrix(name + ".weight", shape: [out, inFeatures], out: out, in: inFeatures, layout: .outIn) {
            let b = bias ? try tensor(name + ".bias", [out]) : nil
            return LinearWeight(quantized: q, bias: b?.pointer, layout: .outIn, owner: b?.owner)
        }
        return try f32Linear(name, shape: [out, inFeatures], axis: 0, bias: bias, pack: pack)
    }

    /// A GPT-2 `Conv1D` (weight (in, out), bias (out)) called `name`; int8 when `quantization` is
    /// `.int8`, else f32 packed for the AVX-512 kernel where it runs.
    func conv1D(_ name: String, in inFeatures: Int, out: Int) throws -> LinearWeight {
        if quantization == .q4,
           let q = try q4Matrix(name + ".weight", shape: [inFeatures, out], out: out, in: inFeatures, layout: .inOut) {
            let b = try tensor(name + ".bias", [out])
            return LinearWeight(q4: q, bias: b.pointer, layout: .inOut, owner: b.owner)
        }
        if quantization == .int8 || quantization == .q4,
           let q = try int8Matrix(name + ".weight", shape: [inFeatures, out], out: out, in: inFeatures, layout: .inOut) {
            let b = try tensor(name + ".bias", [out])
            return LinearWeight(quantized: q, bias: b.pointer, layout: .inOut, owner: b.owner)
        }
        return try f32Linear(name, shape: [inFeatures, out], axis: 1, bias: true, pack: true)
    }

    /// The f32 layer `name` (weight of `shape`, outputs along `axis`): from the source's packed
    /// panels in place when it stores them; a bf16 matrix packed for the bf16 kernels where they
    /// run (with `pack`); else the plain matrix, which with `pack` (and the
    /// AVX-512 kernel available) is packed now, once, after which the source may drop its pages.
    func f32Linear(_ name: String, shape: [Int], axis: Int, bias: Bool, pack: Bool) throws -> LinearWeight {
        let layout: LinearWeight.Layout = axis == 0 ? .outIn : .inOut
        let out = shape[axis], inFeatures = shape[1 - axis]
        if pack, let packed = try packedMatrix(name + ".weight", shape: shape, axis: axis,
                                               bias: { bias ? try tensor(name + ".bias", [out]) : nil }) {
            return LinearWeight(packed: packed, layout: layout)
        }
        if pack, BF16Linear.isAvailable, let stored = try source.storedTensor(prefix + name + ".weight"),
           case .bf16(let bits) = stored.elements {
            // A bf16 matrix (a bf16 file, or bf16 rounding at load) runs on the bf16 kernels as it is.
            guard stored.shape == shape else {
                throw ModelError.wrongShape(name: prefix + name + ".weight", expected: shape, actual: stored.shape)
            }
            let b = bias ? try tensor(name + ".bias", [out]) : nil
            let matrix = withExtendedLifetime((stored.owner, b?.owner)) {
                BF16Matrix(bits: bits, bias: b?.pointer, outFeatures: out, inFeatures: inFeatures, layout: layout,
                           pool: pool)
            }
            source.release(prefix + name + ".weight")
            return LinearWeight(bf16: matrix, layout: layout)
        }
        let w = try tensor(name + ".weight", shape)
        let b = bias ? try tensor(name + ".bias", [out]) : nil
        let plain = LinearWeight(weight: w.pointer, bias: b?.pointer, outFeatures: out, inFeatures: inFeatures,
                                 layout: layout, owner: [w.owner, b?.owner as (any Sendable)?] as [(any Sendable)?])
        guard pack, PackedMatrix.isAvailable else { return plain }
        let packed = plain.packedF32(pool: pool)
        source.release(prefix + name + ".weight")
        return packed
    }

    /// The matrix `prefix + name` straight from the source's packed panels (no copy), when it
    /// stores them and the f32 kernel runs here; nil otherwise (the caller then reads it as plain
    /// f32). The stored shape and output axis must be `shape` and `axis`; `bias` is read after they
    /// are checked (so that errors name the weight first, as for plain matrices).
    func packedMatrix(_ name: String, shape: [Int], axis: Int, bias readBias: () throws -> FloatTensorView?) throws
        -> PackedMatrix? {
        guard PackedMatrix.isAvailable, let view = source.packedPanels(prefix + name) else { return nil }
        guard view.shape == shape else {
            throw ModelError.wrongShape(name: prefix + name, expected: shape, actual: view.shape)
        }
        guard view.axis == axis else {
            throw ModelError.invalidInput("tensor '\(prefix + name)' is stored in panels along axis \(view.axis), "
                + "but \(modelName) reads its outputs along axis \(axis)")
        }
        let bias = try readBias()
        return withExtendedLifetime(bias?.owner) {
            PackedMatrix(panels: view.panels, bias: bias?.pointer, outFeatures: shape[axis], inFeatures: shape[1 - axis],
                         owner: view.owner)
        }
    }

    /// The matrix `prefix + name` (`shape` in `layout` order) as packed int8, or nil when it has more
    /// inputs than the int8 kernels take (it then stays f32). Stored int8 values with their
    /// per-output-channel scales are packed as they are; anything else is quantized from f32 (the
    /// same integers and scales `SMMQuantizer` would store). The source may then drop the matrix's pages.
    func int8Matrix(_ name: String, shape: [Int], out: Int, in inFeatures: Int, layout: LinearWeight.Layout) throws
        -> QuantizedMatrix? {
        guard inFeatures <= QuantizedMatrix.maxInFeatures, out > 0, inFeatures > 0 else { return nil }
        let matrix = try Self.int8Matrix(from: stored(name, shape), out: out, in: inFeatures, layout: layout, pool: pool)
            ?? QuantizedMatrix(quantizing: try tensor(name, shape).pointer, outFeatures: out, inFeatures: inFeatures,
                               layout: layout, pool: pool)
        source.release(prefix + name)
        return matrix
    }

    /// The matrix `prefix + name` (`shape` in `layout` order) packed for the q4 kernels, or nil when
    /// its input count is not a multiple of 32 or the source stores it as int8 (it then goes to int8).
    /// Stored q4 blocks are packed as they are; an f32 matrix is quantized (`SMMQ4Blocks`, the codes
    /// a converted file holds). The source may then drop the matrix's pages.
    func q4Matrix(_ name: String, shape: [Int], out: Int, in inFeatures: Int, layout: LinearWeight.Layout) throws
        -> Q4Matrix? {
        guard out > 0, inFeatures > 0, inFeatures % SMMQ4Blocks.blockSize == 0 else { return nil }
        let view = try stored(name, shape)
        if case .int8 = view.elements { return nil }
        let matrix: Q4Matrix
        if let packed = Self.q4Matrix(from: view, out: out, in: inFeatures, layout: layout, pool: pool) {
            matrix = packed
        } else {
            let plain = try tensor(name, shape)
            guard let quantized = withExtendedLifetime(plain.owner, {
                Q4Matrix(quantizing: plain.pointer, outFeatures: out, inFeatures: inFeatures, layout: layout, pool: pool)
            }) else {
                throw ModelError.invalidInput("tensor '\(prefix + name)' has values too large for q4 blocks (f16 scales)")
            }
            matrix = quantized
        }
        source.release(prefix + name)
        return matrix
    }

    /// Packs stored q4 blocks whose outputs run along the output axis of `layout`; nil for any other storage.
    static func q4Matrix(from view: StoredTensorView, out: Int, in inFeatures: Int, layout: LinearWeight.Layout,
                         pool: WorkerPool) -> Q4Matrix? {
        guard case let .q4(values, scales, axis) = view.elements, axis == (layout == .outIn ? 0 : 1),
              out > 0, inFeatures > 0, inFeatures % SMMQ4Blocks.blockSize == 0 else { return nil }
        return withExtendedLifetime(view.owner) {
            Q4Matrix(values: values, scaleBits: scales, outFeatures: out, inFeatures: inFeatures, pool: pool)
        }
    }

    /// Packs a stored int8 tensor whose scales run along the output channel of `layout` (axis 0 of
    /// (out, in), axis 1 of (in, out)); nil for any other storage.
    static func int8Matrix(from view: StoredTensorView, out: Int, in inFeatures: Int, layout: LinearWeight.Layout,
                           pool: WorkerPool) -> QuantizedMatrix? {
        guard case let .int8(values, scales, axis) = view.elements, axis == (layout == .outIn ? 0 : 1),
              inFeatures <= QuantizedMatrix.maxInFeatures, out > 0, inFeatures > 0 else { return nil }
        return withExtendedLifetime(view.owner) {
            QuantizedMatrix(values: values, scales: scales, outFeatures: out, inFeatures: inFeatures, layout: layout,
                            pool: pool)
        }
    }

    /// A LayerNorm (weight, bias of `size`) called `name`.
    func layerNorm(_ name: String, size: Int, eps: Float) throws -> LayerNormWeights {
        let w = try tensor(name + ".weight", [size])
        let b = try tensor(name + ".bias", [size])
        return LayerNormWeights(weight: w, bias: b, eps: eps)
    }
}

/// A LayerNorm's parameters.
struct LayerNormWeights: Sendable {
    let weight: FloatTensorView
    let bias: FloatTensorView
    let eps: Float

    // x: (rows, cols) -> out (may alias x); residual added to x first when given
    func callAsFunction(out: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>,
                        residual: UnsafePointer<Float>? = nil, rows: Int, pool: WorkerPool) {
        LayerNorm.forward(out: out, x: x, residual: residual, weight: weight.pointer, bias: bias.pointer,
                          rows: rows, cols: weight.shape[0], eps: eps, pool: pool)
    }
}
