// Writing `.smm` files: lay out header, metadata, tensor table and 64-byte-aligned tensor data,
// stream the tensors (each produced on demand, so a model is never held twice in memory), hash the
// body while writing, and publish the file atomically: a temporary file in the destination's
// directory, fsync, then rename (or link, when overwriting is not allowed). The destination never
// holds a half-written file; the temporary file is removed on any error.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Progress of `SMMFileWriter.write`.
public struct SMMWriteProgress: Sendable {
    /// Bytes written so far (header excluded until the end).
    public var bytesWritten: Int
    /// Size of the finished file.
    public var totalBytes: Int
    /// Tensors written so far.
    public var tensorsWritten: Int
    /// Number of tensors.
    public var tensorCount: Int
    /// The tensor just written.
    public var tensorName: String
}

/// Builds an `.smm` file: metadata, then tensors added one by one (each with a closure that fills
/// its bytes when the writer gets to it), then `write(to:overwrite:progress:)`.
public struct SMMFileWriter {
    /// How an added tensor is quantized.
    public enum Quantization: Sendable, Equatable {
        /// Not quantized.
        case none
        /// int8 with one scale per channel along `axis`; `scaleTensor` names the f32 scale vector,
        /// which must be added too.
        case int8PerChannel(axis: Int, scaleTensor: String)
        /// f32 in the kernel's panel order, outputs along `axis` (see `SMMPanelLayout`).
        case packedPanels(axis: Int)
        /// 4-bit blocks (`SMMQ4Blocks`), outputs along `axis`; dtype u8; `scaleTensor` names the f16
        /// scales of shape [N, K/32], which must be added too.
        case q4Blocks(axis: Int, scaleTensor: String)
    }

    /// A tensor to write.
    public struct Tensor {
        public var name: String
        public var dtype: ElementType
        public var shape: [Int]
        public var quantization: Quantization
        /// Fills exactly `byteLength` bytes (little-endian elements). The buffer is zeroed and 64-byte aligned.
        let fill: (UnsafeMutableRawBufferPointer) throws -> Void

        /// Element count × dtype size (callers validate the shape first).
        var byteLength: Int {
            if case .q4Blocks = quantization { return shape.reduce(1, *) / 2 }
            return shape.reduce(1, *) * dtype.byteSize
        }
    }

    /// The metadata section.
    public var metadata: SMMFileMetadata
    /// The body checksum to store (XXH64 by default).
    public var checksumKind: SMMChecksumKind = .xxh64
    /// The tensors added, in file order.
    public private(set) var tensors: [Tensor] = []

    /// A writer for a file with `metadata`.
    public init(metadata: SMMFileMetadata) {
        self.metadata = metadata
    }

    /// The oldest minor version that has every quantization `entries` use: 2 with q4 blocks, 1 with
    /// packed panels, else 0.
    static func minorVersion(of entries: [SMMTensorEntry]) -> UInt16 {
        var minor: UInt16 = 0
        for e in entries {
            switch e.quantization {
            case .q4Blocks: minor = max(minor, 2)
            case .packedPanels: minor = max(minor, 1)
            case .none, .int8PerChannel: break
            }
        }
        return minor
    }

    /// The conventional name of the scale tensor of an int8 or q4 tensor `name`.
    public static func scaleName(for name: String) -> String { name + ":scale" }

    /// Adds a tensor whose bytes `fill` writes when the writer reaches it.
    public mutating func add(name: String, dtype: ElementType, shape: [Int], quantization: Quantization = .none,
                             fill: @escaping (UnsafeMutableRawBufferPointer) throws -> Void) {
        tensors.append(Tensor(name: name, dtype: dtype, shape: shape, quantization: quantization, fill: fill))
    }

    /// Problems found when tensors were added (wrong element count, axis, dtype); `layout` (and so
    /// `write`) throws the first one.
    private var rejected: [String] = []

    /// Whether `floats` fills `shape` exactly and `axis` (when given) is one of its dimensions;
    /// otherwise the problem is recorded for `layout` to report, and nothing is added.
    private mutating func accepts(_ name: String, shape: [Int], count: Int, axis: Int? = nil) -> Bool {
        var elements = 1
        for d in shape {
            let (p, o) = elements.multipliedReportingOverflow(by: d)
            guard d >= 0, !o else {
                rejected.append("tensor '\(name)' has shape \(shape)")
                return false
            }
            elements = p
        }
        guard elements == count else {
            rejected.append("tensor '\(name)' has shape \(shape) (\(elements) elements) but \(count) values")
            return false
        }
        if let axis, !shape.indices.contains(axis) || count == 0 {
            rejected.append("tensor '\(name)': axis \(axis) is not a dimension of the non-empty shape \(shape)")
            return false
        }
        return true
    }

    /// Adds a float tensor stored as `dtype` (f32, f16 or bf16). Values that do not fill `shape`
    /// exactly, or another dtype, make `write` throw.
    public mutating func add(name: String, shape: [Int], floats: [Float], as dtype: ElementType = .f32) {
        guard [.f32, .f16, .bf16].contains(dtype) else {
            rejected.append("tensor '\(name)': floats can be stored as f32, f16 or bf16, not \(dtype)")
            return
        }
        guard accepts(name, shape: shape, count: floats.count) else { return }
        add(name: name, dtype: dtype, shape: shape) { out in
            floats.withUnsafeBufferPointer { src in
                SMMFileWriter.encode(src, as: dtype, into: out)
            }
        }
    }

    /// Adds a float tensor quantized to int8 along `axis`, and its scale tensor. Values that do not
    /// fill `shape`, or an `axis` outside it, make `write` throw.
    public mutating func addInt8(name: String, shape: [Int], axis: Int, floats: [Float]) {
        guard accepts(name, shape: shape, count: floats.count, axis: axis) else { return }
        let scaleName = SMMFileWriter.scaleName(for: name)
        add(name: name, dtype: .i8, shape: shape, quantization: .int8PerChannel(axis: axis, scaleTensor: scaleName)) { out in
            floats.withUnsafeBufferPointer { src in
                let scales = SMMQuantizer.int8Scales(src.baseAddress!, shape: shape, axis: axis)
                SMMQuantizer.quantizeInt8(src.baseAddress!, shape: shape, axis: axis, scales: scales,
                                          into: out.baseAddress!.assumingMemoryBound(to: Int8.self))
            }
        }
        add(name: scaleName, shape: [shape[axis]], floats: floats.withUnsafeBufferPointer {
            SMMQuantizer.int8Scales($0.baseAddress!, shape: shape, axis: axis)
        })
    }

    /// Adds a float matrix quantized to q4 blocks (outputs along `axis`; the shape must pass
    /// `SMMQ4Blocks.accepts`) and its f16 scale tensor. Values that do not fill `shape`, a shape q4
    /// cannot hold, or a block whose scale overflows f16 make `write` throw.
    public mutating func addQ4(name: String, shape: [Int], axis: Int, floats: [Float]) {
        guard accepts(name, shape: shape, count: floats.count, axis: axis) else { return }
        guard SMMQ4Blocks.accepts(shape: shape, axis: axis) else {
            rejected.append("tensor '\(name)': shape \(shape) along axis \(axis) cannot be stored in q4 blocks")
            return
        }
        let scaleName = SMMFileWriter.scaleName(for: name)
        let scaleShape = SMMQ4Blocks.scaleShape(shape: shape, axis: axis)
        var scales = [UInt16](repeating: 0, count: scaleShape[0] * scaleShape[1])
        var values = [UInt8](repeating: 0, count: SMMQ4Blocks.valueBytes(shape: shape))
        let failed = floats.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { v in
                scales.withUnsafeMutableBufferPointer { sc in
                    SMMQ4Blocks.quantize(src.baseAddress!, shape: shape, axis: axis, values: v.baseAddress!,
                                         scales: sc.baseAddress!)
                }
            }
        }
        if let failed {
            rejected.append("tensor '\(name)': the block at output \(failed.output), input \(failed.input) has values too large for an f16 scale")
            return
        }
        add(name: name, dtype: .u8, shape: shape, quantization: .q4Blocks(axis: axis, scaleTensor: scaleName)) { out in
            values.withUnsafeBytes { out.copyMemory(from: $0) }
        }
        add(name: scaleName, dtype: .f16, shape: scaleShape) { out in
            for (i, bits) in scales.enumerated() { out.storeBytes(of: bits.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        }
    }

    /// Adds an f32 weight matrix stored in packed panels (outputs along `axis`; the shape must pass
    /// `SMMPanelLayout.accepts`, else `write` throws).
    public mutating func addPackedPanels(name: String, shape: [Int], axis: Int, floats: [Float]) {
        guard accepts(name, shape: shape, count: floats.count, axis: axis) else { return }
        guard SMMPanelLayout.accepts(shape: shape, axis: axis) else {
            rejected.append("tensor '\(name)': shape \(shape) along axis \(axis) cannot be stored in packed panels")
            return
        }
        add(name: name, dtype: .f32, shape: shape, quantization: .packedPanels(axis: axis)) { out in
            floats.withUnsafeBufferPointer { src in
                SMMPanelLayout.pack(src.baseAddress!, shape: shape, axis: axis,
                                    into: out.baseAddress!.assumingMemoryBound(to: Float.self))
            }
        }
    }

    /// Writes `src` as little-endian `dtype` (f32, f16 or bf16) into `out`.
    public static func encode(_ src: UnsafeBufferPointer<Float>, as dtype: ElementType, into out: UnsafeMutableRawBufferPointer) {
        guard let s = src.baseAddress, let d = out.baseAddress, src.count > 0 else { return }
        switch dtype {
        case .f16: convertF32ToF16(src: s, dst: d, count: src.count)
        case .bf16: convertF32ToBF16(src: s, dst: d, count: src.count)
        default:
            #if _endian(little)
            d.copyMemory(from: s, byteCount: src.count * 4)
            #else
            for i in 0..<src.count { d.storeBytes(of: s[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            #endif
        }
    }

    // MARK: - Layout

    /// Where everything goes.
    struct Layout {
        var metadata: [UInt8]
        var table: [UInt8]
        var header: SMMFileHeader
        var offsets: [Int]
    }

    /// Validates the tensors and computes the layout (without filling any tensor).
    func layout(path: String) throws -> Layout {
        func fail(_ reason: String) -> FormatError { .writeFailed(path: path, reason: reason) }
        if let problem = rejected.first { throw fail(problem) }
        guard tensors.count <= SMMFileFormat.maxTensorCount else {
            throw fail("\(tensors.count) tensors is above the format's limit of \(SMMFileFormat.maxTensorCount)")
        }
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() {
            let nameBytes = t.name.utf8.count
            guard nameBytes >= 1, nameBytes <= SMMFileFormat.maxNameLength,
                  !t.name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                throw fail("tensor name '\(t.name)' must be 1...\(SMMFileFormat.maxNameLength) UTF-8 bytes without control characters")
            }
            guard index.updateValue(i, forKey: t.name) == nil else { throw fail("tensor '\(t.name)' is added twice") }
            guard t.shape.count <= SMMFileFormat.maxRank, t.shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(t.name)' has shape \(t.shape) (at most \(SMMFileFormat.maxRank) non-negative dimensions)")
            }
            var bytes = t.dtype.byteSize
            for d in t.shape {
                let (p, o) = bytes.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("tensor '\(t.name)' shape \(t.shape) is too large") }
                bytes = p
            }
        }
        var entries: [SMMTensorEntry] = []
        var offsets: [Int] = []
        let metadataBytes = metadata.encodedJSON()
        guard metadataBytes.count <= SMMFileFormat.maxMetadataBytes else {
            throw fail("the metadata is \(metadataBytes.count) bytes, above the format's limit of \(SMMFileFormat.maxMetadataBytes)")
        }
        // Never write a file the reader would refuse: the metadata must read back as written.
        do {
            _ = try metadataBytes.withUnsafeBytes { try SMMFileMetadata.parse($0, path: path) }
        } catch let error as FormatError {
            throw fail("the metadata would not read back: \(error.description)")
        }
        let headerSize = SMMFileFormat.headerSize
        let tableOffset = alignUp(headerSize + metadataBytes.count, 8)
        let tableLength = tensors.reduce(0) { $0 + SMMTensorEntry.encodedSize(nameBytes: $1.name.utf8.count, rank: $1.shape.count) }
        let dataOffset = alignUp(tableOffset + tableLength, SMMFileFormat.dataAlignment)
        var cursor = dataOffset
        for t in tensors {
            cursor = alignUp(cursor, SMMFileFormat.dataAlignment)
            offsets.append(cursor)
            let quantization: SMMQuantization
            switch t.quantization {
            case .none:
                quantization = .none
            case let .int8PerChannel(axis, scaleName):
                guard t.dtype == .i8, axis >= 0, axis < t.shape.count, let s = index[scaleName] else {
                    throw fail("int8 tensor '\(t.name)' needs dtype i8, an axis below its rank and an added scale tensor '\(scaleName)'")
                }
                let scale = tensors[s]
                guard scale.dtype == .f32, scale.shape == [t.shape[axis]], scale.quantization == .none else {
                    throw fail("scale tensor '\(scaleName)' of '\(t.name)' must be f32 of shape [\(t.shape[axis])]")
                }
                quantization = .int8PerChannel(axis: axis, scaleTensor: s)
            case let .packedPanels(axis):
                guard t.dtype == .f32, SMMPanelLayout.accepts(shape: t.shape, axis: axis) else {
                    throw fail("packed-panel tensor '\(t.name)' needs dtype f32 and a rank-2 shape with a multiple of \(SMMPanelLayout.columns) outputs along axis \(axis)")
                }
                quantization = .packedPanels(axis: axis)
            case let .q4Blocks(axis, scaleName):
                guard t.dtype == .u8, SMMQ4Blocks.accepts(shape: t.shape, axis: axis), let s = index[scaleName] else {
                    throw fail("q4 tensor '\(t.name)' needs dtype u8, a rank-2 shape with a multiple of \(SMMQ4Blocks.blockSize) inputs across axis \(axis) and an added scale tensor '\(scaleName)'")
                }
                let scale = tensors[s], shape = SMMQ4Blocks.scaleShape(shape: t.shape, axis: axis)
                guard scale.dtype == .f16, scale.shape == shape, scale.quantization == .none else {
                    throw fail("scale tensor '\(scaleName)' of '\(t.name)' must be f16 of shape \(shape)")
                }
                quantization = .q4Blocks(axis: axis, scaleTensor: s)
            }
            entries.append(SMMTensorEntry(name: t.name, dtype: t.dtype, shape: t.shape, dataOffset: cursor,
                                          byteLength: t.byteLength, quantization: quantization))
            cursor += t.byteLength
        }
        var table: [UInt8] = []
        table.reserveCapacity(tableLength)
        for e in entries { e.encode(into: &table) }
        precondition(table.count == tableLength)
        let metadataHash = XXH64.hash(metadataBytes)
        let header = SMMFileHeader(
            majorVersion: SMMFileFormat.majorVersion,
            // The oldest minor that has every feature used: 1.0 readers keep reading files without
            // panels, 1.1 readers files without q4 blocks.
            minorVersion: Self.minorVersion(of: entries),
            headerSize: headerSize, fileSize: cursor,
            metadataOffset: headerSize, metadataLength: metadataBytes.count,
            tableOffset: tableOffset, tableLength: tableLength,
            dataOffset: dataOffset, dataLength: cursor - dataOffset,
            tensorCount: tensors.count, bodyChecksumKind: checksumKind.rawValue,
            bodyChecksum: [UInt8](repeating: 0, count: 32),
            structureChecksum: XXH64.hash(table, seed: metadataHash), headerChecksum: 0)
        return Layout(metadata: metadataBytes, table: table, header: header, offsets: offsets)
    }

    /// Streams the body (everything after the header) to `sink`, hashing it, and returns the header.
    private func emitBody(layout: Layout, sink: (UnsafeRawBufferPointer) throws -> Void,
                          progress: ((SMMWriteProgress) -> Void)?) throws -> SMMFileHeader {
        var header = layout.header
        var sha = SHA256()
        var xxh = XXH64()
        var position = header.headerSize
        func put(_ bytes: UnsafeRawBufferPointer) throws {
            switch checksumKind {
            case .sha256: sha.update(bytes)
            case .xxh64: xxh.update(bytes)
            }
            try sink(bytes)
            position += bytes.count
        }
        let zeros = [UInt8](repeating: 0, count: SMMFileFormat.dataAlignment)
        func pad(to offset: Int) throws {
            while position < offset {
                let n = min(zeros.count, offset - position)
                try zeros.withUnsafeBytes { try put(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
        try layout.metadata.withUnsafeBytes { try put($0) }
        try pad(to: header.tableOffset)
        try layout.table.withUnsafeBytes { try put($0) }
        for (i, t) in tensors.enumerated() {
            try pad(to: layout.offsets[i])
            let length = t.byteLength
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: SMMFileFormat.dataAlignment)
            defer { buffer.deallocate() }
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
            region.initializeMemory(as: UInt8.self, repeating: 0)
            try t.fill(region)
            try put(UnsafeRawBufferPointer(region))
            progress?(SMMWriteProgress(bytesWritten: position, totalBytes: header.fileSize, tensorsWritten: i + 1,
                                       tensorCount: tensors.count, tensorName: t.name))
        }
        precondition(position == header.fileSize, "layout and written size differ")
        switch checksumKind {
        case .sha256: header.bodyChecksum = sha.finalize()
        case .xxh64:
            let value = xxh.finalize()
            header.bodyChecksum = (0..<32).map { $0 < 8 ? UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) : 0 }
        }
        return header
    }

    // MARK: - Output

    /// The whole file in memory (for tests and fuzz seeds).
    public func serialized() throws -> [UInt8] {
        let layout = try layout(path: "<memory>")
        var out = [UInt8](repeating: 0, count: layout.header.headerSize)
        out.reserveCapacity(layout.header.fileSize)
        var header = try emitBody(layout: layout, sink: { out.append(contentsOf: $0) }, progress: nil)
        let encoded = header.encoded()
        header.headerChecksum = XXH64.hash(Array(encoded[0..<(header.headerSize - 8)]))
        out.replaceSubrange(0..<encoded.count, with: encoded)
        return out
    }

    /// The prefix of the temporary files `write(to:)` uses for `url` in this process
    /// (`.<name>.partial-<pid>-`), in `url`'s directory: an interrupted writer's leftovers.
    public static func temporaryFilePrefix(for url: URL) -> String {
        temporaryFilePrefix(for: url, pid: getpid())
    }

    /// `.<name>.partial-<pid>-`: the prefix of the temporary files process `pid` writes for `url`.
    static func temporaryFilePrefix(for url: URL, pid: pid_t) -> String {
        "." + url.lastPathComponent + ".partial-\(pid)-"
    }

    /// Removes the temporary files other writers of `url` left behind when they were killed
    /// (`SIGKILL`, a crash, a power cut): regular files in `url`'s directory named exactly
    /// `.<name>.partial-<pid>-<number>` whose process no longer exists. Files of a live process
    /// (this one included), of another destination, or of a process that cannot be checked are kept.
    /// - Returns: the names removed.
    @discardableResult
    public static func removeStaleTemporaryFiles(for url: URL) -> [String] {
        let directory = url.deletingLastPathComponent().path
        let prefix = "." + url.lastPathComponent + ".partial-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory) else {
            return []
        }
        var removed: [String] = []
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard rest.count == 2, !rest[1].isEmpty, rest[1].allSatisfy(\.isASCII), rest[1].allSatisfy(\.isNumber),
                  let pid = pid_t(rest[0]), pid > 0, pid != getpid() else { continue }
            // ESRCH: no such process. EPERM (another user's live process) or success: keep.
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = (directory.isEmpty ? "." : directory) + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            if unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Throws unless `write(to:overwrite:)` may write `url`: nothing is there, or (with `overwrite`)
    /// a regular file, a symbolic link to one or a dangling link (replaced, not followed). A
    /// directory, a device, a FIFO, a socket or a link to one of those is never replaced.
    /// - Throws: `FormatError.writeFailed` ("it is a directory", "it exists and is not a regular
    ///   file"), `.outputExists` when something is there and `overwrite` is false.
    public static func checkDestination(_ url: URL, overwrite: Bool) throws {
        let path = url.path
        var link = stat()
        guard lstat(path, &link) == 0 else { return }  // nothing there (or unreachable: open reports it)
        var info = link
        if (link.st_mode & S_IFMT) == S_IFLNK, stat(path, &info) != 0 {
            info = link  // a dangling link: replaced like a file
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG, S_IFLNK:
            break
        case S_IFDIR:
            throw FormatError.writeFailed(path: path, reason: "it is a directory")
        case let kind:
            let what: String
            switch kind {
            case S_IFCHR: what = "a character device"
            case S_IFBLK: what = "a block device"
            case S_IFIFO: what = "a FIFO"
            case S_IFSOCK: what = "a socket"
            default: what = "not a file"
            }
            let via = (link.st_mode & S_IFMT) == S_IFLNK ? "a symbolic link to " : ""
            throw FormatError.writeFailed(path: path, reason: "it exists and is not a regular file (\(via)\(what)); "
                + "it is left as it is")
        }
        if !overwrite { throw FormatError.outputExists(path: path) }
    }

    /// Writes the file to `url` atomically: into a temporary file in the same directory, fsynced,
    /// checked by `validate` when given, then renamed over `url`. Without `overwrite`, an existing
    /// `url` is an error (checked first, and again atomically when publishing); with it, only a
    /// regular file (or a link to one) is replaced (`checkDestination`). Temporary files that killed
    /// writers of `url` left behind are removed first (`removeStaleTemporaryFiles`). The temporary
    /// file is removed on any error, so a failed write or validation leaves `url` as it was.
    /// - Parameters:
    ///   - url: where the file is published.
    ///   - overwrite: replace an existing regular file at `url` (else its presence is an error).
    ///   - progress: called as tensors are written (for a progress display).
    ///   - validate: called with the complete, fsynced temporary file before it is published (e.g.
    ///     to load it as a reader would); what it throws aborts the write and is rethrown.
    /// - Returns: the header written.
    /// - Throws: `FormatError.outputExists`, `.writeFailed`, whatever a tensor's fill or `validate` throws.
    @discardableResult
    public func write(to url: URL, overwrite: Bool = false,
                      progress: ((SMMWriteProgress) -> Void)? = nil,
                      validate: ((URL) throws -> Void)? = nil) throws -> SMMFileHeader {
        let destination = url.path
        try SMMFileWriter.checkDestination(url, overwrite: overwrite)
        SMMFileWriter.removeStaleTemporaryFiles(for: url)
        let layout = try layout(path: destination)
        let directory = url.deletingLastPathComponent().path
        let temporary = (directory.isEmpty ? "." : directory) + "/" + SMMFileWriter.temporaryFilePrefix(for: url)
            + "\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FormatError.writeFailed(path: destination, reason: "cannot create the temporary file '\(temporary)': \(MappedFile.errnoText())")
        }
        var isOpen = true
        var published = false
        defer {
            if isOpen { close(fd) }
            if !published { unlink(temporary) }
        }
        func fail(_ what: String) -> FormatError {
            .writeFailed(path: destination, reason: "\(what): \(MappedFile.errnoText())")
        }
        func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("writing the temporary file '\(temporary)' failed")
                }
                done += n
            }
        }
        try [UInt8](repeating: 0, count: layout.header.headerSize).withUnsafeBytes { try writeAll($0) }
        var header = try emitBody(layout: layout, sink: writeAll, progress: progress)
        let encoded = header.encoded()
        header.headerChecksum = XXH64.hash(Array(encoded[0..<(header.headerSize - 8)]))
        let written = encoded.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) }
        guard written == encoded.count else { throw fail("writing the header failed") }
        guard fsync(fd) == 0 else { throw fail("fsync of the temporary file failed") }
        isOpen = false
        guard close(fd) == 0 else { throw fail("closing the temporary file failed") }
        try validate?(URL(fileURLWithPath: temporary))

        if overwrite {
            // Again, now: what is there may have changed while the file was written and checked.
            try SMMFileWriter.checkDestination(url, overwrite: true)
            guard rename(temporary, destination) == 0 else { throw fail("renaming '\(temporary)' to the destination failed") }
        } else if link(temporary, destination) == 0 {
            unlink(temporary)
        } else if errno == EEXIST {
            throw FormatError.outputExists(path: destination)
        } else {
            // A file system without hard links: fall back to a checked rename.
            guard !FileManager.default.fileExists(atPath: destination) else { throw FormatError.outputExists(path: destination) }
            guard rename(temporary, destination) == 0 else { throw fail("renaming '\(temporary)' to the destination failed") }
        }
        published = true
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
        return header
    }
}

/// `write(2)`, named apart from `SMMFileWriter.write(to:overwrite:progress:)`.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}
