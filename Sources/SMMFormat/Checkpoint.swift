import Foundation
import SMMJSON

/// One tensor of a checkpoint: its description plus the mapping that holds its bytes.
///
/// The view keeps the file mapped (`owner`), so `bytes` stays valid for as long as the view (or any
/// copy of it) is alive. Nothing is copied until `floats()` or `copyFloats(into:)` is called.
public struct TensorView: Sendable {
    /// Name, dtype, shape and byte range (offsets in `owner`).
    public let info: TensorInfo
    /// The mapped file holding the bytes; keeps the mapping alive.
    public let owner: MappedFile

    /// Makes a view of the tensor `info` in `owner`. `info.byteRange` must lie inside the file.
    public init(info: TensorInfo, owner: MappedFile) {
        precondition(info.byteRange.lowerBound >= 0 && info.byteRange.upperBound <= owner.count,
                     "tensor '\(info.name)' byte range is outside '\(owner.path)'")
        self.info = info
        self.owner = owner
    }

    /// The tensor's name in the file it came from.
    public var name: String { info.name }
    /// Element type.
    public var dtype: ElementType { info.dtype }
    /// Dimensions, outermost first.
    public var shape: [Int] { info.shape }
    /// Number of elements.
    public var elementCount: Int { info.elementCount }
    /// Number of bytes.
    public var byteCount: Int { info.byteCount }
    /// Path of the file holding the tensor.
    public var path: String { owner.path }

    /// The raw little-endian bytes, in place in the mapping. Valid while this view (or `owner`) is
    /// alive: keep it alive with `withExtendedLifetime`, or use `withBytes(_:)`.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: owner.baseAddress + info.byteRange.lowerBound, count: info.byteCount)
    }

    /// Calls `body` with the raw bytes, keeping the mapping alive during the call.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(owner) { try body(bytes) }
    }

    /// True when the bytes start at a multiple of the dtype's size, so that they can be bound to the
    /// element type directly (`bytes.assumingMemoryBound(to: Float.self)` for F32). Files written by
    /// the `safetensors` library are aligned; others may not be.
    public var isAligned: Bool {
        Int(bitPattern: owner.baseAddress + info.byteRange.lowerBound) % dtype.byteSize == 0
    }

    /// The tensor converted to `Float` (a copy). Accepts F32, F16, BF16 and F64.
    /// - Throws: `FormatError.unsupportedDType` for other dtypes.
    public func floats() throws -> [Float] {
        try SafetensorsFile.floats(info: info, mapping: owner)
    }

    /// Converts the tensor to `Float` into `destination`, which must hold exactly `elementCount` floats.
    /// - Throws: `FormatError.unsupportedDType`, `.bufferSizeMismatch`.
    public func copyFloats(into destination: UnsafeMutableBufferPointer<Float>) throws {
        try SafetensorsFile.copyFloats(info: info, mapping: owner, into: destination)
    }

    /// Returns the view when its shape is `expected`.
    /// - Throws: `FormatError.shapeMismatch` naming the tensor, the expected and the actual shape.
    @discardableResult
    public func expectShape(_ expected: [Int]) throws -> TensorView {
        guard shape == expected else {
            throw FormatError.shapeMismatch(path: path, tensor: name, expected: expected, actual: shape)
        }
        return self
    }

    /// Returns the view when its dtype is one of `allowed`.
    /// - Throws: `FormatError.dtypeMismatch`.
    @discardableResult
    public func expectDType(_ allowed: [ElementType]) throws -> TensorView {
        guard allowed.contains(dtype) else {
            throw FormatError.dtypeMismatch(path: path, tensor: name, expected: allowed, actual: dtype)
        }
        return self
    }

    /// Asks the kernel to read the tensor's pages in now (`MADV_WILLNEED`).
    @discardableResult
    public func willNeed() -> Bool {
        owner.willNeed(info.byteRange)
    }
}

/// The weights of one model: a single `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (as written by Hugging Face `save_pretrained`).
///
/// All files are memory-mapped and validated when the checkpoint is opened; shards are checked
/// against the index (every listed shard exists, every mapped tensor is in its shard). Tensor
/// bytes are never copied until converted.
///
/// Checkpoints differ in key prefixes (`bert.encoder.layer.0...` in a `BertForSequenceClassification`
/// checkpoint, `encoder.layer.0...` in a `BertModel` one); callers find the stored name with
/// `resolve(_:prefixes:)` or `tensor(_:prefixes:)`.
public struct Checkpoint: Sendable {
    /// The single-file weights name.
    public static let singleFileName = "model.safetensors"
    /// The shard index name.
    public static let indexFileName = "model.safetensors.index.json"

    /// The directory the checkpoint was opened from (for a single file: its directory).
    public let directory: URL
    /// The safetensors files, in shard-name order (one for an unsharded checkpoint).
    public let files: [SafetensorsFile]
    /// The index file when the checkpoint is sharded.
    public let indexURL: URL?
    /// All tensor names, sorted.
    public let names: [String]

    /// Tensor name → position in `files`.
    private let location: [String: Int]

    private init(directory: URL, files: [SafetensorsFile], indexURL: URL?, location: [String: Int]) {
        self.directory = directory
        self.files = files
        self.indexURL = indexURL
        self.location = location
        self.names = location.keys.sorted()
    }

    /// Opens the checkpoint in `directory`: `model.safetensors` if present, else the shards named by
    /// `model.safetensors.index.json`.
    /// - Throws: `FormatError`: `.pickleWeightsOnly` for a directory with only `pytorch_model.bin`
    ///   (with the command that converts it), `.noWeights` when there are no weights at all,
    ///   `.invalidIndex` / `.missingShard` / `.tensorNotInShard` for a bad index, and any safetensors
    ///   validation error of the files.
    public static func open(directory: URL) throws -> Checkpoint {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw FormatError.cannotOpen(path: directory.path, reason: "No such file or directory")
        }
        guard isDirectory.boolValue else {
            if directory.pathExtension == "safetensors" { return try open(file: directory) }
            throw FormatError.cannotOpen(path: directory.path, reason: "not a directory")
        }

        let single = directory.appendingPathComponent(singleFileName)
        if fileManager.fileExists(atPath: single.path) {
            return try open(file: single)
        }
        let index = directory.appendingPathComponent(indexFileName)
        if fileManager.fileExists(atPath: index.path) {
            return try openSharded(index: index, directory: directory)
        }

        let contents: [String]
        do {
            contents = try fileManager.contentsOfDirectory(atPath: directory.path).sorted()
        } catch {
            throw FormatError.cannotOpen(path: directory.path, reason: "\(error.localizedDescription)")
        }
        let pickle = ["pytorch_model.bin", "pytorch_model.bin.index.json"].first(where: contents.contains)
            ?? contents.first(where: { $0.hasPrefix("pytorch_model") && $0.hasSuffix(".bin") })
        if let pickle {
            throw FormatError.pickleWeightsOnly(directory: directory.path, file: pickle)
        }
        throw FormatError.noWeights(directory: directory.path, found: contents)
    }

    /// Opens a single safetensors file as a checkpoint.
    /// - Throws: any `FormatError` of `SafetensorsFile.init(url:)`.
    public static func open(file: URL) throws -> Checkpoint {
        let safetensors = try SafetensorsFile(url: file)
        var location: [String: Int] = [:]
        for name in safetensors.tensorNames { location[name] = 0 }
        return Checkpoint(directory: file.deletingLastPathComponent(), files: [safetensors], indexURL: nil,
                          location: location)
    }

    private static func openSharded(index: URL, directory: URL) throws -> Checkpoint {
        let indexPath = index.path
        let root: JSONValue
        do {
            root = try readJSONFile(index, rejectDuplicateKeys: true)
        } catch let FormatError.invalidJSON(_, reason) {
            throw FormatError.invalidIndex(path: indexPath, reason: reason)
        }
        guard case let .object(top) = root else {
            throw FormatError.invalidIndex(path: indexPath, reason: "expected a JSON object at the top level, found \(root.kindDescription)")
        }
        guard let weightMapValue = top["weight_map"] else {
            throw FormatError.invalidIndex(path: indexPath, reason: "no \"weight_map\"")
        }
        guard case let .object(weightMap) = weightMapValue else {
            throw FormatError.invalidIndex(path: indexPath, reason: "\"weight_map\" must be an object, found \(weightMapValue.kindDescription)")
        }
        guard weightMap.count > 0 else {
            throw FormatError.invalidIndex(path: indexPath, reason: "\"weight_map\" is empty")
        }
        var shardOf: [String: String] = [:]
        for tensor in weightMap.keys {
            guard let value = weightMap[tensor], case let .string(shard) = value else {
                throw FormatError.invalidIndex(path: indexPath, reason: "\"weight_map\" entry for '\(tensor)' must be a file name string, found \(weightMap[tensor]?.kindDescription ?? "nothing")")
            }
            guard isPlainFileName(shard) else {
                throw FormatError.invalidIndex(path: indexPath, reason: "shard name '\(shard)' for '\(tensor)' must be a plain file name in the checkpoint directory")
            }
            shardOf[tensor] = shard
        }

        let shardNames = Set(shardOf.values).sorted()
        var files: [SafetensorsFile] = []
        var shardIndex: [String: Int] = [:]
        for shard in shardNames {
            let url = directory.appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw FormatError.missingShard(index: indexPath, shard: shard)
            }
            shardIndex[shard] = files.count
            files.append(try SafetensorsFile(url: url))
        }
        var location: [String: Int] = [:]
        for tensor in weightMap.keys {
            guard let shard = shardOf[tensor], let position = shardIndex[shard] else { continue }
            guard files[position].contains(tensor) else {
                throw FormatError.tensorNotInShard(index: indexPath, tensor: tensor, shard: shard)
            }
            location[tensor] = position
        }
        return Checkpoint(directory: directory, files: files, indexURL: index, location: location)
    }

    private static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\\")
            && !name.contains("\0")
    }

    /// Where messages say the checkpoint is.
    public var locationDescription: String { indexURL?.path ?? files.first?.path ?? directory.path }

    /// Whether the checkpoint has a tensor of exactly that name.
    public func has(_ name: String) -> Bool { location[name] != nil }

    /// Dtype, shape and byte range of a tensor, or nil.
    public func info(_ name: String) -> TensorInfo? {
        guard let position = location[name] else { return nil }
        return files[position].info(name)
    }

    /// A view of the tensor stored under exactly `name`.
    /// - Throws: `FormatError.tensorNotFound`.
    public func tensor(_ name: String) throws -> TensorView {
        guard let position = location[name], let info = files[position].info(name) else {
            throw FormatError.tensorNotFound(name: name, location: locationDescription, tried: [name])
        }
        return TensorView(info: info, owner: files[position].mapping)
    }

    /// The first of `prefix + name` for `prefix` in `prefixes`, in order, that the checkpoint has;
    /// nil when none. Pass `""` among the prefixes to try the bare name, e.g.
    /// `resolve("encoder.layer.0.output.dense.weight", prefixes: ["bert.", ""])`.
    /// With no prefixes, the bare name is tried.
    public func resolve(_ name: String, prefixes: [String]) -> String? {
        for candidate in Checkpoint.candidates(name, prefixes: prefixes) where has(candidate) {
            return candidate
        }
        return nil
    }

    /// The tensor stored under the first of `prefix + name` (see `resolve(_:prefixes:)`).
    /// - Throws: `FormatError.tensorNotFound` listing every name tried.
    public func tensor(_ name: String, prefixes: [String]) throws -> TensorView {
        guard let resolved = resolve(name, prefixes: prefixes) else {
            throw FormatError.tensorNotFound(name: name, location: locationDescription,
                                             tried: Checkpoint.candidates(name, prefixes: prefixes))
        }
        return try tensor(resolved)
    }

    private static func candidates(_ name: String, prefixes: [String]) -> [String] {
        prefixes.isEmpty ? [name] : prefixes.map { $0 + name }
    }

    /// Asks the kernel to read every file of the checkpoint in now (`MADV_WILLNEED`).
    public func willNeed() {
        for file in files { file.mapping.willNeed() }
    }

    /// Total size of the mapped files in bytes.
    public var byteCount: Int { files.reduce(0) { $0 + $1.mapping.count } }
}

/// Reads and parses a JSON file (through a read-only mapping).
/// - Throws: `FormatError.cannotOpen` / `.emptyFile` / ... for file problems, `.invalidJSON` for bad JSON.
func readJSONFile(_ url: URL, rejectDuplicateKeys: Bool = false) throws -> JSONValue {
    let file = try MappedFile(url: url)
    defer { withExtendedLifetime(file) {} }
    do {
        return try JSONParser.parse(file.allBytes, rejectDuplicateKeys: rejectDuplicateKeys)
    } catch {
        throw FormatError.invalidJSON(path: url.path, reason: error.description)
    }
}
