// Settings from the environment, with the seed's variable names. A value that cannot be parsed is
// an error naming the variable, what it got and what it expects.
import Foundation
import Logging

/// The manager's settings. `fromEnvironment()` reads them from environment variables; every field
/// can also be set in code.
public struct ManagerConfiguration: Sendable, Equatable {
    /// `SMART_MODEL_AUTO_SELECT`: switch models by itself when latency stays too high (else only suggest). Default true.
    public var autoSelect: Bool = true
    /// `MODEL_BENCHMARK_ENABLED`: benchmark the chosen models during `initialize`. Default false.
    public var benchmarkEnabled: Bool = false
    /// `MODEL_CACHE_ENABLED`: keep loaded models after use (else unload when idle). Default true.
    public var cacheEnabled: Bool = true
    /// `MODEL_MEMORY_LIMIT`: largest single model (weights + activations), bytes. Nil: no limit of its own.
    public var modelMemoryLimitBytes: Int?
    /// `MAX_MODEL_CACHE_SIZE`: total bytes of loaded models. Nil: half the available memory at analysis.
    public var maxCacheSizeBytes: Int?
    /// `PREFERRED_MODEL_TYPE`: a model id or architecture (`distilbert`) preferred when it can serve the task.
    public var preferredModel: String?
    /// `FALLBACK_MODEL`: the model id used when the chosen one fails to load.
    public var fallbackModel: String?
    /// `MAX_INFERENCE_TIME`: the latency a request should stay under, milliseconds. Default 1000.
    public var maxInferenceTimeMs: Double = 1000
    /// `MIN_ACCURACY_THRESHOLD`: known accuracies below this (0–1) are rejected. Default 0.
    public var minAccuracy: Double = 0
    /// `MAX_MEMORY_USAGE`: the performance threshold for memory per model, bytes. Nil: none.
    public var maxMemoryUsageBytes: Int?
    /// `MIN_SYSTEM_MEMORY`: refuse to start with less available memory than this, bytes.
    public var minSystemMemoryBytes: Int?
    /// `MIN_CPU_CORES`: refuse to start with fewer usable cores than this.
    public var minCPUCores: Int?
    /// `SMM_SKIP_PREFETCH` (or the seed's `BITFLOW_SKIP_PREFETCH`): do not load the chosen models during `initialize`.
    public var skipPrefetch: Bool = false
    /// `SMM_MODELS_DIR`: where models live. Default `defaultModelsDirectory`, a per-user folder
    /// that does not depend on the current directory.
    public var modelsDirectory: URL = ManagerConfiguration.defaultModelsDirectory
    /// `SMM_CATALOG`: the catalog JSON. Default: `catalog.json` next to the models folder if it exists, else built in.
    public var catalogPath: URL?
    /// `SMM_CACHE_DIR`: where the probe and benchmark caches go. Default `<models>/.smm-cache`, else `~/.cache/smm`.
    public var cacheDirectory: URL?
    /// `SMM_THREADS`: threads for inference. Validated here; the engine's worker pool reads the variable
    /// itself when it starts, so setting this field in code does not change the pool. Nil: the physical cores.
    public var threads: Int?
    /// `SMM_LOG_LEVEL`: trace, debug, info, notice, warning, error, critical. Default info.
    public var logLevel: Logger.Level = .info

    /// The environment variables `fromEnvironment` took a value from (`MAX_MEMORY_USAGE`, ...), so
    /// that a message names a setting the way the caller set it: by its variable when it came from
    /// the environment, by its property (`maxMemoryUsageBytes`) when it was set in code. Empty for a
    /// configuration made with `init()`. A caller that overrides a field read from the environment
    /// may remove its variable from here, and messages then name the property.
    public var variablesFromEnvironment: Set<String> = []

    /// Defaults everywhere.
    public init() {}

    /// The environment variable of each property `fromEnvironment` fills (`skipPrefetch` also reads
    /// `BITFLOW_SKIP_PREFETCH`).
    static let variableOfProperty: [String: String] = [
        "autoSelect": "SMART_MODEL_AUTO_SELECT", "benchmarkEnabled": "MODEL_BENCHMARK_ENABLED",
        "cacheEnabled": "MODEL_CACHE_ENABLED", "modelMemoryLimitBytes": "MODEL_MEMORY_LIMIT",
        "maxCacheSizeBytes": "MAX_MODEL_CACHE_SIZE", "preferredModel": "PREFERRED_MODEL_TYPE",
        "fallbackModel": "FALLBACK_MODEL", "maxInferenceTimeMs": "MAX_INFERENCE_TIME",
        "minAccuracy": "MIN_ACCURACY_THRESHOLD", "maxMemoryUsageBytes": "MAX_MEMORY_USAGE",
        "minSystemMemoryBytes": "MIN_SYSTEM_MEMORY", "minCPUCores": "MIN_CPU_CORES", "skipPrefetch": "SMM_SKIP_PREFETCH",
        "modelsDirectory": "SMM_MODELS_DIR", "catalogPath": "SMM_CATALOG", "cacheDirectory": "SMM_CACHE_DIR",
        "threads": "SMM_THREADS", "logLevel": "SMM_LOG_LEVEL",
    ]

    /// How a message names the setting behind `property` (a property name of this type, such as
    /// `"maxMemoryUsageBytes"`): its environment variable when `fromEnvironment` read it from the
    /// environment (see `variablesFromEnvironment`), else the property itself.
    public func settingName(_ property: String) -> String {
        guard let variable = Self.variableOfProperty[property] else { return property }
        if variablesFromEnvironment.contains(variable) { return variable }
        if property == "skipPrefetch", variablesFromEnvironment.contains("BITFLOW_SKIP_PREFETCH") {
            return "BITFLOW_SKIP_PREFETCH"
        }
        return property
    }

    /// The models folder used when none is given, from the process's environment: `SMM_MODELS_DIR`
    /// when set, else the platform's per-user folder: on Linux `$XDG_CACHE_HOME/smm/models`, else
    /// `~/.cache/smm/models`; on Apple platforms `~/Library/Application Support/smm/models`.
    /// `smm fetch` puts models there, and the manager looks for them there, whatever the current
    /// directory is.
    public static var defaultModelsDirectory: URL { defaultModelsDirectory(environment: ProcessInfo.processInfo.environment) }

    /// The models folder used when none is given, from `environment` (see `defaultModelsDirectory`).
    /// Relative `XDG_CACHE_HOME` values are ignored, as the XDG specification says; `HOME` comes
    /// from `environment` when set there, else from the user database.
    public static func defaultModelsDirectory(environment: [String: String]) -> URL {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else {
                return nil
            }
            return raw
        }
        if let dir = value("SMM_MODELS_DIR") { return URL(fileURLWithPath: dir) }
        #if canImport(Darwin)
        if let support = try? FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                                      appropriateFor: nil, create: false) {
            return support.appendingPathComponent("smm/models", isDirectory: true)
        }
        let home = value("HOME").map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent("Library/Application Support/smm/models", isDirectory: true)
        #else
        if let cache = value("XDG_CACHE_HOME"), cache.hasPrefix("/") {
            return URL(fileURLWithPath: cache, isDirectory: true).appendingPathComponent("smm/models", isDirectory: true)
        }
        let home = value("HOME").map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/smm/models", isDirectory: true)
        #endif
    }

    /// The variables `fromEnvironment` reads, in documentation order.
    public static let variables = [
        "SMART_MODEL_AUTO_SELECT", "MODEL_BENCHMARK_ENABLED", "MODEL_CACHE_ENABLED", "MODEL_MEMORY_LIMIT",
        "MAX_MODEL_CACHE_SIZE", "PREFERRED_MODEL_TYPE", "FALLBACK_MODEL", "MAX_INFERENCE_TIME",
        "MIN_ACCURACY_THRESHOLD", "MAX_MEMORY_USAGE", "MIN_SYSTEM_MEMORY", "MIN_CPU_CORES", "SMM_SKIP_PREFETCH",
        "BITFLOW_SKIP_PREFETCH", "SMM_MODELS_DIR", "SMM_CATALOG", "SMM_CACHE_DIR", "SMM_THREADS", "SMM_LOG_LEVEL",
    ]

    /// Reads the settings from `environment` (default: the process's). Unset or empty variables keep
    /// their defaults; a malformed value throws `ManagerError.invalidConfiguration` naming the variable.
    /// The variables that were set are recorded in `variablesFromEnvironment`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> ManagerConfiguration {
        var c = ManagerConfiguration()
        c.modelsDirectory = defaultModelsDirectory(environment: environment)
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else {
                return nil
            }
            c.variablesFromEnvironment.insert(name)
            return raw
        }
        func bool(_ name: String) throws -> Bool? {
            guard let text = value(name) else { return nil }
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ManagerError.invalidConfiguration(variable: name, value: text,
                                                             expected: "true or false (1/0, yes/no, on/off)")
            }
        }
        func bytes(_ name: String) throws -> Int? {
            guard let text = value(name) else { return nil }
            guard let n = ByteFormat.parse(text), n > 0 else {
                throw ManagerError.invalidConfiguration(variable: name, value: text,
                    expected: "a positive size: megabytes as a plain number (512) or with a unit (512MB, 2GB, 1.5GiB)")
            }
            return n
        }
        func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = value(name) else { return nil }
            guard let n = Int(text), range.contains(n) else {
                throw ManagerError.invalidConfiguration(variable: name, value: text,
                    expected: "a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return n
        }
        func name(_ variable: String) throws -> String? {
            guard let text = value(variable) else { return nil }
            guard text.count <= 200, !text.contains("\n") else {
                throw ManagerError.invalidConfiguration(variable: variable, value: String(text.prefix(40)),
                                                        expected: "a model id from the catalog")
            }
            return text
        }

        if let v = try bool("SMART_MODEL_AUTO_SELECT") { c.autoSelect = v }
        if let v = try bool("MODEL_BENCHMARK_ENABLED") { c.benchmarkEnabled = v }
        if let v = try bool("MODEL_CACHE_ENABLED") { c.cacheEnabled = v }
        c.modelMemoryLimitBytes = try bytes("MODEL_MEMORY_LIMIT")
        c.maxCacheSizeBytes = try bytes("MAX_MODEL_CACHE_SIZE")
        c.preferredModel = try name("PREFERRED_MODEL_TYPE")
        c.fallbackModel = try name("FALLBACK_MODEL")
        if let text = value("MAX_INFERENCE_TIME") {
            guard let ms = parseMilliseconds(text), ms > 0 else {
                throw ManagerError.invalidConfiguration(variable: "MAX_INFERENCE_TIME", value: text,
                    expected: "a positive time: milliseconds as a plain number (500) or with a unit (500ms, 2s)")
            }
            c.maxInferenceTimeMs = ms
        }
        if let text = value("MIN_ACCURACY_THRESHOLD") {
            guard let a = parseFraction(text) else {
                throw ManagerError.invalidConfiguration(variable: "MIN_ACCURACY_THRESHOLD", value: text,
                    expected: "an accuracy between 0 and 1 (0.85) or a percentage (85%)")
            }
            c.minAccuracy = a
        }
        c.maxMemoryUsageBytes = try bytes("MAX_MEMORY_USAGE")
        c.minSystemMemoryBytes = try bytes("MIN_SYSTEM_MEMORY")
        c.minCPUCores = try int("MIN_CPU_CORES", 1...4096)
        if let v = try bool("SMM_SKIP_PREFETCH") {
            c.skipPrefetch = v
        } else if let v = try bool("BITFLOW_SKIP_PREFETCH") {
            c.skipPrefetch = v
        }
        if let path = value("SMM_CATALOG") {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ManagerError.invalidConfiguration(variable: "SMM_CATALOG", value: path,
                                                        expected: "the path of an existing catalog JSON file")
            }
            c.catalogPath = URL(fileURLWithPath: path)
        }
        if let dir = value("SMM_CACHE_DIR") { c.cacheDirectory = URL(fileURLWithPath: dir) }
        c.threads = try int("SMM_THREADS", 1...256)
        if let text = value("SMM_LOG_LEVEL") {
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw ManagerError.invalidConfiguration(variable: "SMM_LOG_LEVEL", value: text,
                    expected: "one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
            }
            c.logLevel = level
        }
        return c
    }

    /// `"500"`, `"500ms"`, `"2s"`, `"1.5 s"` → milliseconds.
    static func parseMilliseconds(_ text: String) -> Double? {
        let t = text.lowercased().trimmingCharacters(in: .whitespaces)
        var number = t
        var scale = 1.0
        if t.hasSuffix("ms") {
            number = String(t.dropLast(2))
        } else if t.hasSuffix("s") {
            number = String(t.dropLast(1))
            scale = 1000
        }
        guard let v = Double(number.trimmingCharacters(in: .whitespaces)), v.isFinite else { return nil }
        return v * scale
    }

    /// `"0.85"`, `"85"`, `"85%"` → 0.85. Nil outside 0…1 (0…100 for percentages).
    static func parseFraction(_ text: String) -> Double? {
        var t = text.trimmingCharacters(in: .whitespaces)
        var percent = false
        if t.hasSuffix("%") {
            t.removeLast()
            percent = true
        }
        guard let v = Double(t.trimmingCharacters(in: .whitespaces)), v.isFinite, v >= 0 else { return nil }
        if percent || v > 1 {
            guard v <= 100 else { return nil }
            return v / 100
        }
        return v
    }

    /// The catalog to use: `catalogPath`, else `catalog.json` next to the models folder, else nil (built in).
    public var resolvedCatalogPath: URL? {
        if let catalogPath { return catalogPath }
        let sibling = modelsDirectory.deletingLastPathComponent().appendingPathComponent("catalog.json")
        return FileManager.default.fileExists(atPath: sibling.path) ? sibling : nil
    }

    /// The folder for the probe and benchmark caches.
    public var resolvedCacheDirectory: URL {
        if let cacheDirectory { return cacheDirectory }
        let fm = FileManager.default
        let beside = modelsDirectory.appendingPathComponent(".smm-cache")
        if fm.fileExists(atPath: modelsDirectory.path), fm.isWritableFile(atPath: modelsDirectory.path) {
            return beside
        }
        return fm.homeDirectoryForCurrentUser.appendingPathComponent(".cache/smm")
    }

    /// The settings as `name=value` lines for the debug log.
    public var summary: [String] {
        func b(_ x: Int?) -> String { x.map(ByteFormat.string) ?? "unset" }
        return [
            "SMART_MODEL_AUTO_SELECT=\(autoSelect)", "MODEL_BENCHMARK_ENABLED=\(benchmarkEnabled)",
            "MODEL_CACHE_ENABLED=\(cacheEnabled)", "MODEL_MEMORY_LIMIT=\(b(modelMemoryLimitBytes))",
            "MAX_MODEL_CACHE_SIZE=\(maxCacheSizeBytes.map(ByteFormat.string) ?? "auto (half the available memory)")",
            "PREFERRED_MODEL_TYPE=\(preferredModel ?? "unset")", "FALLBACK_MODEL=\(fallbackModel ?? "unset")",
            "MAX_INFERENCE_TIME=\(maxInferenceTimeMs) ms", "MIN_ACCURACY_THRESHOLD=\(minAccuracy)",
            "MAX_MEMORY_USAGE=\(b(maxMemoryUsageBytes))", "MIN_SYSTEM_MEMORY=\(b(minSystemMemoryBytes))",
            "MIN_CPU_CORES=\(minCPUCores.map(String.init) ?? "unset")", "SMM_SKIP_PREFETCH=\(skipPrefetch)",
            "SMM_MODELS_DIR=\(modelsDirectory.path)", "SMM_THREADS=\(threads.map(String.init) ?? "auto")",
            "SMM_LOG_LEVEL=\(logLevel.rawValue)",
        ]
    }
}
