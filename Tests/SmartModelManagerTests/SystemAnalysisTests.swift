import Foundation
import XCTest
@testable import SmartModelManager

final class SystemAnalysisTests: XCTestCase {
    func testParsers() {
        let mem = ProcParser.meminfo("MemTotal:       16384000 kB\nMemFree:  1000 kB\nMemAvailable:    8192000 kB\n")
        XCTAssertEqual(mem.total, 16_384_000 * 1024)
        XCTAssertEqual(mem.available, 8_192_000 * 1024)
        XCTAssertEqual(mem.free, 1000 * 1024)
        XCTAssertNil(ProcParser.cpuMax("max 100000\n"))
        XCTAssertEqual(ProcParser.cpuMax("150000 100000\n"), 1.5)
        XCTAssertNil(ProcParser.cgroupBytes("max\n"))
        XCTAssertEqual(ProcParser.cgroupBytes("1073741824\n"), 1 << 30)
        XCTAssertNil(ProcParser.cgroupBytes("9223372036854771712"))  // v1 "unlimited"
        XCTAssertEqual(ProcParser.loadavg("0.50 1.25 2.00 3/400 1234\n"), [0.5, 1.25, 2.0])
        XCTAssertEqual(ProcParser.cpuListCount("0-3,8,10-11"), 7)
        XCTAssertNil(ProcParser.cpuListCount("x"))
        XCTAssertEqual(ProcParser.allowedCPUs(status: "Name: x\nCpus_allowed_list:\t0-1\n"), 2)
        let cpuinfo = """
            processor : 0
            physical id : 0
            core id : 0
            processor : 1
            physical id : 0
            core id : 0
            processor : 2
            physical id : 0
            core id : 1
            processor : 3
            physical id : 0
            core id : 1
            """
        XCTAssertEqual(ProcParser.logicalCores(cpuinfo: cpuinfo), 4)
        XCTAssertEqual(ProcParser.physicalCores(cpuinfo: cpuinfo), 2)
        XCTAssertEqual(ProcParser.cgroupPaths("0::/user.slice\n4:memory:/docker/abc\n"), ["": "/user.slice", "memory": "/docker/abc"])
    }

    /// A fake /proc and /sys tree with a cgroup v2 limit of 1.5 CPUs and 2 GiB (1.5 GiB used).
    func testLiveProbeReadsAFakeTreeWithCgroupV2Limits() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("smm-proc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func write(_ path: String, _ text: String) throws {
            let url = root.appendingPathComponent(String(path.dropFirst()))
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        var cpuinfo = ""
        for i in 0..<8 {
            cpuinfo += "processor\t: \(i)\nmodel name\t: Fake EPYC\nphysical id\t: 0\ncore id\t\t: \(i / 2)\n"
                + "flags\t\t: fpu avx2 fma avx512f avx512bw avx512dq avx512vl avx512_vnni\n\n"
        }
        try write("/proc/cpuinfo", cpuinfo)
        try write("/proc/meminfo", "MemTotal: 33554432 kB\nMemFree: 1000000 kB\nMemAvailable: 16777216 kB\n")
        try write("/proc/loadavg", "3.00 2.00 1.00 1/100 99\n")
        try write("/proc/self/status", "Cpus_allowed_list:\t0-5\n")
        try write("/proc/self/cgroup", "0::/box\n")
        try write("/sys/fs/cgroup/box/cpu.max", "150000 100000\n")
        try write("/sys/fs/cgroup/box/memory.max", "\(2 << 30)\n")
        try write("/sys/fs/cgroup/box/memory.current", "\(3 << 29)\n")
        let info = try LiveSystemProbe(root: root.path).collect(modelsDirectory: root)
        XCTAssertEqual(info.cpuModel, "Fake EPYC")
        XCTAssertEqual(info.logicalCores, 8)
        XCTAssertEqual(info.physicalCores, 4)
        XCTAssertEqual(info.affinityCores, 6)
        XCTAssertEqual(info.cgroupCPULimit, 1.5)
        XCTAssertEqual(info.usableCores, 2)
        XCTAssertEqual(info.totalMemoryBytes, 32 << 30)
        XCTAssertEqual(info.availableMemoryBytes, 16 << 30)
        XCTAssertEqual(info.cgroupMemoryLimitBytes, 2 << 30)
        XCTAssertEqual(info.effectiveAvailableMemoryBytes, 512 << 20)
        XCTAssertEqual(info.loadAverage, [3, 2, 1])
        XCTAssertEqual(info.featureNames, ["avx2", "avx512", "vnni"])
        XCTAssertEqual(info.cpuPressure, 1.5)
    }

    /// On this machine the live probe agrees with /proc.
    func testLiveProbeAgreesWithProc() throws {
        #if os(Linux)
        let info = try LiveSystemProbe().collect(modelsDirectory: URL(fileURLWithPath: "."))
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        XCTAssertEqual(info.logicalCores, cpuinfo.split(separator: "\n").filter { $0.hasPrefix("processor") }.count)
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        XCTAssertEqual(info.totalMemoryBytes, ProcParser.meminfo(meminfo).total)
        XCTAssertGreaterThan(info.availableMemoryBytes, 0)
        XCTAssertEqual(info.affinityCores, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertNotNil(info.freeDiskBytes)
        print("this machine: \(info.logicalCores) logical, \(info.physicalCores) physical, \(info.usableCores) usable; "
              + "\(ByteFormat.string(info.totalMemoryBytes)) total, \(ByteFormat.string(info.effectiveAvailableMemoryBytes)) available")
        #else
        throw XCTSkip("/proc exists only on Linux")
        #endif
    }

    func testEveryTierAndItsReasons() {
        let high = SystemAssessment.assess(Machines.highEnd)
        XCTAssertEqual(high.tier, .highEnd)
        XCTAssertGreaterThanOrEqual(high.score, SystemAssessment.highEndScore)
        let mid = SystemAssessment.assess(Machines.midRange)
        XCTAssertEqual(mid.tier, .midRange, "\(mid)")
        let low = SystemAssessment.assess(Machines.lowEnd)
        XCTAssertEqual(low.tier, .lowEnd)
        XCTAssertTrue(low.notes.contains { $0.contains("usable core") }, "\(low.notes)")
        XCTAssertTrue(low.notes.contains { $0.contains("GiB available") }, "\(low.notes)")
        // A big score without enough cores is not high-end.
        var fewCores = Machines.highEnd
        fewCores.affinityCores = 4
        fewCores.throughput?.multiCoreGFLOPS = 2000
        fewCores.availableMemoryBytes = 512 << 30
        fewCores.totalMemoryBytes = 512 << 30
        let capped = SystemAssessment.assess(fewCores)
        XCTAssertEqual(capped.tier, .midRange)
        // Without a probe the compute part is estimated, and says so.
        var unmeasured = Machines.midRange
        unmeasured.throughput = nil
        let estimated = SystemAssessment.assess(unmeasured)
        XCTAssertTrue(estimated.computeIsEstimated)
        XCTAssertEqual(estimated.gflops, 30 * 4)
        // A cgroup memory limit caps the available memory.
        var boxed = Machines.highEnd
        boxed.cgroupMemoryLimitBytes = 1 << 30
        boxed.cgroupMemoryUsageBytes = 1 << 29
        XCTAssertEqual(boxed.effectiveAvailableMemoryBytes, 1 << 29)
        XCTAssertEqual(SystemAssessment.assess(boxed).tier, .lowEnd)
    }

    func testThroughputProbeMeasuresSomething() {
        let probe = ThroughputMeter.measure(threads: 1)
        XCTAssertGreaterThan(probe.singleCoreGFLOPS, 0.1)
        XCTAssertGreaterThan(probe.multiCoreGFLOPS, 0.1)
        XCTAssertGreaterThan(probe.memoryBandwidthGBps, 0.1)
        XCTAssertEqual(probe.bandwidthMethod, ThroughputMeter.bandwidthMethod)
        print("probe: \(probe.singleCoreGFLOPS) GFLOP/s single, \(probe.multiCoreGFLOPS) multi, \(probe.memoryBandwidthGBps) GB/s")
    }

    func testAnalysisIsCachedAndMinimumsAreEnforced() async throws {
        let temp = try TempModels()
        let manager = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(Machines.midRange))
        let a = try await manager.analyzeSystem()
        XCTAssertEqual(a.assessment.tier, .midRange)
        XCTAssertEqual(a.info.modelsDirectory, temp.models.path)
        let b = try await manager.analyzeSystem()
        XCTAssertEqual(a.analysedAt, b.analysedAt, "the second call reuses the analysis")

        let strict = try ModelManager(configuration: temp.configuration { $0.minCPUCores = 64 }, backend: FakeBackend(),
                                           systemProbe: FixedSystemProbe(Machines.midRange))
        do {
            _ = try await strict.analyzeSystem()
            XCTFail("expected minCPUCores to refuse")
        } catch let error as ManagerError {
            XCTAssertTrue(error.description.contains("minCPUCores"), error.description)
        }
        let memory = try ModelManager(configuration: temp.configuration { $0.minSystemMemoryBytes = 64 << 30 },
                                           backend: FakeBackend(), systemProbe: FixedSystemProbe(Machines.midRange))
        do {
            _ = try await memory.analyzeSystem()
            XCTFail("expected minSystemMemoryBytes to refuse")
        } catch let error as ManagerError {
            XCTAssertTrue(error.description.contains("minSystemMemoryBytes"), error.description)
        }
    }

    func testProbeCacheRoundTrip() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smm-probe-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        let probe = ThroughputProbe(singleCoreGFLOPS: 10, multiCoreGFLOPS: 20, memoryBandwidthGBps: 5, machineID: "m1",
                                    bandwidthMethod: ThroughputMeter.bandwidthMethod)
        XCTAssertNil(ProbeCache.save(probe, to: url))
        XCTAssertEqual(ProbeCache.load(url, machineID: "m1"), probe)
        XCTAssertNil(ProbeCache.load(url, machineID: "other"))
        XCTAssertNil(ProbeCache.load(url, machineID: "m1", now: probe.measuredAt + ProbeCache.maxAge + 1))
        // A probe whose bandwidth was measured another way (an older build's cached 32 MB copy) is measured again.
        var old = probe
        old.bandwidthMethod = nil
        old.machineID = "m2"
        XCTAssertNil(ProbeCache.save(old, to: url))
        XCTAssertNil(ProbeCache.load(url, machineID: "m2"))
        XCTAssertEqual(ProbeCache.load(url, machineID: "m1"), probe)
    }
}
