// From a Hugging Face model directory to one `.smm` file (`smm-convert`): config, safetensors
// weights (single or sharded), tokenizer files and sentence-transformers settings are read, the
// tokenizer is rebuilt from what will be stored and checked to tokenize like the original, every
// source file is hashed (SHA-256) for provenance, and the tensors are streamed to the writer one at
// a time in the chosen storage dtype. The complete temporary file is loaded as a user would load it
// before it is published: a source whose config and weights disagree is refused, not written.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SMMFormat
import SMMKernels
import SMMTokenizers

/// Converts model directories to `.smm` files and compares the two.
public enum ModelConverter {
    /// The converter's version, recorded in every file's provenance.
    /// 1.1.0: f32 linear weights in packed panels (format 1.1); encoder heads f32 in every dtype.
    /// 1.2.0: `--dtype q4`, 4-bit blocks (format 1.2).
    public static let version = "1.2.0"
    /// `smm-convert 1.2.0`.
    public static var converterName: String { "smm-convert \(version)" }
    /// Matrices smaller than this stay f32 whatever the dtype (classifier heads, tiny embeddings):
    /// they weigh nothing and are where precision matters most.
    public static let minReducedElements = 4096

    /// How one tensor is stored.
    public struct Plan: Sendable, Equatable {
        /// The stored dtype (`f32`, `f16`, `bf16` or `i8`).
        public var dtype: ElementType
        /// For int8: the output-channel axis the scales run along; for packed panels: the output axis.
        public var axis: Int
        /// f32 stored in the f32 kernel's packed panels (`SMMPanelLayout`), so that loading maps the
        /// weights straight into the kernel with no copy.
        public var packedPanels: Bool = false
        /// Stored in q4 blocks (`SMMQ4Blocks`; dtype u8, f16 scales), outputs along `axis`.
        public var q4Blocks: Bool = false
    }

    /// The storage of tensor `name` (of float type, with `shape`) in a `dtype` file of a `modelType`
    /// model: matrices (rank ≥ 2, at least `minReducedElements` elements) take `dtype`; vectors
    /// (biases, LayerNorm), small matrices and the tensors of `keepsF32` (encoder heads; in f16
    /// and bf16 files also position and token-type embeddings) stay f32. int8 scales run along the
    /// output channel: axis 1 for GPT-2's `Conv1D` weights (in, out), axis 0 otherwise
    /// (`nn.Linear` (out, in), embedding rows, the LM head).
    ///
    /// In an f32 file, the weight matrices of linear layers are stored in packed panels when their
    /// output count is a multiple of 48 (every BERT, DistilBERT and GPT-2
    /// block matrix; not the embedding tables, GPT-2's LM head, or a 2-label classifier).
    public static func storagePlan(name: String, shape: [Int], dtype: ModelDType, modelType: String) -> Plan {
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        let axis = modelType == "gpt2" && isConv1D(name) ? 1 : 0
        guard dtype != .f32, shape.count >= 2, count >= minReducedElements,
              !keepsF32(name, dtype: dtype) else {
            // Panels only in f32 files, so that f16, bf16 and int8 files stay readable by 1.0 readers
            // (their f32 heads are small and packed at load).
            let packed = dtype == .f32 && shape.count == 2 && name.hasSuffix(".weight") && !isTableOrLMHead(name)
                && SMMPanelLayout.accepts(shape: shape, axis: axis)
            return Plan(dtype: .f32, axis: packed ? axis : 0, packedPanels: packed)
        }
        if dtype == .q4 {
            // q4 blocks for the linear layers and the token embeddings whose inputs are a multiple of
            // 32; position embeddings and other shapes as int8 per channel.
            let positions = ["position_embeddings.weight", "wpe.weight"].contains { name.hasSuffix($0) }
            if !positions, SMMQ4Blocks.accepts(shape: shape, axis: axis) {
                return Plan(dtype: .u8, axis: axis, q4Blocks: true)
            }
            return Plan(dtype: .i8, axis: axis)
        }
        return Plan(dtype: dtype.matrixDType, axis: axis)
    }

    /// Embedding tables (read by row) and the LM head (tied to `wte`, or multiplied one row at a
    /// time): the rank-2 weights that are not linear layers of the blocks or encoder heads.
    static func isTableOrLMHead(_ name: String) -> Bool {
        name.contains("embeddings.") || name.hasSuffix("wte.weight") || name.hasSuffix("wpe.weight")
            || name.hasSuffix("lm_head.weight")
    }

    /// Tensors that stay f32 in a `dtype` file whatever their size. In every reduced dtype: the
    /// encoders' heads (BERT's pooler, DistilBERT's pre-classifier, the classifiers), which the
    /// engine runs in f32 at every dtype (they multiply one row per sequence), so storing them
    /// rounded would only add error, for a few hundred kilobytes. In f16 and bf16 files also the
    /// position and token-type embeddings (positions × hidden: about 1% of a model), a measurable
    /// share of bf16's error; in int8 files they are int8 per row like the word embeddings, their
    /// rounding being lost in that of the int8 matrices and activations. Measurements: Docs/FORMAT.md §6.
    static func keepsF32(_ name: String, dtype: ModelDType) -> Bool {
        if ["pooler.dense.weight", "classifier.weight"].contains(where: { name.hasSuffix($0) }) { return true }
        return dtype != .int8 && dtype != .q4
            && ["position_embeddings.weight", "token_type_embeddings.weight", "wpe.weight"].contains { name.hasSuffix($0) }
    }

    static func isConv1D(_ name: String) -> Bool {
        ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"].contains { name.hasSuffix($0) }
    }

    /// Conversion settings.
    public struct Options {
        /// Storage dtype of the matrices.
        public var dtype: ModelDType
        /// Replace an existing output file.
        public var overwrite: Bool
        /// Body checksum kind.
        public var checksum: SMMChecksumKind
        /// Called after each tensor is written.
        public var progress: ((SMMWriteProgress) -> Void)?
        /// Record the SHA-256 of every source file in the provenance (reads them all once more).
        /// When false, the source files are listed with their sizes and an empty checksum.
        public var hashSources: Bool
        /// Extra checks of the converted file before it is published (`smm-convert --verify`):
        /// called with the complete temporary file, opened, and the model loaded from it. What it
        /// throws fails the conversion, leaving the output path as it was.
        public var validate: ((_ file: SMMFile, _ model: LoadedModel) throws -> Void)?

        /// Makes settings; by default f32, no overwrite, an XXH64 body checksum, hashed sources and
        /// no checks beyond loading the converted model.
        public init(dtype: ModelDType = .f32, overwrite: Bool = false, checksum: SMMChecksumKind = .xxh64,
                    hashSources: Bool = true, progress: ((SMMWriteProgress) -> Void)? = nil,
                    validate: ((_ file: SMMFile, _ model: LoadedModel) throws -> Void)? = nil) {
            self.dtype = dtype
            self.overwrite = overwrite
            self.checksum = checksum
            self.hashSources = hashSources
            self.progress = progress
            self.validate = validate
        }
    }

    /// What a conversion wrote.
    public struct Report: Sendable {
        /// The output path.
        public var output: String
        /// The header written.
        public var header: SMMFileHeader
        /// The metadata written.
        public var metadata: SMMFileMetadata
        /// Number of tensors written (int8 scale vectors included).
        public var tensorCount: Int
        /// Bytes of the source weights.
        public var sourceWeightBytes: Int
    }

    // MARK: - Metadata

    /// The metadata a conversion of `directory` would write.
    /// - Throws: `FormatError` (config), `TokenizerError`, `ModelError.unsupportedModel` when the
    ///   tokenizer cannot be stored faithfully.
    public static func metadata(directory: URL, dtype: ModelDType, created: Date = Date(),
                                hashSources: Bool = true) throws -> SMMFileMetadata {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try ModelConfig.load(contentsOf: configURL)
        let configText = String(decoding: try Data(contentsOf: configURL), as: UTF8.self)
        let tokenizer: SMMTokenizerMetadata
        var pooling: String? = nil
        let maxLength: Int
        switch config {
        case .bert, .distilbert:
            let sentence = SentenceTransformersConfig(directory: directory)
            maxLength = max(2, min(sentence.maxSeqLength ?? config.maxPositions, config.maxPositions))
            pooling = sentence.pooling?.rawValue
            let original = try BertTokenizer.load(directory: directory, doLowerCase: nil, maxLength: maxLength)
            tokenizer = try SMMTokenizerCodec.metadata(of: original)
            let rebuilt = try SMMTokenizerCodec.bert(tokenizer, maxLength: maxLength)
            try checkSameTokenization(original, rebuilt)
        case .gpt2:
            maxLength = config.maxPositions
            let original = try GPT2Tokenizer.load(directory: directory)
            tokenizer = try SMMTokenizerCodec.metadata(of: original)
            let rebuilt = try SMMTokenizerCodec.gpt2(tokenizer)
            try checkSameTokenization(original, rebuilt)
        }
        let provenance = SMMProvenance(
            sourceName: directory.standardizedFileURL.lastPathComponent, sourcePath: directory.standardizedFileURL.path,
            sourceFiles: try sourceFiles(directory, hash: hashSources), converter: converterName, created: iso8601(created))
        return try SMMFileMetadata(configJSON: configText, tokenizer: tokenizer, defaultPooling: pooling,
                                   maxLength: maxLength, dtype: dtype, provenance: provenance)
    }

    /// Texts the rebuilt tokenizer must tokenize exactly like the original.
    static let probeTexts = [
        "Hello, world! This is a test.", "The quick brown fox jumps over the lazy dog.",
        "Tesla stock falls as investors worry about demand", "I absolutely loved this movie!!!",
        "  leading and trailing spaces  ", "tabs\tand\nnewlines\r\n", "Café naïve résumé Ångström",
        "中文字符 日本語 한국어", "emoji 😀🚀 and symbols ©®™ — “quotes”", "don't won't it's y'all",
        "numbers 3.14159 and 1,000,000 and 2024-01-01", "[CLS] [SEP] [MASK] [PAD] [UNK] <|endoftext|>",
        "supercalifragilisticexpialidocious antidisestablishmentarianism", "UPPER lower MiXeD",
        "a", "", "https://example.com/path?q=1&r=2", "C++ and C# and F#", "\u{00A0}non-breaking\u{2009}thin",
    ]

    static func checkSameTokenization(_ original: any Tokenizer, _ rebuilt: any Tokenizer) throws {
        for text in probeTexts {
            let a = try original.encode(text).ids, b = try rebuilt.encode(text).ids
            guard a == b else {
                throw ModelError.unsupportedModel("the tokenizer cannot be stored faithfully in an .smm file: "
                    + "\(String(reflecting: text)) tokenizes to \(a.prefix(12)) but the stored form gives \(b.prefix(12))")
            }
        }
    }

    /// The files of `directory` a model is built from, with their sizes and SHA-256.
    static func sourceFiles(_ directory: URL, hash: Bool = true) throws -> [SMMSourceFile] {
        var names = ["config.json", Checkpoint.singleFileName, Checkpoint.indexFileName, "tokenizer.json",
                     "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt",
                     "sentence_bert_config.json", "1_Pooling/config.json"]
        let fm = FileManager.default
        if !fm.fileExists(atPath: directory.appendingPathComponent(Checkpoint.singleFileName).path),
           fm.fileExists(atPath: directory.appendingPathComponent(Checkpoint.indexFileName).path) {
            let checkpoint = try Checkpoint.open(directory: directory)
            names += checkpoint.files.map { $0.url.lastPathComponent }
        }
        var files: [SMMSourceFile] = []
        for name in names {
            let url = directory.appendingPathComponent(name)
            guard fm.fileExists(atPath: url.path), !files.contains(where: { $0.name == name }) else { continue }
            let attributes = try? fm.attributesOfItem(atPath: url.path)
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? 0
            let digest: [UInt8]
            if !hash {
                files.append(SMMSourceFile(name: name, bytes: size, sha256: ""))
                continue
            } else if size == 0 {
                digest = SHA256.hash([UInt8]())
            } else {
                let mapping = try MappedFile(path: url.path)
                mapping.advise(.sequential)
                digest = withExtendedLifetime(mapping) { SHA256.hash(mapping.allBytes) }
            }
            files.append(SMMSourceFile(name: name, bytes: size, sha256: SHA256.hex(digest)))
        }
        return files
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    // MARK: - Conversion

    /// Converts the model in `directory` to an `.smm` file at `output` (atomically).
    ///
    /// Before anything is written, the output path is checked (`SMMFileWriter.checkDestination`;
    /// never one of the source's own files) and the checkpoint must not hold blocks the config does
    /// not have. Every float tensor must be finite (and, stored as f16, within its range). The
    /// complete temporary file is then loaded exactly as a user would load it, and checked by
    /// `options.validate`; only a file that loads is published, so a config that does not match
    /// its weights (vocabulary or position counts, a missing tensor, a wrong shape or dtype) fails
    /// here instead of at the user's first load.
    /// - Throws: `FormatError` (unreadable source, an output path that exists without `overwrite`,
    ///   is not a regular file or is a source file, write errors), `TokenizerError`, `ModelError`
    ///   (`unsupportedModel`: non-finite values, layers beyond the config, a converted model that
    ///   would not load), whatever `options.validate` throws.
    @discardableResult
    public static func convert(directory: URL, to output: URL, options: Options = Options()) throws -> Report {
        try checkOutput(output, source: directory, overwrite: options.overwrite)
        let config = try ModelConfig.load(contentsOf: directory.appendingPathComponent("config.json"))
        let checkpoint = try Checkpoint.open(directory: directory)
        try CheckpointConsistency.checkLayers(checkpoint.names, config: config)
        let metadata = try metadata(directory: directory, dtype: options.dtype, hashSources: options.hashSources)
        let modelType = metadata.architecture
        var writer = SMMFileWriter(metadata: metadata)
        writer.checksumKind = options.checksum
        for name in checkpoint.names {
            let view = try checkpoint.tensor(name)
            let shape = view.shape
            guard view.dtype.isConvertibleToF32 else {
                // Integer buffers (e.g. BERT's `position_ids`) are kept as they are.
                writer.add(name: name, dtype: view.dtype, shape: shape) { out in
                    view.withBytes { out.copyMemory(from: $0) }
                }
                continue
            }
            // The tensor as f32, checked finite.
            func finiteFloats() throws -> [Float] {
                let floats = try view.floats()
                try floats.withUnsafeBufferPointer { try checkFinite($0, tensor: name, source: view.dtype) }
                return floats
            }
            let plan = storagePlan(name: name, shape: shape, dtype: options.dtype, modelType: modelType)
            switch plan.dtype {
            case .u8 where plan.q4Blocks:
                let scaleName = SMMFileWriter.scaleName(for: name)
                guard !checkpoint.has(scaleName) else {
                    throw ModelError.unsupportedModel("the checkpoint already has a tensor named '\(scaleName)'")
                }
                let axis = plan.axis, scaleShape = SMMQ4Blocks.scaleShape(shape: shape, axis: axis)
                // The scales are computed with the codes (one pass) and kept until the scale tensor,
                // written right after, is filled.
                let scales = Q4ScaleHandoff()
                writer.add(name: name, dtype: .u8, shape: shape,
                           quantization: .q4Blocks(axis: axis, scaleTensor: scaleName)) { out in
                    let floats = try finiteFloats()
                    var bits = [UInt16](repeating: 0, count: scaleShape[0] * scaleShape[1])
                    let failed = floats.withUnsafeBufferPointer { src in
                        bits.withUnsafeMutableBufferPointer { b in
                            SMMQ4Blocks.quantize(src.baseAddress!, shape: shape, axis: axis,
                                                 values: out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                 scales: b.baseAddress!)
                        }
                    }
                    if let failed {
                        throw ModelError.invalidInput("tensor '\(name)' has values too large for q4 blocks "
                            + "(the block at output \(failed.output), input \(failed.input) needs a scale beyond f16's range)")
                    }
                    scales.bits = bits
                }
                writer.add(name: scaleName, dtype: .f16, shape: scaleShape) { out in
                    for (i, b) in scales.bits.enumerated() {
                        out.storeBytes(of: b.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    }
                    scales.bits = []
                }
            case .i8:
                let scaleName = SMMFileWriter.scaleName(for: name)
                guard !checkpoint.has(scaleName) else {
                    throw ModelError.unsupportedModel("the checkpoint already has a tensor named '\(scaleName)'")
                }
                let axis = plan.axis
                writer.add(name: name, dtype: .i8, shape: shape,
                           quantization: .int8PerChannel(axis: axis, scaleTensor: scaleName)) { out in
                    let floats = try finiteFloats()
                    floats.withUnsafeBufferPointer { src in
                        let scales = SMMQuantizer.int8Scales(src.baseAddress!, shape: shape, axis: axis)
                        SMMQuantizer.quantizeInt8(src.baseAddress!, shape: shape, axis: axis, scales: scales,
                                                  into: out.baseAddress!.assumingMemoryBound(to: Int8.self))
                    }
                }
                // Written right after the tensor, whose fill has checked the values.
                writer.add(name: scaleName, dtype: .f32, shape: [shape[axis]]) { out in
                    let floats = try view.floats()
                    let scales = floats.withUnsafeBufferPointer {
                        SMMQuantizer.int8Scales($0.baseAddress!, shape: shape, axis: axis)
                    }
                    scales.withUnsafeBufferPointer { SMMFileWriter.encode($0, as: .f32, into: out) }
                }
            case .f16, .bf16:
                let dtype = plan.dtype
                writer.add(name: name, dtype: dtype, shape: shape) { out in
                    let floats = try finiteFloats()
                    try floats.withUnsafeBufferPointer { src in
                        SMMFileWriter.encode(src, as: dtype, into: out)
                        try checkEncodedRange(src, encoded: UnsafeRawBufferPointer(out), as: dtype, tensor: name)
                    }
                }
            case .f32 where plan.packedPanels:
                let axis = plan.axis
                writer.add(name: name, dtype: .f32, shape: shape, quantization: .packedPanels(axis: axis)) { out in
                    let floats = try finiteFloats()
                    floats.withUnsafeBufferPointer {
                        SMMPanelLayout.pack($0.baseAddress!, shape: shape, axis: axis,
                                            into: out.baseAddress!.assumingMemoryBound(to: Float.self))
                    }
                }
            default:
                writer.add(name: name, dtype: .f32, shape: shape) { out in
                    #if _endian(little)
                    if view.dtype == .f32 {
                        view.withBytes { out.copyMemory(from: $0) }
                        // The writer's buffer is 64-byte aligned: scan the copy as floats.
                        let copied = UnsafeBufferPointer(start: out.baseAddress?.assumingMemoryBound(to: Float.self),
                                                         count: out.count / 4)
                        try checkFinite(copied, tensor: name, source: .f32)
                        return
                    }
                    #endif
                    let floats = try finiteFloats()
                    floats.withUnsafeBufferPointer { SMMFileWriter.encode($0, as: .f32, into: out) }
                }
            }
        }
        let header = try writer.write(to: output, overwrite: options.overwrite, progress: options.progress,
                                      validate: { temporary in
            // Load the file as a user would: what does not load is never published.
            let file: SMMFile
            let model: LoadedModel
            do {
                file = try SMMFile(path: temporary.path)
                model = try ModelLoader.load(file: file)
            } catch {
                let reason = "\(error)".replacingOccurrences(of: "'\(temporary.path)'", with: "the converted file")
                    .replacingOccurrences(of: temporary.path, with: "the converted file")
                throw ModelError.unsupportedModel("the converted model would not load, so '\(output.path)' was not "
                    + "written: \(reason)")
            }
            try options.validate?(file, model)
        })
        return Report(output: output.path, header: header, metadata: metadata, tensorCount: writer.tensors.count,
                      sourceWeightBytes: checkpoint.byteCount)
    }

    /// Throws unless `output` may be written: `SMMFileWriter.checkDestination`, and never a file of
    /// the `source` directory itself (same device and inode, so hard and symbolic links count).
    static func checkOutput(_ output: URL, source: URL, overwrite: Bool) throws {
        var target = stat()
        if stat(output.path, &target) == 0 {
            let fm = FileManager.default
            let names = ((try? fm.contentsOfDirectory(atPath: source.path)) ?? []).sorted() + ["1_Pooling/config.json"]
            for name in names {
                var info = stat()
                guard stat(source.appendingPathComponent(name).path, &info) == 0,
                      (info.st_mode & S_IFMT) == S_IFREG,
                      info.st_dev == target.st_dev, info.st_ino == target.st_ino else { continue }
                throw FormatError.writeFailed(path: output.path, reason: "it is the source's own \(name); "
                    + "write the .smm file to another path")
            }
        }
        try SMMFileWriter.checkDestination(output, overwrite: overwrite)
    }

    /// Throws when `values` (tensor `name`, read from `source` dtype) hold a NaN or an infinity:
    /// a model with one computes garbage (NaN outputs) for every input that reaches it.
    /// - Throws: `ModelError.unsupportedModel` naming the tensor, the value and its element index.
    static func checkFinite(_ values: UnsafeBufferPointer<Float>, tensor name: String, source: ElementType) throws {
        // A branch-free pass first (vectorizes); the index is looked for only when there is one.
        var exponents: UInt32 = 0
        for v in values { exponents = max(exponents, v.bitPattern & 0x7F80_0000) }
        guard exponents == 0x7F80_0000, let i = values.firstIndex(where: { !$0.isFinite }) else { return }
        let value = values[i]
        let shown = value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf")
        let converted = source == .f64 && !value.isNaN ? " (an f64 value beyond f32's range)" : ""
        throw ModelError.unsupportedModel("tensor '\(name)' has a non-finite value (\(shown)) at element \(i)\(converted); "
            + "the checkpoint is corrupt or was saved after training diverged")
    }

    /// Throws when a finite value of `values` became an infinity stored as `dtype` (f16's largest
    /// finite value is 65504; bf16 has f32's range but rounds up near its edge).
    /// - Throws: `ModelError.unsupportedModel` naming the tensor, the value and its element index.
    static func checkEncodedRange(_ values: UnsafeBufferPointer<Float>, encoded: UnsafeRawBufferPointer, as dtype: ElementType,
                                  tensor name: String, firstElement: Int = 0) throws {
        let mask: UInt16 = dtype == .f16 ? 0x7C00 : 0x7F80
        guard dtype == .f16 || dtype == .bf16, encoded.count >= 2 * values.count else { return }
        var exponents: UInt16 = 0
        for i in 0..<values.count {
            exponents = max(exponents, UInt16(littleEndian: encoded.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) & mask)
        }
        guard exponents == mask else { return }
        for i in 0..<values.count
        where UInt16(littleEndian: encoded.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) & mask == mask {
            throw rangeError(tensor: name, value: values[i], element: firstElement + i, dtype: dtype)
        }
    }

    /// The error for a finite `value` of tensor `name` that `dtype` (f16 or bf16) cannot hold.
    static func rangeError(tensor name: String, value: Float, element: Int, dtype: ElementType) -> ModelError {
        let largest = dtype == .f16 ? "65504" : "about 3.39e38"
        return ModelError.unsupportedModel("tensor '\(name)' has the value \(value) at element \(element), beyond "
            + "\(dtype.rawValue)'s range (largest finite value \(largest)); use another --dtype "
            + (dtype == .f16 ? "(bf16 or f32)" : "(f32)"))
    }

    // MARK: - Comparison

    /// How a converted model's outputs compare with its source directory's: one output kind, the
    /// figures of `QuantizationQuality.compare` plus what `smm-convert --verify` checks.
    public struct Comparison: Sendable {
        /// `embeddings`, `logits` (classification) or `lm-logits` (GPT-2).
        public var output: String
        /// Number of vectors compared.
        public var vectors: Int
        /// Largest absolute difference of any element; infinity when an output is not finite.
        public var maxAbsDiff: Float
        /// Smallest cosine similarity of a pair of vectors; 0 when an output is not finite.
        public var minCosine: Double
        /// For classification: whether every text got the same label.
        public var labelsEqual: Bool?
        /// Whether every text tokenized the same.
        public var tokenizationEqual: Bool
        /// The comparison these figures come from (mean 1 − cosine, worst text, arg max agreement).
        public var quality: QuantizationQuality
    }

    /// Runs both models on `texts` (default: a built-in set) and compares their outputs with
    /// `QuantizationQuality.compare` (`a` as the reference): the default-pooled embeddings and
    /// (when both have a head) classification logits for encoders, next-token logits for GPT-2.
    /// - Throws: `ModelError.invalidInput` when the models differ in kind, head or output size, or
    ///   no text has a token; errors of the models.
    public static func compare(_ a: LoadedModel, _ b: LoadedModel, texts: [String]? = nil) throws -> [Comparison] {
        let texts = texts ?? probeTexts.filter { !$0.isEmpty }
        switch (a, b) {
        case let (.encoder(x), .encoder(y)):
            let sameTokens = try texts.allSatisfy { try x.tokenizer.encode($0).ids == y.tokenizer.encode($0).ids }
            var results = [comparison("embeddings", try QuantizationQuality.compare(
                reference: .encoder(withoutHead(x)), candidate: .encoder(withoutHead(y)), texts: texts), sameTokens)]
            if x.model.hasClassifier && y.model.hasClassifier {
                var c = comparison("logits", try QuantizationQuality.compare(reference: a, candidate: b, texts: texts),
                                   sameTokens)
                c.labelsEqual = x.model.labels == y.model.labels && c.quality.argmaxAgreement == c.vectors
                results.append(c)
            }
            return results
        case let (.decoder(x), .decoder(y)):
            let sameTokens = texts.allSatisfy { x.tokenizer.encodeIDs($0) == y.tokenizer.encodeIDs($0) }
            return [comparison("lm-logits", try QuantizationQuality.compare(reference: a, candidate: b, texts: texts),
                               sameTokens)]
        default:
            throw ModelError.invalidInput("cannot compare a \(a.modelType) model with a \(b.modelType) model")
        }
    }

    /// `encoder` without its classification head (sharing its weights), so that
    /// `QuantizationQuality.compare` compares its embeddings.
    static func withoutHead(_ encoder: TextEncoder) -> TextEncoder {
        guard encoder.model.hasClassifier else { return encoder }
        let m = encoder.model
        return TextEncoder(model: EncoderModel(architecture: m.architecture, encoder: m.encoder, classifier: nil,
                                               labels: [], pool: m.pool),
                           tokenizer: encoder.tokenizer, defaultPooling: encoder.defaultPooling, maxBatch: encoder.maxBatch)
    }

    /// `quality` as a `Comparison` (NaN or infinite outputs never get here: `QuantizationQuality`
    /// throws `ModelError.nonFiniteOutput` for them).
    static func comparison(_ output: String, _ quality: QuantizationQuality, _ sameTokens: Bool) -> Comparison {
        Comparison(output: output, vectors: quality.vectors, maxAbsDiff: Float(quality.maxAbsDifference),
                   minCosine: quality.worstCosine, labelsEqual: nil,
                   tokenizationEqual: sameTokens, quality: quality)
    }
}

/// The f16 scales of a q4 tensor, handed from the fill of its codes to the fill of its scale
/// tensor (written next, on the same thread).
final class Q4ScaleHandoff: @unchecked Sendable {
    var bits: [UInt16] = []
}
