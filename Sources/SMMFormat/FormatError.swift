import Foundation

/// Everything that can go wrong while reading model files: memory-mapped files, safetensors,
/// checkpoint directories and Hugging Face `config.json` files.
///
/// Every case says what is wrong and where: the file path, and when it applies the tensor name,
/// the config key, the expected and the actual values. `description` is a complete sentence that
/// can be shown to a user as is.
public enum FormatError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {

    // MARK: Files

    /// A file or directory could not be opened or examined. `reason` is the system's text for errno
    /// (`No such file or directory`, `Permission denied`, ...).
    case cannotOpen(path: String, reason: String)
    /// The path exists but is not a regular file (a directory, a device, a socket...).
    case notARegularFile(path: String)
    /// The file is empty (0 bytes); there is nothing to map or read.
    case emptyFile(path: String)
    /// `mmap` refused to map the file.
    case mapFailed(path: String, reason: String)
    /// A byte range was asked for that is not inside the file.
    case outOfBounds(path: String, range: Range<Int>, fileSize: Int)

    // MARK: JSON (config.json, model.safetensors.index.json)

    /// A JSON file is not well formed, or not of the expected structure. `reason` says where.
    case invalidJSON(path: String, reason: String)

    // MARK: Safetensors

    /// The file is shorter than the 8-byte header length prefix.
    case fileTooSmall(path: String, size: Int)
    /// The header length prefix is larger than the accepted limit.
    case headerTooLarge(path: String, headerLength: UInt64, limit: Int)
    /// The header length prefix points past the end of the file.
    case headerBeyondFile(path: String, headerLength: UInt64, fileSize: Int)
    /// The JSON header is not well formed, or not of the shape safetensors requires.
    case invalidHeader(path: String, reason: String)
    /// Two header entries share one tensor name.
    case duplicateTensor(path: String, name: String)
    /// A tensor's `dtype` is not one of the known safetensors dtypes.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// A tensor's `shape` is invalid (negative or non-integer entry, element count overflow...).
    case invalidShape(path: String, tensor: String, reason: String)
    /// The byte length given by `data_offsets` does not match `dtype` size × element count.
    case sizeMismatch(path: String, tensor: String, dtype: ElementType, shape: [Int], expectedBytes: Int, actualBytes: Int)
    /// A tensor's `data_offsets` are reversed or reach past the end of the data section.
    case offsetsOutOfRange(path: String, tensor: String, begin: Int, end: Int, dataLength: Int)
    /// Two tensors share bytes of the data section.
    case overlappingTensors(path: String, first: String, firstRange: Range<Int>, second: String, secondRange: Range<Int>)

    // MARK: Tensors

    /// No tensor of that name. `tried` lists every name looked up (prefixed variants included).
    case tensorNotFound(name: String, location: String, tried: [String])
    /// The tensor's dtype cannot be used for the requested operation (e.g. `I64` read as floats).
    case unsupportedDType(path: String, tensor: String, dtype: ElementType, operation: String)
    /// The tensor does not have the shape the model needs.
    case shapeMismatch(path: String, tensor: String, expected: [Int], actual: [Int])
    /// The tensor does not have one of the dtypes the caller accepts.
    case dtypeMismatch(path: String, tensor: String, expected: [ElementType], actual: ElementType)
    /// A destination buffer has the wrong number of elements for the tensor.
    case bufferSizeMismatch(path: String, tensor: String, expectedCount: Int, actualCount: Int)

    // MARK: Checkpoints

    /// The directory holds no safetensors weights at all. `found` lists what it does hold.
    case noWeights(directory: String, found: [String])
    /// The directory holds only PyTorch pickle weights (`pytorch_model.bin`), which SMM does not read.
    case pickleWeightsOnly(directory: String, file: String)
    /// `model.safetensors.index.json` is malformed.
    case invalidIndex(path: String, reason: String)
    /// The index names a shard file that does not exist.
    case missingShard(index: String, shard: String)
    /// The index maps a tensor to a shard that does not contain it.
    case tensorNotInShard(index: String, tensor: String, shard: String)

    // MARK: Configs

    /// `model_type` is missing or not supported (and could not be inferred from `architectures`).
    case unsupportedModelType(path: String, modelType: String?, architectures: [String], supported: [String])
    /// A config key holds a value of the wrong type, or a value out of range.
    case invalidConfig(path: String, key: String, reason: String)

    // MARK: SMM files (.smm, see Docs/FORMAT.md)

    /// The file does not start with the `.smm` magic bytes. `reason` says what it looks like instead
    /// (a safetensors file, JSON, a zip archive...).
    case notSMMFile(path: String, reason: String)
    /// The file was written in a format version this reader cannot read (a newer major version).
    case unsupportedFormatVersion(path: String, major: Int, minor: Int, supportedMajor: Int)
    /// The file is shorter than its header says: truncated (an interrupted download or copy).
    case truncatedFile(path: String, expectedSize: Int, actualSize: Int)
    /// The file's structure is invalid: a header field or a section's offset or length.
    case invalidSMMFile(path: String, reason: String)
    /// Entry `index` of the tensor table is invalid. `name` is the tensor's name when it could be read.
    case invalidTensorEntry(path: String, index: Int, name: String?, reason: String)
    /// The metadata section is not valid JSON, or not of the structure the format requires.
    case invalidMetadata(path: String, reason: String)
    /// A checksum stored in the file does not match the bytes (`what`: the header, the metadata
    /// and tensor table, the body).
    case checksumMismatch(path: String, what: String, expected: String, actual: String)
    /// A file could not be written. `reason` is the system's text for errno, or what went wrong.
    case writeFailed(path: String, reason: String)
    /// The output file exists and overwriting it was not asked for.
    case outputExists(path: String)

    // MARK: - Description

    /// A complete sentence saying what is wrong and where.
    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open '\(path)': \(reason); check the path and its permissions"
        case let .notARegularFile(path):
            return "'\(path)' is not a regular file; give the path of the model file itself"
        case let .emptyFile(path):
            return "'\(path)' is empty (0 bytes); an empty file cannot be memory-mapped or parsed: download or convert it again"
        case let .mapFailed(path, reason):
            return "cannot memory-map '\(path)': \(reason)"
        case let .outOfBounds(path, range, fileSize):
            return "byte range \(range.lowerBound)..<\(range.upperBound) is outside '\(path)' (\(fileSize) bytes)"
        case let .invalidJSON(path, reason):
            return "invalid JSON in '\(path)': \(reason)"
        case let .fileTooSmall(path, size):
            return "'\(path)' is not a safetensors file: it is \(size) byte(s) long, shorter than the 8-byte header length; "
                + "download it again"
        case let .headerTooLarge(path, headerLength, limit):
            return "safetensors header of '\(path)' claims \(headerLength) bytes, more than the \(limit)-byte limit"
        case let .headerBeyondFile(path, headerLength, fileSize):
            return "safetensors header of '\(path)' claims \(headerLength) bytes, which with its 8-byte length prefix "
                + "does not fit in the file's \(fileSize) bytes (truncated or not a safetensors file); download it again"
        case let .invalidHeader(path, reason):
            return "invalid safetensors header in '\(path)': \(reason)"
        case let .duplicateTensor(path, name):
            return "safetensors header of '\(path)' lists tensor '\(name)' more than once"
        case let .unknownDType(path, tensor, dtype):
            return "tensor '\(tensor)' in '\(path)' has unknown dtype '\(dtype)' (known: \(ElementType.allCases.map(\.safetensorsName).joined(separator: ", ")))"
        case let .invalidShape(path, tensor, reason):
            return "tensor '\(tensor)' in '\(path)' has an invalid shape: \(reason)"
        case let .sizeMismatch(path, tensor, dtype, shape, expected, actual):
            return "tensor '\(tensor)' in '\(path)': dtype \(dtype.safetensorsName) with shape \(shape) needs \(expected) bytes but data_offsets span \(actual) bytes"
        case let .offsetsOutOfRange(path, tensor, begin, end, dataLength):
            if begin > end {
                return "tensor '\(tensor)' in '\(path)' has data_offsets [\(begin), \(end)] with begin after end"
            }
            return "tensor '\(tensor)' in '\(path)' has data_offsets [\(begin), \(end)] beyond the \(dataLength)-byte data section"
        case let .overlappingTensors(path, first, firstRange, second, secondRange):
            return "tensors '\(first)' [\(firstRange.lowerBound), \(firstRange.upperBound)) and '\(second)' [\(secondRange.lowerBound), \(secondRange.upperBound)) overlap in '\(path)'"
        case let .tensorNotFound(name, location, tried):
            if tried.count > 1 || (tried.count == 1 && tried[0] != name) {
                return "no tensor '\(name)' in '\(location)' (tried: \(tried.joined(separator: ", ")))"
            }
            return "no tensor '\(name)' in '\(location)'"
        case let .unsupportedDType(path, tensor, dtype, operation):
            return "tensor '\(tensor)' in '\(path)' has dtype \(dtype.safetensorsName), which is not supported for \(operation); "
                + "convert the checkpoint to F32, F16 or BF16"
        case let .shapeMismatch(path, tensor, expected, actual):
            return "tensor '\(tensor)' in '\(path)' has shape \(actual), expected \(expected)"
        case let .dtypeMismatch(path, tensor, expected, actual):
            return "tensor '\(tensor)' in '\(path)' has dtype \(actual.safetensorsName), expected \(expected.map(\.safetensorsName).joined(separator: " or "))"
        case let .bufferSizeMismatch(path, tensor, expectedCount, actualCount):
            return "tensor '\(tensor)' in '\(path)' has \(expectedCount) elements but the destination buffer holds \(actualCount)"
        case let .noWeights(directory, found):
            let listing = found.isEmpty ? "it is empty" : "it contains: \(found.joined(separator: ", "))"
            return "no model.safetensors or model.safetensors.index.json in '\(directory)'; \(listing). "
                + "Put the model's safetensors weights there, or give the folder that has them"
        case let .pickleWeightsOnly(directory, file):
            return "'\(directory)' has only PyTorch pickle weights ('\(file)'); SMM reads safetensors only. Convert them with: "
                + "python -c \"from transformers import AutoModel; m = AutoModel.from_pretrained('\(directory)'); "
                + "m.save_pretrained('\(directory)', safe_serialization=True)\" "
                + "(use the model's task class, e.g. AutoModelForSequenceClassification, to keep its head)"
        case let .invalidIndex(path, reason):
            return "invalid checkpoint index '\(path)': \(reason)"
        case let .missingShard(index, shard):
            return "checkpoint index '\(index)' names shard '\(shard)', which does not exist; download the missing shard"
        case let .tensorNotInShard(index, tensor, shard):
            return "checkpoint index '\(index)' maps tensor '\(tensor)' to shard '\(shard)', which does not contain it"
        case let .unsupportedModelType(path, modelType, architectures, supported):
            let what: String
            if let modelType {
                what = "model_type '\(modelType)' is not supported"
            } else if architectures.isEmpty {
                what = "it has no model_type (and no architectures to infer it from)"
            } else {
                what = "it has no model_type and its architectures \(architectures) are not recognised"
            }
            return "cannot use config '\(path)': \(what); use a model of a supported type: \(supported.joined(separator: ", "))"
        case let .invalidConfig(path, key, reason):
            return "invalid value for '\(key)' in config '\(path)': \(reason)"
        case let .notSMMFile(path, reason):
            return "'\(path)' is not an SMM model file: \(reason)"
        case let .unsupportedFormatVersion(path, major, minor, supportedMajor):
            if major == 0 {
                return "'\(path)' declares SMM format version \(major).\(minor), which does not exist (the file is damaged)"
            }
            return "'\(path)' uses SMM format version \(major).\(minor); this build reads version \(supportedMajor).x only. "
                + "Upgrade SmartModelManager, or convert the model again with this build's smm-convert"
        case let .truncatedFile(path, expectedSize, actualSize):
            return "'\(path)' is truncated: its header says \(expectedSize) bytes but the file has \(actualSize) "
                + "(an interrupted download or copy?)"
        case let .invalidSMMFile(path, reason):
            return "invalid SMM file '\(path)': \(reason)"
        case let .invalidTensorEntry(path, index, name, reason):
            if let name { return "invalid SMM file '\(path)': tensor table entry \(index) ('\(name)'): \(reason)" }
            return "invalid SMM file '\(path)': tensor table entry \(index): \(reason)"
        case let .invalidMetadata(path, reason):
            return "invalid metadata in SMM file '\(path)': \(reason)"
        case let .checksumMismatch(path, what, expected, actual):
            return "checksum mismatch in '\(path)': \(what) should hash to \(expected) but hashes to \(actual) "
                + "(the file is damaged or was modified)"
        case let .writeFailed(path, reason):
            return "cannot write '\(path)': \(reason)"
        case let .outputExists(path):
            return "'\(path)' already exists (use --force to overwrite it)"
        }
    }

    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }
}
