import Foundation
import XCTest
@testable import SmartModelManager

final class CatalogTests: XCTestCase {
    func testWeightsCatalogMatchesTheBuiltInOne() throws {
        let url = repositoryRoot.appendingPathComponent("Weights/catalog.json")
        let file = try ModelCatalog.load(from: url)
        XCTAssertEqual(file, ModelCatalog.builtIn)
        XCTAssertEqual(file.entries.map(\.id), ["all-MiniLM-L6-v2", "distilbert-base-uncased-finetuned-sst-2-english",
                                                "bert-base-uncased", "distilgpt2"])
        let sst2 = try file.require("distilbert-base-uncased-finetuned-sst-2-english")
        XCTAssertEqual(sst2.publishedAccuracy, 0.913)
        XCTAssertTrue(sst2.weightsAreRandom)
        XCTAssertEqual(sst2.method(for: .sentiment), .classifier)
        XCTAssertEqual(try file.require("all-MiniLM-L6-v2").method(for: .sentiment), .zeroShotEmbedding)
        XCTAssertNil(try file.require("distilgpt2").method(for: .sentiment))
        XCTAssertNil(try file.require("bert-base-uncased").publishedAccuracy)
    }

    func testMissingModelsAreListedAsUnavailableWithTheReason() async throws {
        let temp = try TempModels(["all-MiniLM-L6-v2"])
        let manager = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(Machines.midRange), catalog: .builtIn)
        let models = await manager.availableModels()
        XCTAssertEqual(models.count, 4)
        XCTAssertEqual(models.filter(\.availability.isAvailable).map(\.entry.id), ["all-MiniLM-L6-v2"])
        let gpt = try XCTUnwrap(models.first { $0.entry.id == "distilgpt2" })
        XCTAssertTrue(gpt.availability.reason?.contains("file missing") ?? false)
        XCTAssertEqual(models.first?.loadableDTypes, [.f32, .int8])
        XCTAssertNotNil(models.first?.availability.checksum)
    }

    func testRandomWeightMarkerIsDetected() throws {
        let temp = try TempModels()
        try temp.add("m", random: true)
        let entry = fakeEntry("m", tasks: [.embedding], parametersM: 1)
        let a = ModelAvailability.check(entry, modelsDirectory: temp.models)
        XCTAssertTrue(a.isAvailable)
        XCTAssertTrue(a.weightsAreRandom)
    }

    func testRegistrationAndValidation() async throws {
        var catalog = try ModelCatalog(entries: [fakeEntry("a", tasks: [.embedding], parametersM: 1)])
        XCTAssertThrowsError(try catalog.register(fakeEntry("a", tasks: [.embedding], parametersM: 1))) {
            XCTAssertEqual($0 as? ManagerError, .duplicateModel(id: "a"))
        }
        XCTAssertThrowsError(try catalog.register(fakeEntry("b", tasks: [], parametersM: 1)))
        XCTAssertThrowsError(try ModelCatalog.decode(Data(#"{"models": [{"id": "x"}]}"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("missing field 'parameters'"), "\(error)")
        }
        XCTAssertThrowsError(try catalog.require("zzz")) { error in
            XCTAssertTrue("\(error)".contains("unknown model 'zzz'; use one of the catalog's ids (a) or register it"), "\(error)")
        }
        let temp = try TempModels(["c"])
        let manager = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(Machines.midRange), catalog: catalog)
        try await manager.register(fakeEntry("c", tasks: [.sentiment], parametersM: 1))
        let info = try await manager.modelInfo("c")
        XCTAssertTrue(info.availability.isAvailable)
        let roundTrip = try ModelCatalog.decode(try ModelCatalog.builtIn.encoded())
        XCTAssertEqual(roundTrip, ModelCatalog.builtIn)
    }
}

final class ConfigurationTests: XCTestCase {
    func testDefaultsAndParsing() throws {
        let d = try ManagerConfiguration.fromEnvironment([:])
        var defaults = ManagerConfiguration()
        // ManagerConfiguration() reads the process's SMM_MODELS_DIR, HOME…; [:] has none of them.
        defaults.modelsDirectory = ManagerConfiguration.defaultModelsDirectory(environment: [:])
        XCTAssertEqual(d, defaults)
        let c = try ManagerConfiguration.fromEnvironment([
            "SMART_MODEL_AUTO_SELECT": "false", "MODEL_BENCHMARK_ENABLED": "1", "MODEL_CACHE_ENABLED": "no",
            "MODEL_MEMORY_LIMIT": "512", "MAX_MODEL_CACHE_SIZE": "2GB", "PREFERRED_MODEL_TYPE": "distilbert",
            "FALLBACK_MODEL": "all-MiniLM-L6-v2", "MAX_INFERENCE_TIME": "2s", "MIN_ACCURACY_THRESHOLD": "85%",
            "MAX_MEMORY_USAGE": "1.5GiB", "MIN_SYSTEM_MEMORY": "256MB", "MIN_CPU_CORES": "2", "SMM_SKIP_PREFETCH": "1",
            "SMM_MODELS_DIR": "/tmp/models", "SMM_THREADS": "4", "SMM_LOG_LEVEL": "DEBUG",
        ])
        XCTAssertFalse(c.autoSelect)
        XCTAssertTrue(c.benchmarkEnabled)
        XCTAssertFalse(c.cacheEnabled)
        XCTAssertEqual(c.modelMemoryLimitBytes, 512 << 20)
        XCTAssertEqual(c.maxCacheSizeBytes, 2 << 30)
        XCTAssertEqual(c.preferredModel, "distilbert")
        XCTAssertEqual(c.fallbackModel, "all-MiniLM-L6-v2")
        XCTAssertEqual(c.maxInferenceTimeMs, 2000)
        XCTAssertEqual(c.minAccuracy, 0.85, accuracy: 1e-9)
        XCTAssertEqual(c.maxMemoryUsageBytes, 3 << 29)
        XCTAssertEqual(c.minSystemMemoryBytes, 256 << 20)
        XCTAssertEqual(c.minCPUCores, 2)
        XCTAssertTrue(c.skipPrefetch)
        XCTAssertEqual(c.modelsDirectory.path, "/tmp/models")
        XCTAssertEqual(c.threads, 4)
        XCTAssertEqual(c.logLevel, .debug)
        XCTAssertTrue(try ManagerConfiguration.fromEnvironment(["BITFLOW_SKIP_PREFETCH": "true"]).skipPrefetch)
    }

    func testBadValuesNameTheVariable() {
        let bad: [(String, String)] = [
            ("SMART_MODEL_AUTO_SELECT", "maybe"), ("MODEL_BENCHMARK_ENABLED", "2"), ("MODEL_CACHE_ENABLED", "yes please"),
            ("MODEL_MEMORY_LIMIT", "lots"), ("MAX_MODEL_CACHE_SIZE", "-1GB"), ("MAX_INFERENCE_TIME", "soon"),
            ("MIN_ACCURACY_THRESHOLD", "150%"), ("MAX_MEMORY_USAGE", "0"), ("MIN_SYSTEM_MEMORY", "x"),
            ("MIN_CPU_CORES", "0"), ("SMM_SKIP_PREFETCH", "perhaps"), ("SMM_THREADS", "1000"), ("SMM_LOG_LEVEL", "loud"),
            ("SMM_CATALOG", "/nonexistent/catalog.json"),
        ]
        for (name, value) in bad {
            XCTAssertThrowsError(try ManagerConfiguration.fromEnvironment([name: value]), name) { error in
                guard case ManagerError.invalidConfiguration(let variable, let got, _) = error else {
                    return XCTFail("\(name): \(error)")
                }
                XCTAssertEqual(variable, name)
                XCTAssertEqual(got, value)
                XCTAssertTrue("\(error)".contains(name))
            }
        }
    }

    func testUnknownFallbackOrPreferredModelIsAConfigurationError() async throws {
        let temp = try TempModels(["distilgpt2"])
        XCTAssertThrowsError(try ModelManager(configuration: temp.configuration { $0.fallbackModel = "nope" },
                                                   backend: FakeBackend(), catalog: .builtIn)) {
            // Set in code: named by the property.
            XCTAssertTrue("\($0)".contains("invalid fallbackModel 'nope'"), "\($0)")
        }
        XCTAssertThrowsError(try ModelManager(configuration: temp.configuration { $0.preferredModel = "llama" },
                                                   backend: FakeBackend(), catalog: .builtIn)) {
            XCTAssertTrue("\($0)".contains("invalid preferredModel 'llama'"), "\($0)")
        }
        // An architecture is accepted: "gpt2" is distilgpt2's, the only generator of the built-in catalog,
        // and ranking gives that model the +0.5 of the preferred model (named as set: in code here).
        let preferring = try ModelManager(configuration: temp.configuration { $0.preferredModel = "gpt2" },
                                               backend: FakeBackend(), systemProbe: FixedSystemProbe(SwitchingTests.fastMachine),
                                               catalog: .builtIn)
        XCTAssertEqual(preferring.configuration.preferredModel, "gpt2")
        let neutral = try ModelManager(configuration: temp.configuration(), backend: FakeBackend(),
                                            systemProbe: FixedSystemProbe(SwitchingTests.fastMachine), catalog: .builtIn)
        // The built-in distilgpt2 is a random-weight stand-in: allow it, or nothing generates.
        let generation = SelectionRequirements(task: .generation, allowRandomWeights: true)
        let withPreference = try await preferring.modelRecommendations(for: generation)
        let withoutPreference = try await neutral.modelRecommendations(for: generation)
        let preferred = try XCTUnwrap(withPreference.chosen, withPreference.explanation)
        let unpreferred = try XCTUnwrap(withoutPreference.chosen, withoutPreference.explanation)
        XCTAssertEqual(preferred.key.id, "distilgpt2")
        XCTAssertEqual(unpreferred.key, preferred.key)
        XCTAssertTrue(preferred.reasons.contains("matches preferredModel=gpt2 (+0.5)"), "\(preferred.reasons)")
        XCTAssertFalse(unpreferred.reasons.contains { $0.contains("preferredModel") }, "\(unpreferred.reasons)")
        XCTAssertEqual(preferred.score - unpreferred.score, 0.5, accuracy: 1e-9)
    }

    func testByteFormat() {
        XCTAssertEqual(ByteFormat.parse("512"), 512 << 20)
        XCTAssertEqual(ByteFormat.parse("1k"), 1024)
        XCTAssertEqual(ByteFormat.parse("100B"), 100)
        XCTAssertNil(ByteFormat.parse(""))
        XCTAssertNil(ByteFormat.parse("1e30GB"))
        XCTAssertEqual(ByteFormat.string(1536), "1.5 KiB")
        XCTAssertEqual(ByteFormat.string(100 << 20), "100 MiB")
    }
}
