import Foundation
import SMMJSON

/// Where one tensor lives in a safetensors file and what it holds.
public struct TensorInfo: Sendable, Equatable, Hashable {
    /// The tensor's name in the file (`bert.encoder.layer.0.attention.self.query.weight`).
    public var name: String
    /// Element type.
    public var dtype: ElementType
    /// Dimensions, outermost first (row-major). Empty for a scalar.
    public var shape: [Int]
    /// The tensor's bytes as offsets from the start of the *file* (not of the data section),
    /// usable directly with `MappedFile.bytes(in:)`.
    public var byteRange: Range<Int>

    /// Makes a tensor description.
    public init(name: String, dtype: ElementType, shape: [Int], byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteRange = byteRange
    }

    /// Number of elements (product of `shape`; 1 for a scalar). Checked against overflow when the
    /// file was opened.
    public var elementCount: Int { shape.contains(0) ? 0 : shape.reduce(1, *) }

    /// Number of bytes.
    public var byteCount: Int { byteRange.count }
}

/// A read-only, memory-mapped safetensors file.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}`,
/// then the tensor data (offsets relative to the start of the data).
///
/// Opening validates the whole header: length prefix within the file and at most
/// `maxHeaderLength`; strict, well-formed JSON of the right shape; unique names; known dtypes;
/// non-negative shapes with overflow-checked element counts; `data_offsets` inside the data with
/// `end − begin == dtype size × element count`; no two tensors overlapping. After that no access
/// can read outside the file.
///
/// Tensor bytes are views into the mapping, not copies: a buffer from `rawBytes(_:)` stays valid as
/// long as this value (more precisely its `mapping`) is alive.
public struct SafetensorsFile: Sendable {
    /// Largest header accepted (100 MB); real headers are a few hundred kilobytes at most.
    public static let maxHeaderLength = 100_000_000

    /// The file's location.
    public let url: URL
    /// The mapping of the whole file; holding it keeps tensor buffers valid.
    public let mapping: MappedFile
    /// The `__metadata__` table (empty when absent), e.g. `["format": "pt"]`.
    public let metadata: [String: String]
    /// Names of all tensors, sorted.
    public let tensorNames: [String]
    /// Offset of the data section from the start of the file (8 + header length).
    public let dataStart: Int

    private let infos: [String: TensorInfo]

    /// Maps and validates the safetensors file at `url`.
    /// - Throws: `FormatError` saying what is wrong and where.
    public init(url: URL) throws {
        let mapping = try MappedFile(url: url)
        try self.init(mapping: mapping, url: url)
    }

    /// Validates an already mapped file.
    /// - Throws: `FormatError` saying what is wrong and where.
    public init(mapping: MappedFile, url: URL? = nil) throws {
        self.mapping = mapping
        self.url = url ?? URL(fileURLWithPath: mapping.path)
        let parsed = try SafetensorsFile.parseHeader(mapping.allBytes, path: mapping.path)
        self.infos = parsed.infos
        self.metadata = parsed.metadata
        self.dataStart = parsed.dataStart
        self.tensorNames = parsed.infos.keys.sorted()
    }

    /// The file's path, for messages.
    public var path: String { mapping.path }

    /// Number of tensors.
    public var count: Int { infos.count }

    /// Whether the file has a tensor of that name.
    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// Dtype, shape and byte range of a tensor, or nil when there is none of that name.
    public func info(_ name: String) -> TensorInfo? { infos[name] }

    /// All tensor descriptions, sorted by name.
    public var allInfos: [TensorInfo] { tensorNames.compactMap { infos[$0] } }

    /// The tensor's bytes, without copying (any dtype).
    ///
    /// The buffer points into the mapping: it is valid while this `SafetensorsFile` (or its
    /// `mapping`) is alive; keep it alive with `withExtendedLifetime` or use `withRawBytes(_:_:)`.
    /// The buffer may not be aligned to the dtype's size; read it with `loadUnaligned`, or check
    /// `TensorView.isAligned`.
    /// - Throws: `FormatError.tensorNotFound`.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try requireInfo(name)
        return try mapping.bytes(in: info.byteRange)
    }

    /// Calls `body` with the tensor's bytes; the mapping is kept alive for the duration of the call.
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let bytes = try rawBytes(name)
        return try withExtendedLifetime(mapping) { try body(bytes) }
    }

    /// The tensor converted to `Float` (a copy). Accepts F32, F16, BF16 and F64.
    /// - Throws: `FormatError.tensorNotFound`, or `.unsupportedDType` for integer and 8-bit types.
    public func floats(_ name: String) throws -> [Float] {
        let info = try requireInfo(name)
        return try SafetensorsFile.floats(info: info, mapping: mapping)
    }

    /// Converts the tensor to `Float` into `destination`, which must hold exactly its element count.
    /// - Throws: `FormatError.tensorNotFound`, `.unsupportedDType`, `.bufferSizeMismatch`.
    public func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let info = try requireInfo(name)
        try SafetensorsFile.copyFloats(info: info, mapping: mapping, into: destination)
    }

    /// A view of one tensor that keeps the mapping alive.
    /// - Throws: `FormatError.tensorNotFound`.
    public func view(_ name: String) throws -> TensorView {
        TensorView(info: try requireInfo(name), owner: mapping)
    }

    private func requireInfo(_ name: String) throws -> TensorInfo {
        guard let info = infos[name] else {
            throw FormatError.tensorNotFound(name: name, location: path, tried: [name])
        }
        return info
    }

    // MARK: - Conversion helpers shared with TensorView

    static func floats(info: TensorInfo, mapping: MappedFile) throws -> [Float] {
        guard info.dtype.isConvertibleToF32 else {
            throw FormatError.unsupportedDType(path: mapping.path, tensor: info.name, dtype: info.dtype,
                                               operation: "conversion to Float32")
        }
        let count = info.elementCount
        let source = try mapping.bytes(in: info.byteRange)
        return withExtendedLifetime(mapping) {
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0, let src = source.baseAddress, let dst = buffer.baseAddress {
                    convertToF32(info.dtype, src: src, dst: dst, count: count)
                }
                initialized = count
            }
        }
    }

    static func copyFloats(info: TensorInfo, mapping: MappedFile,
                           into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard info.dtype.isConvertibleToF32 else {
            throw FormatError.unsupportedDType(path: mapping.path, tensor: info.name, dtype: info.dtype,
                                               operation: "conversion to Float32")
        }
        let count = info.elementCount
        guard destination.count == count else {
            throw FormatError.bufferSizeMismatch(path: mapping.path, tensor: info.name,
                                                 expectedCount: count, actualCount: destination.count)
        }
        let source = try mapping.bytes(in: info.byteRange)
        withExtendedLifetime(mapping) {
            if count > 0, let src = source.baseAddress, let dst = destination.baseAddress {
                convertToF32(info.dtype, src: src, dst: dst, count: count)
            }
        }
    }

    // MARK: - Header parsing

    struct ParsedHeader {
        var infos: [String: TensorInfo]
        var metadata: [String: String]
        var dataStart: Int
    }

    /// Parses and validates the header of the safetensors file whose bytes are `file`.
    static func parseHeader(_ file: UnsafeRawBufferPointer, path: String) throws -> ParsedHeader {
        let fileSize = file.count
        guard fileSize >= 8, let base = file.baseAddress else {
            throw FormatError.fileTooSmall(path: path, size: fileSize)
        }
        let declared = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(maxHeaderLength) else {
            throw FormatError.headerTooLarge(path: path, headerLength: declared, limit: maxHeaderLength)
        }
        let headerLength = Int(declared)
        guard headerLength <= fileSize - 8 else {
            throw FormatError.headerBeyondFile(path: path, headerLength: declared, fileSize: fileSize)
        }
        guard headerLength > 0 else {
            throw FormatError.invalidHeader(path: path, reason: "the header is empty (length 0)")
        }
        let dataStart = 8 + headerLength
        let dataLength = fileSize - dataStart
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<dataStart])

        let root: JSONValue
        do {
            root = try JSONParser.parse(headerBytes, rejectDuplicateKeys: true, maxDepth: 16)
        } catch {
            if let key = error.duplicateKey, error.depth == 1 {
                throw FormatError.duplicateTensor(path: path, name: key)
            }
            throw FormatError.invalidHeader(path: path, reason: "\(error.message) at byte \(error.offset) of the header")
        }
        guard case let .object(top) = root else {
            throw FormatError.invalidHeader(path: path, reason: "expected a JSON object at the top level, found \(root.kindDescription)")
        }

        var infos: [String: TensorInfo] = [:]
        infos.reserveCapacity(top.count)
        var metadata: [String: String] = [:]
        var spans: [(range: Range<Int>, name: String)] = []
        spans.reserveCapacity(top.count)

        for name in top.keys {
            guard let value = top[name] else { continue }
            if name == "__metadata__" {
                metadata = try parseMetadata(value, path: path)
                continue
            }
            let info = try parseTensor(name: name, value: value, path: path,
                                       dataStart: dataStart, dataLength: dataLength)
            infos[name] = info
            if !info.byteRange.isEmpty { spans.append((info.byteRange, name)) }
        }

        // No two tensors may share bytes.
        spans.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        if var previous = spans.first {
            for span in spans.dropFirst() {
                if span.range.lowerBound < previous.range.upperBound {
                    throw FormatError.overlappingTensors(
                        path: path,
                        first: previous.name, firstRange: (previous.range.lowerBound - dataStart)..<(previous.range.upperBound - dataStart),
                        second: span.name, secondRange: (span.range.lowerBound - dataStart)..<(span.range.upperBound - dataStart))
                }
                if span.range.upperBound > previous.range.upperBound { previous = span }
            }
        }
        return ParsedHeader(infos: infos, metadata: metadata, dataStart: dataStart)
    }

    private static func parseMetadata(_ value: JSONValue, path: String) throws -> [String: String] {
        guard case let .object(object) = value else {
            throw FormatError.invalidHeader(path: path, reason: "__metadata__ must be an object of strings, found \(value.kindDescription)")
        }
        var metadata: [String: String] = [:]
        for key in object.keys {
            guard let entry = object[key], case let .string(string) = entry else {
                throw FormatError.invalidHeader(path: path, reason: "__metadata__ value for '\(key)' must be a string, found \(object[key]?.kindDescription ?? "nothing")")
            }
            metadata[key] = string
        }
        return metadata
    }

    private static func parseTensor(name: String, value: JSONValue, path: String,
                                    dataStart: Int, dataLength: Int) throws -> TensorInfo {
        guard case let .object(entry) = value else {
            throw FormatError.invalidHeader(path: path, reason: "entry for tensor '\(name)' must be an object, found \(value.kindDescription)")
        }
        // dtype
        guard let dtypeValue = entry["dtype"] else {
            throw FormatError.invalidHeader(path: path, reason: "tensor '\(name)' has no \"dtype\"")
        }
        guard case let .string(dtypeName) = dtypeValue else {
            throw FormatError.invalidHeader(path: path, reason: "\"dtype\" of tensor '\(name)' must be a string, found \(dtypeValue.kindDescription)")
        }
        guard let dtype = ElementType(safetensorsName: dtypeName) else {
            throw FormatError.unknownDType(path: path, tensor: name, dtype: dtypeName)
        }
        // shape
        guard let shapeValue = entry["shape"] else {
            throw FormatError.invalidHeader(path: path, reason: "tensor '\(name)' has no \"shape\"")
        }
        guard case let .array(shapeArray) = shapeValue else {
            throw FormatError.invalidShape(path: path, tensor: name, reason: "\"shape\" must be an array, found \(shapeValue.kindDescription)")
        }
        var shape: [Int] = []
        shape.reserveCapacity(shapeArray.count)
        var elements = 1
        var overflow = false
        for (axis, dimension) in shapeArray.enumerated() {
            guard case let .number(text) = dimension else {
                throw FormatError.invalidShape(path: path, tensor: name, reason: "entry \(axis) must be an integer, found \(dimension.kindDescription)")
            }
            guard dimension.isIntegerLiteral else {
                throw FormatError.invalidShape(path: path, tensor: name, reason: "entry \(axis) (\(text)) is not an integer")
            }
            if text.hasPrefix("-") && text != "-0" {
                throw FormatError.invalidShape(path: path, tensor: name, reason: "entry \(axis) (\(text)) is negative")
            }
            guard let size = dimension.exactInt else {
                throw FormatError.invalidShape(path: path, tensor: name, reason: "entry \(axis) (\(text)) is too large")
            }
            shape.append(size)
            if !overflow {
                let (product, didOverflow) = elements.multipliedReportingOverflow(by: size)
                if didOverflow { overflow = true } else { elements = product }
            }
        }
        // A zero dimension makes the count 0 whatever the other dimensions are.
        if overflow && !shape.contains(0) {
            throw FormatError.invalidShape(path: path, tensor: name, reason: "the element count of shape \(shape) overflows")
        }
        if overflow { elements = 0 }
        let (expectedBytes, bytesOverflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        if bytesOverflow {
            throw FormatError.invalidShape(path: path, tensor: name, reason: "the byte size of shape \(shape) overflows")
        }
        // data_offsets
        guard let offsetsValue = entry["data_offsets"] else {
            throw FormatError.invalidHeader(path: path, reason: "tensor '\(name)' has no \"data_offsets\"")
        }
        guard case let .array(offsets) = offsetsValue, offsets.count == 2,
              offsets[0].isIntegerLiteral, offsets[1].isIntegerLiteral,
              case let .number(beginText) = offsets[0], case let .number(endText) = offsets[1],
              !beginText.hasPrefix("-") || beginText == "-0", !endText.hasPrefix("-") || endText == "-0" else {
            throw FormatError.invalidHeader(path: path, reason: "\"data_offsets\" of tensor '\(name)' must be two non-negative integers, found \(offsetsValue.brief)")
        }
        guard let begin = offsets[0].exactInt, let end = offsets[1].exactInt else {
            throw FormatError.invalidHeader(path: path, reason: "\"data_offsets\" [\(beginText), \(endText)] of tensor '\(name)' are beyond the \(dataLength)-byte data section")
        }
        guard begin <= end, end <= dataLength else {
            throw FormatError.offsetsOutOfRange(path: path, tensor: name, begin: begin, end: end, dataLength: dataLength)
        }
        guard end - begin == expectedBytes else {
            throw FormatError.sizeMismatch(path: path, tensor: name, dtype: dtype, shape: shape,
                                           expectedBytes: expectedBytes, actualBytes: end - begin)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape,
                          byteRange: (dataStart + begin)..<(dataStart + end))
    }
}
