// Which file a catalog model is on disk right now: device, inode, size and modification time of
// the `.smm` file, or of every regular file directly in a Hugging Face folder. `smm-convert`
// publishes by renaming a new file over the old one, so a replaced model has a new inode; an edit
// in place changes the size or the modification time. The cache compares the identity a model was
// loaded from with the one on disk at each request, and maps the new file for the next request
// (requests in flight keep the old mapping, which stays valid after the rename).
import Foundation

/// The identity of a model's files on disk.
public struct FileIdentity: Sendable, Equatable, CustomStringConvertible {
    /// One file: name within the model's location, device, inode, bytes, mtime (ns since 1970).
    public struct Stamp: Sendable, Equatable {
        /// The file's name in its folder.
        public var name: String
        /// The device it is on.
        public var device: UInt64
        /// Its inode number (a file renamed over it gets a new one).
        public var inode: UInt64
        /// Its size in bytes.
        public var bytes: Int64
        /// Its modification time, in nanoseconds since 1970.
        public var modifiedNs: Int64
    }

    /// The files, by name.
    public var stamps: [Stamp]

    /// The identity of `location` (a file, or a folder's regular files); nil when it is missing.
    public static func of(_ location: URL) -> FileIdentity? {
        guard let top = stamp(location.path, name: location.lastPathComponent) else { return nil }
        guard top.isDirectory else { return FileIdentity(stamps: [top.stamp]) }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: location.path) else { return nil }
        let stamps = names.sorted().compactMap { name -> Stamp? in
            guard let s = stamp(location.appendingPathComponent(name).path, name: name), !s.isDirectory else { return nil }
            return s.stamp
        }
        return FileIdentity(stamps: stamps)
    }

    private static func stamp(_ path: String, name: String) -> (stamp: Stamp, isDirectory: Bool)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = info.st_mode & S_IFMT
        guard mode == S_IFREG || mode == S_IFDIR else { return nil }
        #if canImport(Darwin)
        let time = info.st_mtimespec
        #else
        let time = info.st_mtim
        #endif
        let ns = Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        return (Stamp(name: name, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), bytes: Int64(info.st_size),
                      modifiedNs: ns), mode == S_IFDIR)
    }

    /// The files with their inode, size and modification time, for logs.
    public var description: String {
        stamps.map { "\($0.name) (inode \($0.inode), \($0.bytes) bytes)" }.joined(separator: ", ")
    }
}
