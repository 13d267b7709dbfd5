// A small zip reader (PKWARE APPNOTE): the end-of-central-directory record, the central directory,
// local headers, and entries stored (method 0) or deflated (method 8, Inflate.swift), each checked
// against its CRC-32 and sizes. Enough for Python wheels (`smm fetch`); no ZIP64, encryption,
// multi-disk archives or other methods (each is a clear `ZipError`).
import Foundation

/// Why a zip archive or one of its entries could not be read. Each case names the archive.
public enum ZipError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No end-of-central-directory record: not a zip file, or cut short.
    case notAZip(path: String)
    /// The archive's structure is damaged (sizes or offsets point outside the file, a bad signature).
    case corrupt(path: String, reason: String)
    /// The archive uses a feature this reader does not support (ZIP64, encryption, a compression method).
    case unsupported(path: String, entry: String?, feature: String)
    /// An entry's data does not match its header: truncated or corrupt deflate data, a size or CRC-32 mismatch.
    case corruptEntry(path: String, entry: String, reason: String)

    /// A sentence saying what is wrong and where.
    public var description: String {
        switch self {
        case let .notAZip(path):
            return "\(path) is not a zip archive, or is truncated (no end-of-central-directory record)"
        case let .corrupt(path, reason):
            return "zip archive \(path) is corrupt or truncated: \(reason)"
        case let .unsupported(path, entry, feature):
            return "zip archive \(path)\(entry.map { ", entry \($0)," } ?? "") uses \(feature), which this reader does not support"
        case let .corruptEntry(path, entry, reason):
            return "zip archive \(path), entry \(entry): \(reason)"
        }
    }
}

/// One file or directory in a zip archive, as its central directory describes it.
public struct ZipEntry: Sendable, Hashable {
    /// The path inside the archive (`/`-separated; directories end in `/`).
    public let name: String
    /// The compression method: 0 stored, 8 deflated.
    public let method: UInt16
    /// The general-purpose flags (bit 0: encrypted; bit 3: sizes in a data descriptor).
    public let flags: UInt16
    /// The CRC-32 of the uncompressed data.
    public let crc32: UInt32
    /// Bytes of the stored (compressed) data.
    public let compressedSize: Int
    /// Bytes once extracted.
    public let uncompressedSize: Int
    /// Offset of the entry's local header in the archive.
    public let localHeaderOffset: Int

    /// True for a directory entry (its name ends in `/`).
    public var isDirectory: Bool { name.hasSuffix("/") }
}

/// A zip archive opened for reading: the entries are listed at `init`, and extracted one at a time
/// with `contents(of:)`. Immutable, hence safe to share between threads.
public final class ZipArchive: Sendable {
    /// Where the archive came from (the path, or the name given to `init(bytes:name:)`), for messages.
    public let path: String
    /// The entries, in central-directory order.
    public let entries: [ZipEntry]
    /// The largest entry `contents(of:)` extracts (default 4 GiB): larger ones are refused before
    /// any memory is allocated for them.
    public let maxEntrySize: Int
    private let storage: Storage

    private enum Storage: Sendable {
        case mapped(MappedFile)
        case memory([UInt8])
    }

    /// Opens the archive at `path` (memory-mapped) and reads its central directory.
    /// - Throws: `FormatError` when the file cannot be opened or mapped; `ZipError` when it is not a
    ///   zip archive, is truncated or corrupt, or uses ZIP64, encryption or several disks.
    public convenience init(path: String, maxEntrySize: Int = 4 << 30) throws {
        try self.init(storage: .mapped(try MappedFile(path: path)), path: path, maxEntrySize: maxEntrySize)
    }

    /// Reads the archive held in `bytes`; `name` stands for its path in messages.
    /// - Throws: `ZipError` as `init(path:)` does.
    public convenience init(bytes: [UInt8], name: String, maxEntrySize: Int = 4 << 30) throws {
        try self.init(storage: .memory(bytes), path: name, maxEntrySize: maxEntrySize)
    }

    private init(storage: Storage, path: String, maxEntrySize: Int) throws {
        self.storage = storage
        self.path = path
        self.maxEntrySize = maxEntrySize
        entries = try Self.withBytes(storage) { try Self.readCentralDirectory($0, path: path) }
    }

    /// The first entry called `name`, if any.
    public func entry(named name: String) -> ZipEntry? { entries.first { $0.name == name } }

    /// The uncompressed bytes of `entry` (an element of `entries`), after checking its local
    /// header, its size and its CRC-32.
    /// - Throws: `ZipError.corruptEntry` for truncated or corrupt data or a size or CRC-32 mismatch;
    ///   `.unsupported` for an encrypted entry or a method other than stored and deflate.
    public func contents(of entry: ZipEntry) throws -> [UInt8] {
        try Self.withBytes(storage) { bytes in
            let data = try dataRange(of: entry, in: bytes)
            let slice = UnsafeRawBufferPointer(rebasing: bytes[data])
            func bad(_ reason: String) -> ZipError { .corruptEntry(path: path, entry: entry.name, reason: reason) }
            let output: [UInt8]
            switch entry.method {
            case 0:
                guard entry.compressedSize == entry.uncompressedSize else {
                    throw bad("a stored entry of \(entry.compressedSize) bytes claims to extract to \(entry.uncompressedSize)")
                }
                output = [UInt8](slice)
            case 8:
                // DEFLATE expands at most 1032:1; a larger claim is a corrupt header, refused
                // before allocating it.
                guard entry.uncompressedSize <= entry.compressedSize &* 1032 &+ 1024 else {
                    throw bad("\(entry.compressedSize) compressed bytes cannot extract to \(entry.uncompressedSize)")
                }
                do {
                    output = try Inflate.decompress(slice, expectedSize: entry.uncompressedSize)
                } catch let error as InflateError {
                    throw bad(error.description)
                }
            default:
                throw ZipError.unsupported(path: path, entry: entry.name, feature: "compression method \(entry.method)")
            }
            let crc = CRC32.checksum(output)
            guard crc == entry.crc32 else {
                throw bad("CRC-32 is \(Self.hex(crc)), the header says \(Self.hex(entry.crc32))")
            }
            return output
        }
    }

    // MARK: Reading the structure

    private static func withBytes<R>(_ storage: Storage, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .mapped(let file): return try withExtendedLifetime(file) { try body(file.allBytes) }
        case .memory(let array): return try array.withUnsafeBytes(body)
        }
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    private static func u16(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
    private static func u32(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int { u16(b, at) | u16(b, at + 2) << 16 }

    private static func readCentralDirectory(_ bytes: UnsafeRawBufferPointer, path: String) throws -> [ZipEntry] {
        let n = bytes.count
        func corrupt(_ reason: String) -> ZipError { .corrupt(path: path, reason: reason) }
        // The end record (22 bytes + a comment of up to 65535) is the last thing in the file.
        guard n >= 22 else { throw ZipError.notAZip(path: path) }
        var eocd = -1
        var at = n - 22
        let lowest = max(0, n - 22 - 0xFFFF)
        while at >= lowest {
            if u32(bytes, at) == 0x0605_4B50, at + 22 + u16(bytes, at + 20) <= n {
                eocd = at
                break
            }
            at -= 1
        }
        guard eocd >= 0 else { throw ZipError.notAZip(path: path) }
        let disk = u16(bytes, eocd + 4), cdDisk = u16(bytes, eocd + 6)
        let onDisk = u16(bytes, eocd + 8), total = u16(bytes, eocd + 10)
        let cdSize = u32(bytes, eocd + 12), cdOffset = u32(bytes, eocd + 16)
        if total == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw ZipError.unsupported(path: path, entry: nil, feature: "ZIP64")
        }
        guard disk == 0, cdDisk == 0, onDisk == total else {
            throw ZipError.unsupported(path: path, entry: nil, feature: "several disks (a split archive)")
        }
        guard cdOffset <= eocd, cdSize <= eocd - cdOffset else {
            throw corrupt("the central directory (\(cdSize) bytes at \(cdOffset)) is not before its end record at \(eocd)")
        }
        var entries: [ZipEntry] = []
        entries.reserveCapacity(total)
        var p = cdOffset
        let end = cdOffset + cdSize
        for index in 0..<total {
            guard end - p >= 46, u32(bytes, p) == 0x0201_4B50 else {
                throw corrupt("central directory entry \(index) of \(total) is missing or has a bad signature")
            }
            let nameLength = u16(bytes, p + 28), extraLength = u16(bytes, p + 30), commentLength = u16(bytes, p + 32)
            guard 46 + nameLength + extraLength + commentLength <= end - p else {
                throw corrupt("central directory entry \(index) runs past the directory's end")
            }
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[(p + 46)..<(p + 46 + nameLength)])
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw corrupt("central directory entry \(index) has a name that is not UTF-8")
            }
            let compressed = u32(bytes, p + 20), uncompressed = u32(bytes, p + 24), offset = u32(bytes, p + 42)
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
                throw ZipError.unsupported(path: path, entry: name, feature: "ZIP64")
            }
            entries.append(ZipEntry(name: name, method: UInt16(u16(bytes, p + 10)), flags: UInt16(u16(bytes, p + 8)),
                                    crc32: UInt32(u32(bytes, p + 16)), compressedSize: compressed,
                                    uncompressedSize: uncompressed, localHeaderOffset: offset))
            p += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    /// Where `entry`'s data is, after checking its local header against the central directory.
    private func dataRange(of entry: ZipEntry, in bytes: UnsafeRawBufferPointer) throws -> Range<Int> {
        func bad(_ reason: String) -> ZipError { .corruptEntry(path: path, entry: entry.name, reason: reason) }
        if entry.flags & 1 != 0 { throw ZipError.unsupported(path: path, entry: entry.name, feature: "encryption") }
        guard entry.uncompressedSize <= maxEntrySize else {
            throw bad("it extracts to \(entry.uncompressedSize) bytes, more than the \(maxEntrySize) allowed")
        }
        let h = entry.localHeaderOffset
        let n = bytes.count
        guard h <= n, n - h >= 30, Self.u32(bytes, h) == 0x0403_4B50 else {
            throw bad("no local header at offset \(h) (the archive is truncated or corrupt)")
        }
        guard Self.u16(bytes, h + 8) == Int(entry.method) else {
            throw bad("the local header's compression method \(Self.u16(bytes, h + 8)) differs from the central directory's \(entry.method)")
        }
        let nameLength = Self.u16(bytes, h + 26), extraLength = Self.u16(bytes, h + 28)
        let start = h + 30 + nameLength + extraLength
        guard start <= n, entry.compressedSize <= n - start else {
            throw bad("its \(entry.compressedSize) bytes of data at offset \(start) run past the end of the archive (\(n) bytes): truncated")
        }
        let localName = UnsafeRawBufferPointer(rebasing: bytes[(h + 30)..<(h + 30 + nameLength)])
        guard localName.elementsEqual(entry.name.utf8) else {
            throw bad("the local header names another file")
        }
        return start..<(start + entry.compressedSize)
    }
}
