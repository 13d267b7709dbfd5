// Reading `.smm` files: map, validate everything the tensors will be read through, expose tensors in
// place. Every count, offset, length, shape, dtype and string of the header and the tensor table is
// checked before use, with overflow-checked arithmetic and hard caps, so that no file, however made,
// can make the reader read outside the mapping, allocate without bound, or trap. Every failure is a
// `FormatError`.
//
// Opening costs the header, the metadata and the tensor table (and their XXH64 checksums), not the
// size of the weights: tensor bytes are only touched when a tensor is read, or by `verifyBody()`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SMMJSON

/// What `SMMFile` checks when it opens a file.
public struct SMMFileReadOptions: Sendable {
    /// Verify the header checksum and the structure checksum (metadata + tensor table). Cheap
    /// (they cover a few hundred kilobytes at most); on by default. The fuzz target turns it off to
    /// reach the validation behind it.
    public var verifyStructureChecksums: Bool
    /// Verify the body checksum (every byte after the header, weights included): reads the whole file.
    public var verifyBody: Bool

    /// The defaults: structure checksums on, body checksum off.
    public init(verifyStructureChecksums: Bool = true, verifyBody: Bool = false) {
        self.verifyStructureChecksums = verifyStructureChecksums
        self.verifyBody = verifyBody
    }
}

/// A validated, memory-mapped `.smm` model file.
///
/// Immutable after `init`, hence safe to share between threads. Tensor bytes point into the mapping:
/// they stay valid while this object is alive.
public final class SMMFile: Sendable {
    /// The mapping of the whole file.
    public let mapping: MappedFile
    /// The fixed header.
    public let header: SMMFileHeader
    /// The metadata section.
    public let metadata: SMMFileMetadata
    /// The tensor table, in file order.
    public let tensors: [SMMTensorEntry]
    private let positions: [String: Int]

    /// Maps and validates the file at `path`.
    /// - Throws: `FormatError` saying what is wrong and where.
    public convenience init(path: String, options: SMMFileReadOptions = SMMFileReadOptions()) throws {
        try self.init(mapping: try MappedFile(path: path), options: options)
    }

    /// Validates an already mapped file.
    /// - Throws: `FormatError` saying what is wrong and where.
    public init(mapping: MappedFile, options: SMMFileReadOptions = SMMFileReadOptions()) throws {
        let contents = try withExtendedLifetime(mapping) {
            try SMMFileReader.parse(mapping.allBytes, path: mapping.path, options: options)
        }
        self.mapping = mapping
        self.header = contents.header
        self.metadata = contents.metadata
        self.tensors = contents.tensors
        var positions: [String: Int] = [:]
        positions.reserveCapacity(contents.tensors.count)
        for (i, entry) in contents.tensors.enumerated() { positions[entry.name] = i }
        self.positions = positions
    }

    /// The file's path.
    public var path: String { mapping.path }

    /// The tensor table index of `name`, or nil.
    public func index(of name: String) -> Int? { positions[name] }

    /// The table entry of `name`, or nil.
    public func entry(_ name: String) -> SMMTensorEntry? { positions[name].map { tensors[$0] } }

    /// The scale tensor of an int8 (f32 scales) or q4 (f16 scales) tensor, or nil when `entry` is not quantized.
    public func scaleEntry(for entry: SMMTensorEntry) -> SMMTensorEntry? {
        switch entry.quantization {
        case let .int8PerChannel(_, scaleTensor), let .q4Blocks(_, scaleTensor): return tensors[scaleTensor]
        default: return nil
        }
    }

    /// The tensor's raw little-endian bytes, in place in the mapping (64-byte aligned). Valid while
    /// this object is alive: keep it alive with `withExtendedLifetime`.
    public func rawBytes(_ entry: SMMTensorEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping.baseAddress + entry.dataOffset, count: entry.byteLength)
    }

    /// Converts the tensor to float32 into `destination` (exactly `elementCount` floats): f32, f16,
    /// bf16 and f64 are converted, int8 with per-channel scales dequantized.
    /// - Throws: `FormatError.unsupportedDType` for other dtypes, `.bufferSizeMismatch`.
    public func copyFloats(_ entry: SMMTensorEntry, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try withExtendedLifetime(mapping) {
            try SMMFileReader.copyFloats(entry, tensors: tensors, file: mapping.allBytes, path: path, into: destination)
        }
    }

    /// The tensor `name` as float32 (a copy; dequantized when int8).
    /// - Throws: `FormatError.tensorNotFound`, `.unsupportedDType`.
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entry(name) else { throw FormatError.tensorNotFound(name: name, location: path, tried: [name]) }
        return try [Float](unsafeUninitializedCapacity: entry.elementCount) { buffer, initialized in
            try copyFloats(entry, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<entry.elementCount]))
            initialized = entry.elementCount
        }
    }

    /// Recomputes the body checksum (every byte after the header) and compares it with the header's.
    /// Reads the whole file.
    /// - Throws: `FormatError.checksumMismatch`, or `.invalidSMMFile` for a checksum kind this
    ///   reader does not know.
    public func verifyBody() throws {
        try withExtendedLifetime(mapping) {
            try SMMFileReader.verifyBody(mapping.allBytes, header: header, path: path)
        }
    }

    /// The body checksum recomputed from the bytes (hex), or nil for an unknown checksum kind.
    public func computedBodyChecksum() -> String? {
        withExtendedLifetime(mapping) {
            guard let kind = header.checksumKind else { return nil }
            let digest = SMMFileReader.bodyChecksum(mapping.allBytes, from: header.headerSize, kind: kind)
            var copy = header
            copy.bodyChecksum = digest
            return copy.bodyChecksumHex
        }
    }

    /// Whether the file at `path` starts with the `.smm` magic bytes (reads 8 bytes; false for a
    /// directory or an unreadable file).
    public static func hasMagic(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        var bytes = [UInt8](repeating: 0, count: 8)
        let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, 8) }
        return got == 8 && bytes == SMMFileFormat.magic
    }
}

/// The parsing and validation behind `SMMFile`, on raw bytes (also the entry point of the fuzz target).
public enum SMMFileReader {
    /// A validated file's header, metadata and tensor table.
    public struct Contents: Sendable {
        /// The fixed header.
        public var header: SMMFileHeader
        /// The parsed and validated metadata section.
        public var metadata: SMMFileMetadata
        /// The tensor table entries, in table order.
        public var tensors: [SMMTensorEntry]
    }

    /// Validates the bytes of a whole `.smm` file; `path` names it in messages.
    /// - Throws: `FormatError` saying what is wrong and where.
    public static func parse(_ file: UnsafeRawBufferPointer, path: String,
                             options: SMMFileReadOptions = SMMFileReadOptions()) throws -> Contents {
        let header = try parseHeader(file, path: path, verifyChecksums: options.verifyStructureChecksums)
        let tensors = try parseTable(file, header: header, path: path)
        let metadataBytes = UnsafeRawBufferPointer(rebasing: file[header.metadataRange])
        let metadata = try SMMFileMetadata.parse(metadataBytes, path: path)
        if options.verifyBody { try verifyBody(file, header: header, path: path) }
        return Contents(header: header, metadata: metadata, tensors: tensors)
    }

    // MARK: - Header

    static func parseHeader(_ file: UnsafeRawBufferPointer, path: String, verifyChecksums: Bool) throws -> SMMFileHeader {
        let size = file.count
        let magic = SMMFileFormat.magic
        guard size >= magic.count, zip(magic, file.prefix(magic.count)).allSatisfy({ $0 == $1 }) else {
            if size < magic.count, size > 0, zip(magic, file).allSatisfy({ $0 == $1 }) {
                throw FormatError.truncatedFile(path: path, expectedSize: SMMFileFormat.minHeaderSize, actualSize: size)
            }
            throw FormatError.notSMMFile(path: path, reason: describeForeign(file))
        }
        guard size >= 16 else {
            throw FormatError.truncatedFile(path: path, expectedSize: SMMFileFormat.minHeaderSize, actualSize: size)
        }
        let major = u16(file, 8), minor = u16(file, 10)
        guard major == SMMFileFormat.majorVersion else {
            throw FormatError.unsupportedFormatVersion(path: path, major: Int(major), minor: Int(minor),
                                                       supportedMajor: Int(SMMFileFormat.majorVersion))
        }
        let headerSize = Int(u32(file, 12))
        guard headerSize >= SMMFileFormat.minHeaderSize, headerSize <= SMMFileFormat.maxHeaderSize,
              headerSize % 8 == 0 else {
            throw FormatError.invalidSMMFile(path: path, reason: "header size \(headerSize) is not a multiple of 8 in \(SMMFileFormat.minHeaderSize)...\(SMMFileFormat.maxHeaderSize)")
        }
        guard size >= headerSize else {
            throw FormatError.truncatedFile(path: path, expectedSize: headerSize, actualSize: size)
        }
        let storedHeaderChecksum = u64(file, headerSize - 8)
        if verifyChecksums {
            let actual = XXH64.hash(UnsafeRawBufferPointer(rebasing: file[0..<(headerSize - 8)]))
            guard actual == storedHeaderChecksum else {
                throw FormatError.checksumMismatch(path: path, what: "the header", expected: hex64(storedHeaderChecksum),
                                                   actual: hex64(actual))
            }
        }
        func int(_ offset: Int, _ field: String) throws -> Int {
            let raw = u64(file, offset)
            guard let value = Int(exactly: raw), value <= Int(Int32.max) << 20 else {
                throw FormatError.invalidSMMFile(path: path, reason: "\(field) \(raw) is impossibly large")
            }
            return value
        }
        let declaredSize = try int(16, "file size")
        guard declaredSize == size else {
            if declaredSize > size {
                throw FormatError.truncatedFile(path: path, expectedSize: declaredSize, actualSize: size)
            }
            throw FormatError.invalidSMMFile(path: path, reason: "the file has \(size - declaredSize) byte(s) after the \(declaredSize) its header declares")
        }
        var header = SMMFileHeader(
            majorVersion: major, minorVersion: minor, headerSize: headerSize, fileSize: size,
            metadataOffset: try int(24, "metadata offset"), metadataLength: try int(32, "metadata length"),
            tableOffset: try int(40, "tensor table offset"), tableLength: try int(48, "tensor table length"),
            dataOffset: try int(56, "data offset"), dataLength: try int(64, "data length"),
            tensorCount: Int(u32(file, 72)), bodyChecksumKind: u32(file, 76),
            bodyChecksum: Array(file[80..<112]), structureChecksum: u64(file, 112),
            headerChecksum: storedHeaderChecksum)

        // Sections: inside the file, after the header, not overlapping.
        func check(_ name: String, _ offset: Int, _ length: Int) throws {
            guard offset >= headerSize, offset <= size, length <= size - offset else {
                throw FormatError.invalidSMMFile(path: path, reason: "the \(name) (\(length) bytes at offset \(offset)) is not inside the file after the \(headerSize)-byte header (file size \(size))")
            }
        }
        try check("metadata section", header.metadataOffset, header.metadataLength)
        try check("tensor table", header.tableOffset, header.tableLength)
        try check("data section", header.dataOffset, header.dataLength)
        guard header.metadataLength >= 2, header.metadataLength <= SMMFileFormat.maxMetadataBytes else {
            throw FormatError.invalidSMMFile(path: path, reason: "metadata length \(header.metadataLength) is outside 2...\(SMMFileFormat.maxMetadataBytes)")
        }
        guard header.tensorCount <= SMMFileFormat.maxTensorCount else {
            throw FormatError.invalidSMMFile(path: path, reason: "tensor count \(header.tensorCount) is above the limit of \(SMMFileFormat.maxTensorCount)")
        }
        guard header.tableLength >= header.tensorCount * SMMFileFormat.entryFixedSize,
              header.tableLength <= header.tensorCount * SMMFileFormat.maxEntrySize else {
            throw FormatError.invalidSMMFile(path: path, reason: "a tensor table of \(header.tableLength) bytes cannot hold \(header.tensorCount) entries")
        }
        guard header.tableOffset % 8 == 0 else {
            throw FormatError.invalidSMMFile(path: path, reason: "tensor table offset \(header.tableOffset) is not a multiple of 8")
        }
        guard header.dataOffset % SMMFileFormat.dataAlignment == 0 else {
            throw FormatError.invalidSMMFile(path: path, reason: "data offset \(header.dataOffset) is not a multiple of \(SMMFileFormat.dataAlignment)")
        }
        let sections = [("metadata section", header.metadataRange), ("tensor table", header.tableRange),
                        ("data section", header.dataRange)].filter { !$0.1.isEmpty }
        for i in sections.indices {
            for j in sections.indices where j > i && sections[i].1.overlaps(sections[j].1) {
                throw FormatError.invalidSMMFile(path: path, reason: "the \(sections[i].0) \(sections[i].1) and the \(sections[j].0) \(sections[j].1) overlap")
            }
        }
        if verifyChecksums {
            let metadataHash = XXH64.hash(UnsafeRawBufferPointer(rebasing: file[header.metadataRange]))
            let actual = XXH64.hash(UnsafeRawBufferPointer(rebasing: file[header.tableRange]), seed: metadataHash)
            guard actual == header.structureChecksum else {
                throw FormatError.checksumMismatch(path: path, what: "the metadata and tensor table",
                                                   expected: hex64(header.structureChecksum), actual: hex64(actual))
            }
        }
        header.fileSize = size
        return header
    }

    // MARK: - Tensor table

    static func parseTable(_ file: UnsafeRawBufferPointer, header: SMMFileHeader, path: String) throws -> [SMMTensorEntry] {
        var entries: [SMMTensorEntry] = []
        entries.reserveCapacity(header.tensorCount)
        var seen: [String: Int] = [:]
        seen.reserveCapacity(header.tensorCount)
        var scaleRefs: [(entry: Int, scale: Int, axis: Int)] = []
        var cursor = header.tableOffset
        let end = header.tableOffset + header.tableLength
        let dataStart = header.dataOffset, dataEnd = header.dataOffset + header.dataLength
        for index in 0..<header.tensorCount {
            func fail(_ reason: String, _ name: String? = nil) -> FormatError {
                .invalidTensorEntry(path: path, index: index, name: name, reason: reason)
            }
            guard end - cursor >= SMMFileFormat.entryFixedSize else {
                throw fail("it runs past the end of the tensor table (\(end - cursor) bytes left)")
            }
            let entryLength = Int(u32(file, cursor))
            let nameLength = Int(u16(file, cursor + 4))
            let dtypeCode = file[cursor + 6]
            let rank = Int(file[cursor + 7])
            guard entryLength >= SMMFileFormat.entryFixedSize, entryLength % 8 == 0,
                  entryLength <= SMMFileFormat.maxEntrySize, entryLength <= end - cursor else {
                throw fail("entry length \(entryLength) is not a multiple of 8 in \(SMMFileFormat.entryFixedSize)...\(min(SMMFileFormat.maxEntrySize, end - cursor))")
            }
            guard nameLength >= 1, nameLength <= SMMFileFormat.maxNameLength else {
                throw fail("name length \(nameLength) is outside 1...\(SMMFileFormat.maxNameLength)")
            }
            guard rank <= SMMFileFormat.maxRank else {
                throw fail("rank \(rank) is above the limit of \(SMMFileFormat.maxRank)")
            }
            let needed = SMMFileFormat.entryFixedSize + 8 * rank + nameLength
            guard needed <= entryLength else {
                throw fail("\(rank) dimension(s) and a \(nameLength)-byte name do not fit in a \(entryLength)-byte entry")
            }
            let nameStart = cursor + SMMFileFormat.entryFixedSize + 8 * rank
            let nameBytes = UnsafeRawBufferPointer(rebasing: file[nameStart..<(nameStart + nameLength)])
            guard let name = JSONParser.validatedUTF8(nameBytes) else { throw fail("the name is not valid UTF-8") }
            guard !nameBytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                throw fail("the name contains control characters")
            }
            guard let dtype = ElementType(smmCode: dtypeCode) else {
                throw fail("unknown dtype code \(dtypeCode) (written by a later format version?)", name)
            }
            let rawOffset = u64(file, cursor + 8), rawLength = u64(file, cursor + 16)
            let quantCode = file[cursor + 24], axis = Int(file[cursor + 25])
            let scaleIndex = u32(file, cursor + 28)

            var shape: [Int] = []
            shape.reserveCapacity(rank)
            var elements = 1
            var overflow = false
            for axisIndex in 0..<rank {
                let raw = u64(file, cursor + SMMFileFormat.entryFixedSize + 8 * axisIndex)
                guard let dim = Int(exactly: raw) else {
                    throw fail("dimension \(axisIndex) (\(raw)) is too large", name)
                }
                shape.append(dim)
                let (product, o) = elements.multipliedReportingOverflow(by: dim)
                if o { overflow = true } else { elements = product }
            }
            if shape.contains(0) { elements = 0; overflow = false }
            var (expectedBytes, bytesOverflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            if quantCode == 3 { expectedBytes = elements / 2 }      // q4 blocks: two 4-bit codes per byte
            guard !overflow, !bytesOverflow else {
                throw fail("the byte size of shape \(shape) overflows", name)
            }
            guard let offset = Int(exactly: rawOffset), let length = Int(exactly: rawLength) else {
                throw fail("data offset \(rawOffset) or length \(rawLength) is too large", name)
            }
            guard length == expectedBytes else {
                throw fail("dtype \(dtype.rawValue) with shape \(shape) needs \(expectedBytes) bytes but the entry says \(length)", name)
            }
            guard offset % SMMFileFormat.dataAlignment == 0 else {
                throw fail("data offset \(offset) is not a multiple of \(SMMFileFormat.dataAlignment)", name)
            }
            guard offset >= dataStart, offset <= dataEnd, length <= dataEnd - offset else {
                throw fail("its \(length) bytes at offset \(offset) are not inside the data section \(dataStart)..<\(dataEnd)", name)
            }
            let quantization: SMMQuantization
            switch quantCode {
            case 0:
                guard scaleIndex == SMMFileFormat.noIndex, axis == 0 else {
                    throw fail("an unquantized tensor has a scale tensor or axis", name)
                }
                quantization = .none
            case 1:
                guard dtype == .i8 else { throw fail("int8 per-channel quantization needs dtype i8, not \(dtype.rawValue)", name) }
                guard axis < rank else { throw fail("quantization axis \(axis) is not below the rank \(rank)", name) }
                guard scaleIndex < UInt32(header.tensorCount), Int(scaleIndex) != index else {
                    throw fail("scale tensor index \(scaleIndex) is not another entry of the table (\(header.tensorCount) entries)", name)
                }
                quantization = .int8PerChannel(axis: axis, scaleTensor: Int(scaleIndex))
                scaleRefs.append((index, Int(scaleIndex), axis))
            case 2:
                guard dtype == .f32 else { throw fail("packed panels need dtype f32, not \(dtype.rawValue)", name) }
                guard scaleIndex == SMMFileFormat.noIndex else { throw fail("a packed-panel tensor has a scale tensor", name) }
                guard SMMPanelLayout.accepts(shape: shape, axis: axis) else {
                    throw fail("packed panels need a rank-2 shape with a multiple of \(SMMPanelLayout.columns) outputs along axis \(axis), not \(shape)", name)
                }
                quantization = .packedPanels(axis: axis)
            case 3:
                guard dtype == .u8 else { throw fail("q4 blocks need dtype u8, not \(dtype.rawValue)", name) }
                guard SMMQ4Blocks.accepts(shape: shape, axis: axis) else {
                    throw fail("q4 blocks need a rank-2 shape with a multiple of \(SMMQ4Blocks.blockSize) inputs across axis \(axis), not \(shape)", name)
                }
                guard scaleIndex < UInt32(header.tensorCount), Int(scaleIndex) != index else {
                    throw fail("scale tensor index \(scaleIndex) is not another entry of the table (\(header.tensorCount) entries)", name)
                }
                quantization = .q4Blocks(axis: axis, scaleTensor: Int(scaleIndex))
                scaleRefs.append((index, Int(scaleIndex), axis))
            default:
                throw fail("unknown quantization code \(quantCode) (written by a later format version?)", name)
            }
            if let previous = seen.updateValue(index, forKey: name) {
                throw fail("the name is used by entry \(previous) too", name)
            }
            entries.append(SMMTensorEntry(name: name, dtype: dtype, shape: shape, dataOffset: offset,
                                          byteLength: length, quantization: quantization))
            cursor += entryLength
        }
        guard cursor == end else {
            throw FormatError.invalidSMMFile(path: path, reason: "the tensor table has \(end - cursor) byte(s) after its \(header.tensorCount) entries")
        }
        for ref in scaleRefs {
            let entry = entries[ref.entry], scale = entries[ref.scale]
            if case .q4Blocks = entry.quantization {
                let shape = SMMQ4Blocks.scaleShape(shape: entry.shape, axis: ref.axis)
                guard scale.dtype == .f16, scale.quantization == .none, scale.shape == shape else {
                    throw FormatError.invalidTensorEntry(path: path, index: ref.entry, name: entry.name,
                        reason: "its scale tensor '\(scale.name)' must be f16 of shape \(shape), not \(scale.dtype.rawValue) \(scale.shape)\(scale.quantization == .none ? "" : " quantized")")
                }
                continue
            }
            guard scale.dtype == .f32, scale.quantization == .none, scale.shape == [entry.shape[ref.axis]] else {
                throw FormatError.invalidTensorEntry(path: path, index: ref.entry, name: entry.name,
                    reason: "its scale tensor '\(scale.name)' must be f32 of shape [\(entry.shape[ref.axis])], not \(scale.dtype.rawValue) \(scale.shape)\(scale.quantization == .none ? "" : " quantized")")
            }
        }
        // No two tensors may share bytes.
        let spans = entries.indices.filter { entries[$0].byteLength > 0 }.sorted { entries[$0].dataOffset < entries[$1].dataOffset }
        for (a, b) in zip(spans, spans.dropFirst()) where entries[b].dataOffset < entries[a].byteRange.upperBound {
            throw FormatError.invalidTensorEntry(path: path, index: b, name: entries[b].name,
                reason: "its bytes \(entries[b].byteRange) overlap those of '\(entries[a].name)' \(entries[a].byteRange)")
        }
        return entries
    }

    // MARK: - Tensor data

    /// Converts tensor `entry` of the validated file `file` to float32 into `destination`.
    static func copyFloats(_ entry: SMMTensorEntry, tensors: [SMMTensorEntry], file: UnsafeRawBufferPointer,
                           path: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let count = entry.elementCount
        guard destination.count == count else {
            throw FormatError.bufferSizeMismatch(path: path, tensor: entry.name, expectedCount: count,
                                                 actualCount: destination.count)
        }
        guard entry.byteRange.upperBound <= file.count, let base = file.baseAddress else {
            throw FormatError.outOfBounds(path: path, range: entry.byteRange, fileSize: file.count)
        }
        guard count > 0, let dst = destination.baseAddress else { return }
        let src = base + entry.dataOffset
        switch entry.quantization {
        case .none:
            guard entry.dtype.isConvertibleToF32 else {
                throw FormatError.unsupportedDType(path: path, tensor: entry.name, dtype: entry.dtype,
                                                   operation: "conversion to Float32")
            }
            convertToF32(entry.dtype, src: src, dst: dst, count: count)
        case let .int8PerChannel(axis, scaleTensor):
            guard scaleTensor < tensors.count else {
                throw FormatError.invalidTensorEntry(path: path, index: 0, name: entry.name, reason: "no scale tensor")
            }
            let scales = tensors[scaleTensor]
            guard scales.byteRange.upperBound <= file.count, scales.elementCount == entry.shape[axis] else {
                throw FormatError.outOfBounds(path: path, range: scales.byteRange, fileSize: file.count)
            }
            SMMQuantizer.dequantizeInt8(src, shape: entry.shape, axis: axis, scales: base + scales.dataOffset, into: dst)
        case let .q4Blocks(axis, scaleTensor):
            guard scaleTensor < tensors.count else {
                throw FormatError.invalidTensorEntry(path: path, index: 0, name: entry.name, reason: "no scale tensor")
            }
            let scales = tensors[scaleTensor]
            guard scales.byteRange.upperBound <= file.count,
                  scales.shape == SMMQ4Blocks.scaleShape(shape: entry.shape, axis: axis) else {
                throw FormatError.outOfBounds(path: path, range: scales.byteRange, fileSize: file.count)
            }
            SMMQ4Blocks.dequantize(values: src, scales: base + scales.dataOffset, shape: entry.shape, axis: axis, into: dst)
        case let .packedPanels(axis):
            // Validated at open: f32, rank 2, whole panels. The data is 64-byte aligned in the mapping.
            SMMPanelLayout.unpack(src.assumingMemoryBound(to: Float.self), shape: entry.shape, axis: axis, into: dst)
        }
    }

    // MARK: - Checksums

    /// The body checksum (32 bytes) of the bytes after `headerSize`.
    public static func bodyChecksum(_ file: UnsafeRawBufferPointer, from headerSize: Int, kind: SMMChecksumKind) -> [UInt8] {
        let body = UnsafeRawBufferPointer(rebasing: file[min(headerSize, file.count)...])
        switch kind {
        case .sha256:
            return SHA256.hash(body)
        case .xxh64:
            let value = XXH64.hash(body)
            var out = [UInt8](repeating: 0, count: 32)
            for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
            return out
        }
    }

    static func verifyBody(_ file: UnsafeRawBufferPointer, header: SMMFileHeader, path: String) throws {
        guard let kind = header.checksumKind else {
            throw FormatError.invalidSMMFile(path: path, reason: "unknown body checksum kind \(header.bodyChecksumKind) (written by a later format version?)")
        }
        var computed = header
        computed.bodyChecksum = bodyChecksum(file, from: header.headerSize, kind: kind)
        guard computed.bodyChecksum == header.bodyChecksum else {
            throw FormatError.checksumMismatch(path: path, what: "the body (\(kind.name) of bytes \(header.headerSize)..<\(file.count))",
                                               expected: header.bodyChecksumHex, actual: computed.bodyChecksumHex)
        }
    }

    // MARK: - Helpers

    /// What a file that is not `.smm` looks like, for the error message.
    static func describeForeign(_ file: UnsafeRawBufferPointer) -> String {
        let size = file.count
        let bytes = Array(file.prefix(16))
        if size >= 4, Array(bytes[0..<4]) == Array(SMMFileFormat.magic[0..<4]) {
            return "its magic bytes are damaged (expected 89 53 4D 4D 0D 0A 1A 0A; a text-mode transfer alters line-ending bytes)"
        }
        if size >= 10 {
            let length = u64(file, 0)
            let first = bytes[8]
            if length >= 2, length <= UInt64(size - 8), first == UInt8(ascii: "{") {
                return "it is a safetensors file; pass its model directory instead, or convert the model with smm-convert"
            }
        }
        if size >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 0x03, bytes[3] == 0x04 {
            return "it is a zip archive (a PyTorch .bin checkpoint?); convert the model with smm-convert"
        }
        if size >= 4, bytes[0..<4].elementsEqual("GGUF".utf8) {
            return "it is a GGUF file, which SMM does not read"
        }
        if let first = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }),
           first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            return "it looks like a JSON file"
        }
        let shown = bytes.prefix(8).map { hex64(UInt64($0)).suffix(2) }.joined(separator: " ")
        return "it does not start with the SMM magic bytes 89 53 4D 4D 0D 0A 1A 0A (it starts with \(shown))"
    }

    @inline(__always)
    static func u16(_ file: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func u32(_ file: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    static func u64(_ file: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
