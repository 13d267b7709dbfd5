// What the machine offers: cores this process may use, memory it may take, CPU features, load,
// disk space, and a measured matrix-multiply and memory-bandwidth probe. Linux facts come from
// /proc and /sys (cgroup v2, with v1 as a fallback); Apple platforms use sysctl.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import SMMKernels

/// Facts about the machine, as the manager sees them. Every field can be set by hand to describe a
/// fake machine in tests.
public struct SystemInfo: Sendable, Codable, Equatable {
    /// `linux`, `macOS`, …
    public var platform: String
    /// Kernel or OS version string.
    public var osVersion: String
    /// `x86_64` or `arm64`.
    public var architecture: String
    /// Processor model name.
    public var cpuModel: String
    /// Lower-cased instruction-set flags (as in /proc/cpuinfo).
    public var cpuFlags: [String]
    /// Logical CPUs of the machine (hardware threads).
    public var logicalCores: Int
    /// Physical cores of the machine.
    public var physicalCores: Int
    /// CPUs this process may run on (`sched_getaffinity`).
    public var affinityCores: Int
    /// The cgroup CPU quota in CPUs (`cpu.max` quota / period), nil when unlimited.
    public var cgroupCPULimit: Double?
    /// Total physical memory, bytes.
    public var totalMemoryBytes: Int
    /// Memory available to new allocations (`MemAvailable`), bytes.
    public var availableMemoryBytes: Int
    /// The cgroup memory limit (`memory.max`), nil when unlimited.
    public var cgroupMemoryLimitBytes: Int?
    /// The cgroup's current memory use (`memory.current`), nil when unknown.
    public var cgroupMemoryUsageBytes: Int?
    /// 1, 5 and 15 minute load averages.
    public var loadAverage: [Double]
    /// The folder where models live.
    public var modelsDirectory: String
    /// Free bytes on the file system of `modelsDirectory` (`statvfs`), nil when unknown.
    public var freeDiskBytes: Int?
    /// The measured compute and bandwidth probe, nil until measured.
    public var throughput: ThroughputProbe?

    /// A system description given field by field (fake machines in tests).
    public init(platform: String = "linux", osVersion: String = "", architecture: String = "x86_64",
                cpuModel: String = "test CPU", cpuFlags: [String] = [], logicalCores: Int, physicalCores: Int? = nil,
                affinityCores: Int? = nil, cgroupCPULimit: Double? = nil, totalMemoryBytes: Int,
                availableMemoryBytes: Int? = nil, cgroupMemoryLimitBytes: Int? = nil, cgroupMemoryUsageBytes: Int? = nil,
                loadAverage: [Double] = [0, 0, 0], modelsDirectory: String = "Weights/models", freeDiskBytes: Int? = nil,
                throughput: ThroughputProbe? = nil) {
        self.platform = platform
        self.osVersion = osVersion
        self.architecture = architecture
        self.cpuModel = cpuModel
        self.cpuFlags = cpuFlags
        self.logicalCores = logicalCores
        self.physicalCores = physicalCores ?? logicalCores
        self.affinityCores = affinityCores ?? logicalCores
        self.cgroupCPULimit = cgroupCPULimit
        self.totalMemoryBytes = totalMemoryBytes
        self.availableMemoryBytes = availableMemoryBytes ?? totalMemoryBytes
        self.cgroupMemoryLimitBytes = cgroupMemoryLimitBytes
        self.cgroupMemoryUsageBytes = cgroupMemoryUsageBytes
        self.loadAverage = loadAverage
        self.modelsDirectory = modelsDirectory
        self.freeDiskBytes = freeDiskBytes
        self.throughput = throughput
    }

    /// CPUs this process can keep busy: affinity, capped by the cgroup quota (rounded up), at least 1.
    public var usableCores: Int {
        var cores = max(1, affinityCores)
        if let quota = cgroupCPULimit, quota > 0, quota < Double(cores) { cores = min(cores, Int(quota.rounded(.up))) }
        return max(1, cores)
    }

    /// Threads worth using for inference: the usable cores, but no more than the physical cores.
    public var computeThreads: Int { max(1, min(usableCores, physicalCores)) }

    /// Memory this process may still take: `MemAvailable`, capped by the cgroup's limit minus its usage.
    public var effectiveAvailableMemoryBytes: Int {
        var available = availableMemoryBytes
        if let limit = cgroupMemoryLimitBytes {
            available = min(available, max(0, limit - (cgroupMemoryUsageBytes ?? 0)))
        }
        return max(0, available)
    }

    /// The CPU feature flags as the kernels' `CPUFeatures` value.
    public var features: CPUFeatures { CPUFeatures(modelName: cpuModel, flags: Set(cpuFlags)) }

    /// The features that matter for inference, as short names (`avx2`, `avx512`, `vnni`, `bf16`, `amx`, `neon`, `dotprod`).
    public var featureNames: [String] {
        let f = features
        var names: [String] = []
        if f.hasAVX2 { names.append("avx2") }
        if f.hasAVX512 { names.append("avx512") }
        if f.hasVNNI { names.append("vnni") }
        if f.hasBF16 { names.append("bf16") }
        if f.hasAMX { names.append("amx") }
        if f.hasNEON { names.append("neon") }
        if f.hasDotProduct { names.append("dotprod") }
        return names
    }

    /// The 1-minute load average divided by the usable cores (1 = every core busy).
    public var cpuPressure: Double { (loadAverage.first ?? 0) / Double(usableCores) }

    /// A stable id of this machine for caches: CPU model, core and memory counts, and the machine id file.
    public var machineID: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let key = "\(platform)|\(architecture)|\(cpuModel)|\(logicalCores)|\(physicalCores)|"
            + "\(totalMemoryBytes >> 26)|\(Self.hostIdentity)"
        for b in key.utf8 { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return String(hash, radix: 16)
    }

    static let hostIdentity: String = {
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return ProcessInfo.processInfo.hostName
    }()
}

/// A measured probe of the machine's speed.
public struct ThroughputProbe: Sendable, Codable, Equatable {
    /// Single-precision matrix multiply throughput of one core (256×256×256 sgemm), GFLOP/s.
    public var singleCoreGFLOPS: Double
    /// The same with one sgemm per usable core at once, GFLOP/s in total.
    public var multiCoreGFLOPS: Double
    /// Memory read bandwidth of every thread at once over a buffer larger than the caches (what a
    /// decode step does with the weights), GB/s.
    public var memoryBandwidthGBps: Double
    /// How `memoryBandwidthGBps` was measured (`ThroughputMeter.bandwidthMethod`); a cached probe
    /// measured another way (an older build's 32 MB copy, which the L3 cache could hold) is measured again.
    public var bandwidthMethod: String?
    /// When it was measured (seconds since 1970).
    public var measuredAt: Double
    /// The machine it was measured on (`SystemInfo.machineID`).
    public var machineID: String
    /// Threads used for `multiCoreGFLOPS`.
    public var threads: Int

    /// A probe result given by hand (fake machines).
    public init(singleCoreGFLOPS: Double, multiCoreGFLOPS: Double, memoryBandwidthGBps: Double,
                measuredAt: Double = Date().timeIntervalSince1970, machineID: String = "", threads: Int = 1,
                bandwidthMethod: String? = nil) {
        self.bandwidthMethod = bandwidthMethod
        self.singleCoreGFLOPS = singleCoreGFLOPS
        self.multiCoreGFLOPS = multiCoreGFLOPS
        self.memoryBandwidthGBps = memoryBandwidthGBps
        self.measuredAt = measuredAt
        self.machineID = machineID
        self.threads = threads
    }
}

/// The machine's class, from its score.
public enum SystemTier: String, Sendable, Codable, CaseIterable, Comparable {
    /// Few cores or little memory: small, quantized models.
    case lowEnd = "low-end"
    /// A typical laptop or small server.
    case midRange = "mid-range"
    /// Many cores and plenty of memory.
    case highEnd = "high-end"

    public static func < (a: SystemTier, b: SystemTier) -> Bool {
        let order: [SystemTier] = [.lowEnd, .midRange, .highEnd]
        return (order.firstIndex(of: a) ?? 0) < (order.firstIndex(of: b) ?? 0)
    }
}

/// The system score (0–100) and tier, with how each part contributed.
///
/// Points (documented in Docs/MANAGER.md):
/// - cores: 30 × min(usable cores, 16) / 16
/// - memory: 30 × min(available GiB, 32) / 32
/// - compute: 30 × min(measured GFLOP/s, 400) / 400 (estimated from cores and features until measured)
/// - features: 10 for AVX-512, AMX or NEON+dot-product; 6 for AVX2; 4 for NEON; 0 otherwise
///
/// Tiers: high-end at 55 points and more, with at least 8 usable cores and 16 GiB available;
/// mid-range at 25 points and more, with at least 2 usable cores and 2 GiB available; low-end otherwise.
public struct SystemAssessment: Sendable, Codable, Equatable {
    /// 0–100.
    public var score: Double
    /// The tier the score and the hard minimums give.
    public var tier: SystemTier
    /// Points per part: `cores`, `memory`, `compute`, `features`.
    public var points: [String: Double]
    /// GFLOP/s used (measured, or estimated when `computeIsEstimated`).
    public var gflops: Double
    /// True when no probe was measured and `gflops` is a guess from cores and features.
    public var computeIsEstimated: Bool
    /// Why the tier is what it is.
    public var notes: [String]

    /// Tier thresholds.
    public static let highEndScore = 55.0, midRangeScore = 25.0
    /// High-end minimums.
    public static let highEndCores = 8, highEndMemoryGiB = 16.0
    /// Mid-range minimums.
    public static let midRangeCores = 2, midRangeMemoryGiB = 2.0

    /// Scores `info`.
    public static func assess(_ info: SystemInfo) -> SystemAssessment {
        let cores = info.usableCores
        let memGiB = Double(info.effectiveAvailableMemoryBytes) / Double(1 << 30)
        let estimated = info.throughput == nil
        let gflops = info.throughput?.multiCoreGFLOPS ?? estimateGFLOPS(info)
        let f = info.features
        let featurePoints: Double = (f.hasAVX512 || f.hasAMX || (f.hasNEON && f.hasDotProduct)) ? 10
            : f.hasAVX2 ? 6 : f.hasNEON ? 4 : 0
        let points: [String: Double] = [
            "cores": 30 * Double(min(cores, 16)) / 16,
            "memory": 30 * min(memGiB, 32) / 32,
            "compute": 30 * min(gflops, 400) / 400,
            "features": featurePoints,
        ]
        let score = (points.values.reduce(0, +) * 10).rounded() / 10
        var notes: [String] = []
        var tier: SystemTier
        if score >= highEndScore && cores >= highEndCores && memGiB >= highEndMemoryGiB {
            tier = .highEnd
            notes.append("score \(score) ≥ \(highEndScore) with \(cores) cores and \(fmt(memGiB)) GiB available")
        } else if score >= midRangeScore && cores >= midRangeCores && memGiB >= midRangeMemoryGiB {
            tier = .midRange
            notes.append("score \(score) ≥ \(midRangeScore) with \(cores) cores and \(fmt(memGiB)) GiB available")
            if score >= highEndScore {
                notes.append("not high-end: needs \(highEndCores) cores and \(fmt(highEndMemoryGiB)) GiB available")
            }
        } else {
            tier = .lowEnd
            if score < midRangeScore { notes.append("score \(score) < \(midRangeScore)") }
            if cores < midRangeCores { notes.append("only \(cores) usable core(s) (mid-range needs \(midRangeCores))") }
            if memGiB < midRangeMemoryGiB {
                notes.append("only \(fmt(memGiB)) GiB available (mid-range needs \(fmt(midRangeMemoryGiB)))")
            }
        }
        if estimated { notes.append("compute estimated at \(fmt(gflops)) GFLOP/s (no probe measured)") }
        return SystemAssessment(score: score, tier: tier, points: points, gflops: gflops,
                                computeIsEstimated: estimated, notes: notes)
    }

    /// A guess of multi-core sgemm GFLOP/s from cores and features (used until the probe runs).
    public static func estimateGFLOPS(_ info: SystemInfo) -> Double {
        let f = info.features
        let perCore: Double = f.hasAVX512 ? 60 : f.hasAVX2 ? 30 : f.hasNEON ? 20 : 8
        return perCore * Double(info.computeThreads)
    }

    static func fmt(_ x: Double) -> String { String(format: "%.1f", x) }
}

/// The analysis the manager keeps: facts plus assessment.
public struct SystemAnalysis: Sendable, Codable, Equatable {
    /// The facts.
    public var info: SystemInfo
    /// Score and tier.
    public var assessment: SystemAssessment
    /// When the facts were read (seconds since 1970).
    public var analysedAt: Double

    /// Pairs facts with their assessment.
    public init(info: SystemInfo, analysedAt: Double = Date().timeIntervalSince1970) {
        self.info = info
        self.assessment = SystemAssessment.assess(info)
        self.analysedAt = analysedAt
    }

    /// GFLOP/s to use for latency estimates: the probe's (or the estimate), scaled down when other
    /// processes keep the CPUs busy (load above the usable cores).
    public var effectiveGFLOPS: Double {
        let pressure = info.cpuPressure
        let share = pressure > 1 ? 1 / pressure : 1
        return max(0.1, assessment.gflops * share)
    }
}

/// Where the manager gets system facts from. The live probe reads the OS; tests inject fixed facts.
public protocol SystemProbe: Sendable {
    /// Reads the machine's facts (cheap: files and syscalls), without the throughput probe.
    func collect(modelsDirectory: URL) throws -> SystemInfo
    /// Measures compute and memory throughput (tens of milliseconds).
    func measureThroughput(threads: Int) -> ThroughputProbe
}

/// A probe that answers with fixed facts (for tests and for describing a target machine).
public struct FixedSystemProbe: SystemProbe {
    /// The facts returned by `collect`.
    public var info: SystemInfo
    /// The probe returned by `measureThroughput`.
    public var throughput: ThroughputProbe

    /// Fixed facts; the throughput defaults to `info.throughput` or an estimate from cores and features.
    public init(_ info: SystemInfo, throughput: ThroughputProbe? = nil) {
        self.info = info
        let g = SystemAssessment.estimateGFLOPS(info)
        self.throughput = throughput ?? info.throughput
            ?? ThroughputProbe(singleCoreGFLOPS: g / Double(info.computeThreads), multiCoreGFLOPS: g,
                               memoryBandwidthGBps: 10, machineID: info.machineID, threads: info.computeThreads)
    }

    public func collect(modelsDirectory: URL) throws -> SystemInfo {
        var copy = info
        copy.modelsDirectory = modelsDirectory.path
        copy.throughput = nil
        return copy
    }

    public func measureThroughput(threads: Int) -> ThroughputProbe { throughput }
}

/// Reads the real machine. `root` prefixes /proc and /sys paths so that a fake file tree can be read in tests.
public struct LiveSystemProbe: SystemProbe {
    /// Prefix of `/proc` and `/sys` paths ("" for the real ones).
    public var root: String

    /// A probe of this machine (or of a file tree under `root`).
    public init(root: String = "") { self.root = root }

    func read(_ path: String) -> String? { try? String(contentsOfFile: root + path, encoding: .utf8) }

    public func collect(modelsDirectory: URL) throws -> SystemInfo {
        #if os(Linux)
        guard let cpuinfo = read("/proc/cpuinfo"), let meminfo = read("/proc/meminfo") else {
            throw ManagerError.systemAnalysisFailed("cannot read \(root)/proc/cpuinfo or \(root)/proc/meminfo")
        }
        let features = CPUFeatures.parse(cpuinfo: cpuinfo)
        let memory = ProcParser.meminfo(meminfo)
        let logical = max(1, ProcParser.logicalCores(cpuinfo: cpuinfo))
        let physical = ProcParser.physicalCores(cpuinfo: cpuinfo) ?? logical
        let affinity = root.isEmpty ? (ProcParser.affinityCount() ?? logical)
            : (read("/proc/self/status").flatMap(ProcParser.allowedCPUs) ?? logical)
        let cgroup = cgroupLimits()
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return SystemInfo(
            platform: "linux", osVersion: root.isEmpty ? "Linux \(release)" : "Linux (fake root)",
            architecture: Self.architecture, cpuModel: features.modelName, cpuFlags: features.flags.sorted(),
            logicalCores: logical, physicalCores: physical, affinityCores: min(affinity, logical),
            cgroupCPULimit: cgroup.cpu, totalMemoryBytes: memory.total ?? 0,
            availableMemoryBytes: memory.available ?? memory.free ?? 0,
            cgroupMemoryLimitBytes: cgroup.memoryLimit, cgroupMemoryUsageBytes: cgroup.memoryUsage,
            loadAverage: read("/proc/loadavg").map(ProcParser.loadavg) ?? [0, 0, 0],
            modelsDirectory: modelsDirectory.path, freeDiskBytes: Self.freeDisk(modelsDirectory))
        #elseif canImport(Darwin)
        let features = CPUFeatures.current
        let logical = Sysctl.int("hw.logicalcpu") ?? ProcessInfo.processInfo.processorCount
        let physical = Sysctl.int("hw.physicalcpu") ?? logical
        let total = Int(ProcessInfo.processInfo.physicalMemory)
        var loads = [Double](repeating: 0, count: 3)
        getloadavg(&loads, 3)
        let version = ProcessInfo.processInfo.operatingSystemVersionString
        return SystemInfo(platform: "macOS", osVersion: version, architecture: Self.architecture,
                          cpuModel: features.modelName, cpuFlags: features.flags.sorted(), logicalCores: logical,
                          physicalCores: physical, affinityCores: ProcessInfo.processInfo.activeProcessorCount,
                          totalMemoryBytes: total, availableMemoryBytes: Sysctl.availableMemory() ?? total / 2,
                          loadAverage: loads, modelsDirectory: modelsDirectory.path,
                          freeDiskBytes: Self.freeDisk(modelsDirectory))
        #else
        let count = ProcessInfo.processInfo.activeProcessorCount
        return SystemInfo(platform: "unknown", logicalCores: count,
                          totalMemoryBytes: Int(ProcessInfo.processInfo.physicalMemory),
                          modelsDirectory: modelsDirectory.path)
        #endif
    }

    static var architecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "other"
        #endif
    }

    /// cgroup v2 `cpu.max`, `memory.max`, `memory.current` for this process's cgroup; v1 files as a fallback.
    func cgroupLimits() -> (cpu: Double?, memoryLimit: Int?, memoryUsage: Int?) {
        var cpu: Double?
        var limit: Int?
        var usage: Int?
        let groups = read("/proc/self/cgroup").map(ProcParser.cgroupPaths) ?? [:]
        // v2: the unified hierarchy, at the process's own path, then at the mount root.
        let v2Base = "/sys/fs/cgroup"
        let v2Dirs = [groups[""].map { v2Base + $0 }, v2Base].compactMap { $0 }
        for dir in v2Dirs {
            if cpu == nil, let text = read(dir + "/cpu.max") { cpu = ProcParser.cpuMax(text) }
            if limit == nil, let text = read(dir + "/memory.max") { limit = ProcParser.cgroupBytes(text) }
            if usage == nil, let text = read(dir + "/memory.current") { usage = ProcParser.cgroupBytes(text) }
        }
        // v1.
        if cpu == nil, let q = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").flatMap(ProcParser.integer),
           let p = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us").flatMap(ProcParser.integer), q > 0, p > 0 {
            cpu = Double(q) / Double(p)
        }
        if limit == nil, let text = read("/sys/fs/cgroup/memory/memory.limit_in_bytes") {
            limit = ProcParser.cgroupBytes(text)
            if limit != nil, let u = read("/sys/fs/cgroup/memory/memory.usage_in_bytes") {
                usage = ProcParser.cgroupBytes(u)
            }
        }
        return (cpu, limit, limit == nil ? nil : usage)
    }

    static func freeDisk(_ directory: URL) -> Int? {
        var url = directory
        // The folder may not exist yet: ask about its closest existing ancestor.
        while !FileManager.default.fileExists(atPath: url.path), url.pathComponents.count > 1 {
            url = url.deletingLastPathComponent()
        }
        var stats = statvfs()
        guard statvfs(url.path, &stats) == 0 else { return nil }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    public func measureThroughput(threads: Int) -> ThroughputProbe {
        ThroughputMeter.measure(threads: threads)
    }
}
