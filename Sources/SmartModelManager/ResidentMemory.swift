// The memory this process holds: the one reader of resident and peak resident memory (the cache's
// measured load growth, the benchmark runner, `smm bench`'s peak RSS).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Resident memory of this process (Linux `/proc`; 0 elsewhere or when it cannot be read).
public enum ResidentMemory {
    /// The resident set size in bytes, from `/proc/self/statm`.
    public static func bytes() -> Int {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return 0
        #endif
    }

    /// The peak resident set size in bytes (`VmHWM` of `/proc/self/status`).
    public static func peakBytes() -> Int {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            if let kib = line.split(separator: " ").compactMap({ Int($0) }).first { return kib * 1024 }
        }
        return 0
        #else
        return 0
        #endif
    }
}
