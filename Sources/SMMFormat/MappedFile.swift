#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A whole file mapped read-only into memory (`open` + `fstat` + `mmap`).
///
/// The mapping is private and read-only and stays valid until the object is deallocated, when it is
/// unmapped. Pointers obtained from `baseAddress` or `bytes(in:)` must not be used after that: keep
/// the `MappedFile` (or a value holding it) alive, e.g. with `withExtendedLifetime`.
///
/// The file descriptor is closed right after mapping; the mapping keeps the file's pages reachable
/// even if the file is later renamed or deleted. Truncating the file while it is mapped makes
/// access to the lost pages fault (SIGBUS), as with any memory-mapped file; model files are not
/// expected to change while in use.
///
/// Immutable after `init`, hence safe to share between threads.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The file size in bytes (always > 0).
    public let count: Int
    /// The first byte of the mapping (page aligned).
    public let baseAddress: UnsafeRawPointer

    /// Maps the file at `url` (a file URL).
    /// - Throws: `FormatError.cannotOpen` (missing or unreadable file, with the errno text),
    ///   `.notARegularFile`, `.emptyFile`, or `.mapFailed`.
    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    /// Maps the file at `path`.
    /// - Throws: `FormatError.cannotOpen` (missing or unreadable file, with the errno text),
    ///   `.notARegularFile`, `.emptyFile`, or `.mapFailed`.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw FormatError.cannotOpen(path: path, reason: MappedFile.errnoText())
        }
        defer { close(fd) }

        var st = stat()
        if fstat(fd, &st) != 0 {
            throw FormatError.cannotOpen(path: path, reason: MappedFile.errnoText())
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError.notARegularFile(path: path)
        }
        guard st.st_size > 0 else {
            throw FormatError.emptyFile(path: path)
        }
        guard let size = Int(exactly: st.st_size) else {
            throw FormatError.mapFailed(path: path, reason: "file size \(st.st_size) does not fit in memory")
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw FormatError.mapFailed(path: path, reason: MappedFile.errnoText())
        }
        self.count = size
        self.baseAddress = UnsafeRawPointer(address)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: baseAddress), count)
    }

    /// The whole mapping as a buffer.
    public var allBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: baseAddress, count: count)
    }

    /// The bytes in `range` (offsets from the start of the file), without copying.
    /// - Throws: `FormatError.outOfBounds` when the range is not inside the file.
    public func bytes(in range: Range<Int>) throws -> UnsafeRawBufferPointer {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw FormatError.outOfBounds(path: path, range: range, fileSize: count)
        }
        return UnsafeRawBufferPointer(start: baseAddress + range.lowerBound, count: range.count)
    }

    /// Access patterns that can be announced to the kernel with `advise(_:range:)`.
    public enum Advice: Sendable {
        /// No special treatment (the default).
        case normal
        /// Pages will be read in order: read ahead aggressively.
        case sequential
        /// Pages will be read in random order: little read-ahead.
        case random
        /// Pages will be needed soon: start reading them in now.
        case willNeed
        /// Pages will not be needed soon: they may be dropped (they are re-read from the file on access).
        case dontNeed

        var flag: Int32 {
            switch self {
            case .normal: return Int32(MADV_NORMAL)
            case .sequential: return Int32(MADV_SEQUENTIAL)
            case .random: return Int32(MADV_RANDOM)
            case .willNeed: return Int32(MADV_WILLNEED)
            case .dontNeed: return Int32(MADV_DONTNEED)
            }
        }
    }

    /// Gives the kernel a hint (`madvise`) about how `range` (the whole file when nil) will be used.
    /// The range is widened to whole pages and clamped to the file.
    /// - Returns: true when the kernel accepted the hint. A refused hint is harmless.
    @discardableResult
    public func advise(_ advice: Advice, range: Range<Int>? = nil) -> Bool {
        let requested = range ?? 0..<count
        let lower = max(0, min(requested.lowerBound, count))
        let upper = max(lower, min(requested.upperBound, count))
        guard upper > lower else { return true }
        let page = MappedFile.pageSize
        let alignedLower = lower - lower % page
        let length = upper - alignedLower
        return madvise(UnsafeMutableRawPointer(mutating: baseAddress + alignedLower), length, advice.flag) == 0
    }

    /// Asks the kernel to start reading `range` (the whole file when nil) into memory now
    /// (`MADV_WILLNEED`), so that later accesses do not wait for the disk.
    @discardableResult
    public func willNeed(_ range: Range<Int>? = nil) -> Bool {
        advise(.willNeed, range: range)
    }

    /// The system's memory page size.
    public static let pageSize: Int = {
        let size = sysconf(Int32(_SC_PAGESIZE))
        return size > 0 ? Int(size) : 4096
    }()

    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code)) + " (errno \(code))"
    }
}
