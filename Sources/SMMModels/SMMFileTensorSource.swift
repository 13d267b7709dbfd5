// An `.smm` file as a `TensorSource`, and a ready model from an `.smm` file.
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

    /// The tensor `name` in place in its stored type (f32, f16, bf16, int8 per channel) when the
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

/// A `TensorSource` whose matrices read as if stored in a smaller dtype: each tensor the
/// conversion policy would store as f16, bf16 or int8 is rounded (or quantized and dequantized)
/// exactly as `smm-convert --dtype` would store it, so that quantizing an f32 model at load gives
/// the same weights as loading a converted file.
public struct QuantizingTensorSource: TensorSource {
    /// The full-precision source.
    public let base: any TensorSource
    /// The storage type simulated.
    public let dtype: SMMStorageDType
    /// `bert`, `distilbert` or `gpt2` (decides the output-channel axis of each matrix).
    public let modelType: String

    /// Wraps `base`, simulating storage as `dtype` for a model of type `modelType`.
    public init(base: any TensorSource, dtype: SMMStorageDType, modelType: String) {
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

    /// Passes the release on to the base.
    public func release(_ name: String) { base.release(name) }

    /// Passes the release of those elements on to the base.
    public func release(_ name: String, elements: Range<Int>) { base.release(name, elements: elements) }
}

extension ModelLoader {
    /// Builds the model stored in an opened `.smm` file: the network from its config and tensors, the
    /// tokenizer from its metadata. `dtype` (f16, bf16, int8) further quantizes an f32 file at load.
    /// - Throws: `ModelError` (missing or misshapen tensor, a tokenizer the engine cannot rebuild),
    ///   `TokenizerError`, `FormatError`.
    public static func load(file: SMMFile, dtype: SMMStorageDType? = nil, pool: WorkerPool = .shared) throws -> LoadedModel {
        // An int8 file (or int8 asked at load) runs on the int8 kernels; `loadUnquantized` builds
        // those layers as int8, and every f32 layer packed for the f32 kernel (`WeightLoader`).
        try loadUnquantized(file: file, dtype: dtype, pool: pool)
    }

    /// The model in `file`, rounded to `dtype` when given. An int8 file (or int8 asked at load) has
    /// its linear layers built as int8 straight from the stored integers (or quantized one matrix at
    /// a time): an int8 file's weights are never widened to f32.
    static func loadUnquantized(file: SMMFile, dtype: SMMStorageDType?, pool: WorkerPool) throws -> LoadedModel {
        let metadata = file.metadata
        try CheckpointConsistency.checkLayers(file.tensors.map(\.name), config: metadata.config)
        try CheckpointConsistency.checkStorage(file.tensors, dtype: metadata.dtype)
        var source: any TensorSource = SMMFileTensorSource(file)
        if let dtype, dtype != .f32 {
            source = QuantizingTensorSource(base: source, dtype: dtype, modelType: metadata.architecture)
        }
        let runInt8 = dtype == .int8 || (dtype == nil && metadata.dtype == .int8)
        let quantization: WeightQuantization? = runInt8 ? .int8 : nil
        switch metadata.config {
        case .bert, .distilbert:
            let model = try encoder(config: metadata.config, source: source, quantization: quantization, pool: pool)
            let tokenizer = try SMMTokenizerCodec.bert(metadata.tokenizer, maxLength: min(metadata.maxLength, model.maxPositions))
            let pooling = metadata.defaultPooling.flatMap(Pooling.init(rawValue:)) ?? .mean
            try CheckpointConsistency.checkTokenizer(tokenizer, modelVocabulary: model.vocabularySize)
            return .encoder(TextEncoder(model: model, tokenizer: tokenizer, defaultPooling: pooling))
        case .gpt2(let c):
            let model = try GPT2Model.load(shape: try gpt2Shape(c), source: source, quantization: quantization, pool: pool)
            let tokenizer = try SMMTokenizerCodec.gpt2(metadata.tokenizer)
            try CheckpointConsistency.checkTokenizer(tokenizer, modelVocabulary: model.vocabularySize)
            return .decoder(TextGenerator(model: model, tokenizer: tokenizer))
        }
    }
}

/// Tokenizers to and from `.smm` metadata.
public enum SMMTokenizerCodec {
    /// The five special tokens a `BertTokenizer` built from a vocabulary registers.
    static let bertSpecials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    /// A WordPiece tokenizer from metadata.
    /// - Throws: `ModelError.unsupportedModel` for settings the public tokenizer API cannot rebuild,
    ///   `TokenizerError` for a bad vocabulary.
    public static func bert(_ t: SMMTokenizerMetadata, maxLength: Int) throws -> BertTokenizer {
        guard t.kind == .wordpiece else {
            throw ModelError.unsupportedModel("a BERT model needs a wordpiece tokenizer, the file has '\(t.kind.rawValue)'")
        }
        guard t.cleanText ?? true, t.handleChineseChars ?? true else {
            throw ModelError.unsupportedModel("tokenizer settings clean_text = false or handle_chinese_chars = false are not supported")
        }
        let tokenizer = try BertTokenizer(vocabulary: t.vocabulary, doLowerCase: t.doLowerCase ?? true,
                                          stripAccents: t.stripAccents, maxLength: max(2, maxLength))
        for token in t.addedTokens {
            guard bertSpecials.contains(token.content), tokenizer.id(forToken: token.content) == token.id,
                  token.special, !token.normalized, !token.lstrip, !token.rstrip, !token.singleWord else {
                throw ModelError.unsupportedModel("added token '\(token.content)' (id \(token.id)) is not one of BERT's standard special tokens")
            }
        }
        let actual = ["pad": tokenizer.padID, "cls": tokenizer.clsID, "sep": tokenizer.sepID, "unk": tokenizer.unkID]
        for (role, id) in t.specialTokenIDs {
            if let expected = actual[role], expected != id {
                throw ModelError.unsupportedModel("the tokenizer's \(role) token is id \(id) in the file but \(expected) in its vocabulary")
            }
        }
        return tokenizer
    }

    /// A byte-level BPE tokenizer from metadata.
    /// - Throws: `TokenizerError` for merges that do not fit the vocabulary, `ModelError` for a wrong kind.
    public static func gpt2(_ t: SMMTokenizerMetadata) throws -> GPT2Tokenizer {
        guard t.kind == .bpe else {
            throw ModelError.unsupportedModel("a GPT-2 model needs a bpe tokenizer, the file has '\(t.kind.rawValue)'")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(t.vocabulary.count)
        for (id, token) in t.vocabulary.enumerated() {
            guard vocabulary.updateValue(id, forKey: token) == nil else {
                throw ModelError.unsupportedModel("token \(debugQuoted(token)) appears twice in the vocabulary")
            }
        }
        let added = t.addedTokens.map {
            GPT2Tokenizer.AddedToken(content: $0.content, id: $0.id, isSpecial: $0.special, leftStrip: $0.lstrip,
                                     rightStrip: $0.rstrip, singleWord: $0.singleWord)
        }
        return try GPT2Tokenizer(vocabulary: vocabulary, merges: t.mergePairs, addedTokens: added)
    }

    /// The metadata of a WordPiece tokenizer.
    /// - Throws: `ModelError.unsupportedModel` when its ids have gaps.
    public static func metadata(of tokenizer: BertTokenizer) throws -> SMMTokenizerMetadata {
        var vocabulary: [String] = []
        vocabulary.reserveCapacity(tokenizer.vocabularySize)
        for id in 0..<tokenizer.vocabularySize {
            guard let token = tokenizer.token(forID: id) else {
                throw ModelError.unsupportedModel("the tokenizer has no token for id \(id) (ids with gaps are not supported)")
            }
            vocabulary.append(token)
        }
        var added: [SMMAddedToken] = []
        var special: [String: Int] = ["pad": tokenizer.padID, "cls": tokenizer.clsID, "sep": tokenizer.sepID,
                                      "unk": tokenizer.unkID]
        for name in bertSpecials {
            if let id = tokenizer.id(forToken: name) { added.append(SMMAddedToken(content: name, id: id)) }
        }
        if let mask = tokenizer.id(forToken: "[MASK]") { special["mask"] = mask }
        let options = tokenizer.normalizerOptions
        return SMMTokenizerMetadata(kind: .wordpiece, vocabulary: vocabulary, addedTokens: added, specialTokenIDs: special,
                                    doLowerCase: options.lowercase, stripAccents: options.stripAccents,
                                    cleanText: options.cleanText, handleChineseChars: options.handleChineseCharacters)
    }

    /// The metadata of a byte-level BPE tokenizer.
    /// - Throws: `ModelError.unsupportedModel` when its ids have gaps or a merge part holds a space.
    public static func metadata(of tokenizer: GPT2Tokenizer) throws -> SMMTokenizerMetadata {
        let byID = tokenizer.vocabulary.sorted { $0.value < $1.value }
        for (expected, entry) in byID.enumerated() where entry.value != expected {
            throw ModelError.unsupportedModel("the BPE vocabulary's ids are not 0..<\(byID.count) without gaps (id \(entry.value) at position \(expected))")
        }
        var merges: [String] = []
        merges.reserveCapacity(tokenizer.merges.count)
        for (a, b) in tokenizer.merges {
            guard !a.isEmpty, !b.isEmpty, !a.contains(" "), !b.contains(" ") else {
                throw ModelError.unsupportedModel("merge (\(debugQuoted(a)), \(debugQuoted(b))) has an empty part or a space")
            }
            merges.append(a + " " + b)
        }
        var special: [String: Int] = [:]
        if let eot = tokenizer.endOfTextID {
            special["bos"] = eot
            special["eos"] = eot
        }
        let added = tokenizer.addedTokens.map {
            SMMAddedToken(content: $0.content, id: $0.id, special: $0.isSpecial, normalized: false, lstrip: $0.leftStrip,
                          rstrip: $0.rightStrip, singleWord: $0.singleWord)
        }
        return SMMTokenizerMetadata(kind: .bpe, vocabulary: byID.map(\.key), merges: merges, addedTokens: added,
                                    specialTokenIDs: special)
    }

    private static func debugQuoted(_ s: String) -> String { String(reflecting: s) }
}
