// Reading the machine's facts: pure parsers of /proc and /sys text (Linux) and sysctl (Apple).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SMMKernels

/// Parsers of /proc and /sys text (pure functions, tested with sample text).
public enum ProcParser {
    /// `MemTotal`, `MemAvailable`, `MemFree` in bytes.
    public static func meminfo(_ text: String) -> (total: Int?, available: Int?, free: Int?) {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            guard parts.count >= 2, let number = Int(parts[1]) else { continue }
            let unit = parts.count >= 3 && parts[2].lowercased() == "kb" ? 1024 : 1
            values[String(parts[0])] = number * unit
        }
        return (values["MemTotal"], values["MemAvailable"], values["MemFree"])
    }

    /// Number of `processor` lines.
    public static func logicalCores(cpuinfo: String) -> Int {
        cpuinfo.split(separator: "\n").filter { $0.hasPrefix("processor") }.count
    }

    /// Distinct (`physical id`, `core id`) pairs, or nil when the file has no core ids (ARM, some VMs).
    public static func physicalCores(cpuinfo: String) -> Int? {
        var pairs = Set<String>()
        var physical = "0"
        for line in cpuinfo.split(separator: "\n") {
            let value = line.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.hasPrefix("physical id") { physical = value }
            if line.hasPrefix("core id") { pairs.insert(physical + "/" + value) }
        }
        return pairs.isEmpty ? nil : pairs.count
    }

    /// `cpu.max` (`"max 100000"` or `"200000 100000"`) as CPUs, nil when unlimited.
    public static func cpuMax(_ text: String) -> Double? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count >= 2, parts[0] != "max", let quota = Double(parts[0]), let period = Double(parts[1]),
              quota > 0, period > 0, quota.isFinite, period.isFinite else { return nil }
        return quota / period
    }

    /// A cgroup byte count (`memory.max`, `memory.current`); nil for `max` and for v1's "unlimited" values.
    public static func cgroupBytes(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed != "max", let value = Int(trimmed), value >= 0 else { return nil }
        return value >= (1 << 62) ? nil : value
    }

    /// An integer file (v1 `cpu.cfs_quota_us`).
    public static func integer(_ text: String) -> Int? { Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) }

    /// The three load averages of /proc/loadavg.
    public static func loadavg(_ text: String) -> [Double] {
        let values = text.split(separator: " ").prefix(3).compactMap { Double($0) }
        return values.count == 3 ? values : [0, 0, 0]
    }

    /// /proc/self/cgroup lines `id:controllers:path` as controllers → path ("" for the v2 hierarchy).
    public static func cgroupPaths(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            result[String(parts[1])] = String(parts[2])
        }
        return result
    }

    /// `Cpus_allowed_list` of /proc/self/status, counted.
    public static func allowedCPUs(status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return cpuListCount(String(line.dropFirst("Cpus_allowed_list:".count)))
        }
        return nil
    }

    /// Counts a CPU list such as `0-3,8,10-11`.
    public static func cpuListCount(_ text: String) -> Int? {
        var count = 0
        for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let bounds = part.split(separator: "-")
            if bounds.count == 1, Int(bounds[0]) != nil {
                count += 1
            } else if bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]), b >= a {
                count += b - a + 1
            } else {
                return nil
            }
        }
        return count > 0 ? count : nil
    }

    /// CPUs in this process's affinity mask (`sched_getaffinity`).
    public static func affinityCount() -> Int? {
        #if os(Linux)
        // Glibc's Swift overlay does not export sched_getaffinity (it needs _GNU_SOURCE): look it up.
        typealias Fn = @convention(c) (pid_t, Int, UnsafeMutableRawPointer?) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "sched_getaffinity") else {
            return (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)).flatMap(allowedCPUs)
        }
        let getaffinity = unsafeBitCast(symbol, to: Fn.self)
        var mask = [UInt64](repeating: 0, count: 16)  // 1024 CPUs
        let ok = mask.withUnsafeMutableBytes { getaffinity(0, $0.count, $0.baseAddress) } == 0
        guard ok else { return (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)).flatMap(allowedCPUs) }
        let count = mask.reduce(0) { $0 + $1.nonzeroBitCount }
        return count > 0 ? count : nil
        #else
        return nil
        #endif
    }
}

#if canImport(Darwin)
enum Sysctl {
    static func int(_ name: String) -> Int? {
        var value: Int64 = 0
        var size = MemoryLayout<Int64>.size
        guard sysctlbyname(name, &value, &size, nil, 0) == 0 else { return nil }
        return Int(value)
    }

    /// Free + inactive pages (what macOS can hand out without swapping).
    static func availableMemory() -> Int? {
        var stats = vm_statistics64()
        var count = mach_msg_type_number_t(MemoryLayout<vm_statistics64>.size / MemoryLayout<integer_t>.size)
        let result = withUnsafeMutablePointer(to: &stats) {
            $0.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                host_statistics64(mach_host_self(), HOST_VM_INFO64, $0, &count)
            }
        }
        guard result == KERN_SUCCESS else { return nil }
        let page = Int(vm_kernel_page_size)
        return (Int(stats.free_count) + Int(stats.inactive_count)) * page
    }
}
#endif
