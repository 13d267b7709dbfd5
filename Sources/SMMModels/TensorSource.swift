// Where a model's weights come from (a Hugging Face checkpoint directory, later an SMM file), and
// the shape-checked accessors every model loader uses.
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

/// A store of named tensors a model can be built from.
public protocol TensorSource: Sendable {
    /// The names of all tensors (for error messages and architecture checks).
    var tensorNames: [String] { get }
    /// The tensor called `name` as float32 (in place when stored as aligned f32, converted otherwise),
    /// or nil when there is no such tensor.
    func floatTensor(_ name: String) throws -> FloatTensorView?
}

/// Shape-checked access to a `TensorSource` under a key prefix (`bert.`, `distilbert.`, `transformer.`, none).
struct WeightLoader {
    let source: any TensorSource
    let prefix: String
    let modelName: String

    /// Picks the first prefix under which `probe` exists, so that a bare `BertModel` checkpoint and a
    /// `BertForSequenceClassification` one (keys under `bert.`) both load.
    init(source: any TensorSource, prefixes: [String], probe: String, modelName: String) throws {
        self.source = source
        self.modelName = modelName
        let names = Set(source.tensorNames)
        guard let found = prefixes.first(where: { names.contains($0 + probe) }) else {
            throw ModelError.missingTensor(name: (prefixes.first ?? "") + probe, model: modelName)
        }
        prefix = found
    }

    init(source: any TensorSource, prefix: String, modelName: String) {
        self.source = source
        self.prefix = prefix
        self.modelName = modelName
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

    /// Whether `prefix + name` exists.
    func has(_ name: String) -> Bool { source.tensorNames.contains(prefix + name) }

    /// A PyTorch `nn.Linear` (weight (out, in), bias (out)) called `name`.
    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = true) throws -> LinearWeight {
        let w = try tensor(name + ".weight", [out, inFeatures])
        let b = bias ? try tensor(name + ".bias", [out]) : nil
        return LinearWeight(weight: w.pointer, bias: b?.pointer, outFeatures: out, inFeatures: inFeatures,
                            layout: .outIn, owner: [w.owner, b?.owner as (any Sendable)?] as [(any Sendable)?])
    }

    /// A GPT-2 `Conv1D` (weight (in, out), bias (out)) called `name`.
    func conv1D(_ name: String, in inFeatures: Int, out: Int) throws -> LinearWeight {
        let w = try tensor(name + ".weight", [inFeatures, out])
        let b = try tensor(name + ".bias", [out])
        return LinearWeight(weight: w.pointer, bias: b.pointer, outFeatures: out, inFeatures: inFeatures,
                            layout: .inOut, owner: [w.owner, b.owner] as [any Sendable])
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
