// Benchmarks of models on this machine, kept in a JSON file keyed by machine, model, dtype and the
// weight files' checksum, so that a result survives restarts and goes stale when the file changes.
import Foundation

/// What a benchmark says about a model on this machine.
public enum BenchmarkRecommendation: String, Sendable, Codable {
    /// Median at most half the latency limit and accuracy (when known) above the minimum.
    case optimal
    /// Within the limits.
    case acceptable
    /// Median above the latency limit.
    case tooSlow = "too-slow"
    /// Memory above a limit.
    case tooBig = "too-big"
}

/// One benchmark of one (model, dtype).
public struct BenchmarkResult: Sendable, Codable, Equatable {
    /// The model.
    public var key: ModelKey
    /// `SystemInfo.machineID` of the machine it ran on.
    public var machineID: String
    /// `ModelAvailability.checksum` of the files benchmarked.
    public var checksum: String
    /// When (seconds since 1970).
    public var date: Double
    /// Load time, ms.
    public var loadMs: Double
    /// The first (warm-up) run, ms.
    public var warmupMs: Double
    /// Timed runs.
    public var runs: Int
    /// Tokens per run (input tokens for encoders, new tokens for generation).
    public var tokens: Int
    /// Median of the timed runs, ms.
    public var medianMs: Double
    /// 90th percentile of the timed runs, ms.
    public var p90Ms: Double
    /// Mean of the timed runs, ms.
    public var meanMs: Double
    /// Resident memory growth while loading, bytes (0 where it cannot be read).
    public var memoryDeltaBytes: Int
    /// Memory the cache charges for the model, bytes.
    public var memoryBytes: Int
    /// Mean top score of classifications, when the model classifies.
    public var averageConfidence: Double?
    /// Accuracy on the labelled samples, when the model has real weights and can classify.
    public var accuracy: Double?
    /// Labelled samples behind `accuracy`.
    public var accuracySamples: Int
    /// The verdict.
    public var recommendation: BenchmarkRecommendation
    /// Why.
    public var notes: [String]

    /// The cache key.
    var storeKey: String { BenchmarkStore.key(machineID: machineID, key: key, checksum: checksum) }
}

/// A latency in ms as the manager prints it: whole ms from 100 up, else two decimals.
func formatMs(_ x: Double) -> String { x >= 100 ? String(format: "%.0f", x) : String(format: "%.2f", x) }

/// Summary statistics of a list of durations.
public struct LatencySummary: Sendable, Codable, Equatable {
    /// Number of samples.
    public var count: Int
    /// Mean, ms.
    public var meanMs: Double
    /// Median, ms.
    public var p50Ms: Double
    /// 90th percentile, ms.
    public var p90Ms: Double
    /// 99th percentile, ms.
    public var p99Ms: Double
    /// Largest, ms.
    public var maxMs: Double

    /// Summarises `samples` (ms). Percentiles, the median included, use the nearest-rank method:
    /// the project's one median (`smm bench` reports it too).
    public init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        meanMs = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        func rank(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(sorted.count - 1, max(0, index))]
        }
        p50Ms = rank(0.5)
        p90Ms = rank(0.9)
        p99Ms = rank(0.99)
        maxMs = sorted.last ?? 0
    }
}

/// The persistent benchmark cache (`benchmarks.json` in the cache folder).
public struct BenchmarkStore: Sendable {
    /// The JSON file.
    public let url: URL
    /// Results by `machine|model|dtype|checksum`.
    public private(set) var results: [String: BenchmarkResult] = [:]

    /// Opens (or starts) the store at `url`. A corrupt file is ignored (and replaced on the next save).
    public init(url: URL) {
        self.url = url
        if let data = try? Data(contentsOf: url),
           let decoded = try? JSONDecoder().decode([String: BenchmarkResult].self, from: data) {
            results = decoded
        }
    }

    static func key(machineID: String, key: ModelKey, checksum: String) -> String {
        "\(machineID)|\(key.id)|\(key.dtype.rawValue)|\(checksum)"
    }

    /// The result for this machine and file, if any.
    public func result(machineID: String, key: ModelKey, checksum: String) -> BenchmarkResult? {
        results[Self.key(machineID: machineID, key: key, checksum: checksum)]
    }

    /// Records and writes the file (atomically). Write errors are returned, not thrown: the cache is optional.
    @discardableResult
    public mutating func record(_ result: BenchmarkResult) -> (any Error)? {
        results[result.storeKey] = result
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: url, options: .atomic)
            return nil
        } catch {
            return error
        }
    }
}

/// The cached throughput probe (`system-probe.json` in the cache folder), valid for a week per machine.
enum ProbeCache {
    static let maxAge: Double = 7 * 24 * 3600

    static func load(_ url: URL, machineID: String, now: Double = Date().timeIntervalSince1970) -> ThroughputProbe? {
        guard let data = try? Data(contentsOf: url),
              let probes = try? JSONDecoder().decode([String: ThroughputProbe].self, from: data),
              let probe = probes[machineID], now - probe.measuredAt < maxAge, probe.multiCoreGFLOPS > 0,
              probe.bandwidthMethod == ThroughputMeter.bandwidthMethod else { return nil }
        return probe
    }

    static func save(_ probe: ThroughputProbe, to url: URL) -> (any Error)? {
        var probes = (try? Data(contentsOf: url)).flatMap { try? JSONDecoder().decode([String: ThroughputProbe].self, from: $0) } ?? [:]
        probes[probe.machineID] = probe
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(probes).write(to: url, options: .atomic)
            return nil
        } catch {
            return error
        }
    }
}

/// A labelled text for accuracy measurements.
public struct LabelledText: Sendable, Codable, Equatable {
    /// The text.
    public var text: String
    /// Its label (`positive`, `negative`, `neutral`).
    public var label: String
    /// A sample.
    public init(text: String, label: String) {
        self.text = text
        self.label = label
    }

    /// Reads `{"text","label"}` lines.
    public static func readJSONL(_ url: URL) throws -> [LabelledText] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ManagerError.invalidInput("cannot read \(url.path): \(error.localizedDescription)")
        }
        var result: [LabelledText] = []
        for (number, line) in text.split(separator: "\n").enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let sample = try? JSONDecoder().decode(LabelledText.self, from: Data(line.utf8)) else {
                throw ManagerError.invalidInput("\(url.path) line \(number + 1) is not {\"text\": ..., \"label\": ...}")
            }
            result.append(sample)
        }
        return result
    }

    /// A small built-in set of market headlines used by quick benchmarks (the full labelled set is in the tests).
    public static let quickSentimentSet: [LabelledText] = [
        .init(text: "Shares surge after the company beats quarterly earnings estimates", label: "positive"),
        .init(text: "Stock jumps to a record high on strong iPhone sales", label: "positive"),
        .init(text: "Retailer raises full-year profit guidance as demand stays strong", label: "positive"),
        .init(text: "Chipmaker's revenue soars 40% on booming data-center demand", label: "positive"),
        .init(text: "Bank posts record profit and lifts its dividend", label: "positive"),
        .init(text: "Biotech stock rallies after drug wins regulatory approval", label: "positive"),
        .init(text: "Airline shares climb as bookings rebound to pre-pandemic levels", label: "positive"),
        .init(text: "Automaker's deliveries beat forecasts, sending the stock higher", label: "positive"),
        .init(text: "Shares plunge after the company misses earnings and cuts its outlook", label: "negative"),
        .init(text: "Stock tumbles as regulators open a fraud investigation", label: "negative"),
        .init(text: "Retailer warns of a steep drop in holiday sales", label: "negative"),
        .init(text: "Chipmaker slashes revenue forecast amid weak demand", label: "negative"),
        .init(text: "Bank reports surprise quarterly loss on soaring bad loans", label: "negative"),
        .init(text: "Biotech shares crash after late-stage trial fails", label: "negative"),
        .init(text: "Airline files for bankruptcy protection", label: "negative"),
        .init(text: "Automaker recalls a million vehicles and the stock slides", label: "negative"),
    ]
}
