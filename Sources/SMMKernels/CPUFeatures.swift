// What the CPU can do, read once per process. Used to choose OpenBLAS's core and, later,
// the int8/bf16 micro-kernels. Linux reads /proc/cpuinfo; Apple platforms use sysctl.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Instruction-set features of the processor this process runs on.
public struct CPUFeatures: Sendable, Equatable, Codable {
    /// The processor's model name (`model name` in /proc/cpuinfo, `machdep.cpu.brand_string` on macOS).
    public var modelName: String
    /// The instruction-set flags reported by the OS, lowercased (`avx2`, `avx512f`, `avx512_vnni`, `amx_tile`, `asimddp`…).
    public var flags: Set<String>

    /// Makes a feature set by hand (tests and fake systems use this).
    public init(modelName: String, flags: Set<String>) {
        self.modelName = modelName
        self.flags = flags
    }

    /// AVX2 and FMA.
    public var hasAVX2: Bool { flags.contains("avx2") && flags.contains("fma") }
    /// The AVX-512 foundation plus the BW, DQ and VL subsets (Skylake-X and later).
    public var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) }
    /// AVX-512 VNNI (`vpdpbusd`) or AVX-VNNI.
    public var hasVNNI: Bool { flags.contains("avx512_vnni") || flags.contains("avx_vnni") }
    /// AVX-512 BF16 (`vdpbf16ps`).
    public var hasBF16: Bool { flags.contains("avx512_bf16") }
    /// AMX tiles with int8 (`tdpbssd`).
    public var hasAMX: Bool { flags.contains("amx_tile") && flags.contains("amx_int8") }
    /// AMX tiles with bf16 (`tdpbf16ps`).
    public var hasAMXBF16: Bool { flags.contains("amx_tile") && flags.contains("amx_bf16") }
    /// ARM NEON (Advanced SIMD).
    public var hasNEON: Bool { flags.contains("asimd") || flags.contains("neon") }
    /// ARM dot-product instructions (`sdot`).
    public var hasDotProduct: Bool { flags.contains("asimddp") || flags.contains("dotprod") }

    /// The features of this machine, read once.
    public static let current: CPUFeatures = detect()

    static func detect() -> CPUFeatures {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            return CPUFeatures(modelName: "unknown", flags: [])
        }
        return parse(cpuinfo: text)
        #elseif canImport(Darwin)
        var flags: Set<String> = []
        #if arch(arm64)
        flags.insert("neon")
        if sysctlInt("hw.optional.arm.FEAT_DotProd") == 1 { flags.insert("dotprod") }
        #else
        if sysctlInt("hw.optional.avx2_0") == 1 { flags.insert("avx2"); flags.insert("fma") }
        if sysctlInt("hw.optional.avx512f") == 1 { flags.formUnion(["avx512f", "avx512bw", "avx512dq", "avx512vl"]) }
        #endif
        return CPUFeatures(modelName: sysctlString("machdep.cpu.brand_string") ?? "Apple", flags: flags)
        #else
        return CPUFeatures(modelName: "unknown", flags: [])
        #endif
    }

    /// Reads the first processor's `model name` and `flags` (x86) or `Features` (ARM) from /proc/cpuinfo text.
    public static func parse(cpuinfo text: String) -> CPUFeatures {
        var model = "unknown"
        var flags: Set<String> = []
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "model name", "Processor", "cpu model":
                if model == "unknown" { model = value }
            case "flags", "Features":
                if flags.isEmpty { flags = Set(value.split(separator: " ").map { $0.lowercased() }) }
            default: break
            }
        }
        return CPUFeatures(modelName: model, flags: flags)
    }

    /// The OpenBLAS core (`OPENBLAS_CORETYPE`) whose sgemm kernels fit these features, or nil to let OpenBLAS decide.
    public var openBLASCoreType: String? {
        #if arch(x86_64)
        if hasAVX512 { return "SkylakeX" }
        if hasAVX2 { return "Haswell" }
        return nil
        #else
        return nil
        #endif
    }
}

#if canImport(Darwin)
private func sysctlInt(_ name: String) -> Int? {
    var value: Int64 = 0
    var size = MemoryLayout<Int64>.size
    guard sysctlbyname(name, &value, &size, nil, 0) == 0 else { return nil }
    return Int(value)
}

private func sysctlString(_ name: String) -> String? {
    var size = 0
    guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: size)
    guard sysctlbyname(name, &buffer, &size, nil, 0) == 0 else { return nil }
    return String(cString: buffer)
}
#endif
