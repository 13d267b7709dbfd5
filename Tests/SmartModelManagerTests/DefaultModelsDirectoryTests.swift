// Where the manager looks for models when it is not told: SMM_MODELS_DIR, else a per-user folder
// (never the current directory), and the missing-model hint that names that folder.
import Foundation
@testable import SmartModelManager
import XCTest

final class DefaultModelsDirectoryTests: XCTestCase {
    func testEnvironmentVariableWins() {
        let env = ["SMM_MODELS_DIR": "/srv/models", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"]
        XCTAssertEqual(ManagerConfiguration.defaultModelsDirectory(environment: env).path, "/srv/models")
        XCTAssertEqual(try ManagerConfiguration.fromEnvironment(env).modelsDirectory.path, "/srv/models")
    }

    #if os(Linux)
    func testXDGCacheHomeThenHome() {
        XCTAssertEqual(ManagerConfiguration.defaultModelsDirectory(environment: ["XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"]).path,
                       "/xdg/smm/models")
        XCTAssertEqual(ManagerConfiguration.defaultModelsDirectory(environment: ["HOME": "/home/u"]).path,
                       "/home/u/.cache/smm/models")
        // Empty values are unset; a relative XDG_CACHE_HOME is ignored (XDG Base Directory spec).
        XCTAssertEqual(ManagerConfiguration.defaultModelsDirectory(
            environment: ["SMM_MODELS_DIR": " ", "XDG_CACHE_HOME": "", "HOME": "/home/u"]).path, "/home/u/.cache/smm/models")
        XCTAssertEqual(ManagerConfiguration.defaultModelsDirectory(environment: ["XDG_CACHE_HOME": "cache", "HOME": "/h"]).path,
                       "/h/.cache/smm/models")
        // Without HOME: the user database's home.
        XCTAssertEqual(ManagerConfiguration.defaultModelsDirectory(environment: [:]).path,
                       FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/smm/models").path)
    }
    #endif

    /// The default is absolute and the same from any working directory.
    func testDefaultDoesNotDependOnTheWorkingDirectory() throws {
        let env = ProcessInfo.processInfo.environment.filter { $0.key != "SMM_MODELS_DIR" }
        let before = ManagerConfiguration.defaultModelsDirectory(environment: env)
        XCTAssertTrue(before.path.hasPrefix("/"), before.path)
        let old = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath("/"))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(old) }
        XCTAssertEqual(ManagerConfiguration.defaultModelsDirectory(environment: env), before)
        XCTAssertEqual(try ManagerConfiguration.fromEnvironment(env).modelsDirectory, before)
    }

    /// A missing model's reason names the command as a user of the package runs it, and the folder
    /// it puts the model in: the one searched (with `--to` when that is not the default).
    func testMissingModelHintNamesTheCommandAndTheFolder() throws {
        let entry = try XCTUnwrap(BuiltInCatalog.entries.first { $0.id == "all-MiniLM-L6-v2" })
        XCTAssertEqual(entry.fetchHint, "smm fetch all-MiniLM-L6-v2")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smm-hint-\(UUID().uuidString)")
        let reason = try XCTUnwrap(ModelAvailability.check(entry, modelsDirectory: dir).reason)
        let path = dir.standardizedFileURL.path
        XCTAssertEqual(reason, "file missing: \(dir.appendingPathComponent("all-MiniLM-L6-v2").path) not found; "
                       + "run `swift run smm fetch all-MiniLM-L6-v2 --to \(path)` (or `smm fetch all-MiniLM-L6-v2 --to \(path)` "
                       + "if installed); it puts the model in \(path)")
        let standard = ManagerConfiguration.defaultModelsDirectory
        if let inDefault = ModelAvailability.check(entry, modelsDirectory: standard).reason {
            XCTAssertTrue(inDefault.hasSuffix("; run `swift run smm fetch all-MiniLM-L6-v2` (or `smm fetch all-MiniLM-L6-v2` "
                                              + "if installed); it puts the model in \(standard.standardizedFileURL.path)"), inDefault)
        }
        XCTAssertEqual(ModelAvailability.howToFetch("python convert.py", modelsDirectory: dir), " (python convert.py)")
        XCTAssertEqual(ModelAvailability.shellQuoted("/a b/it's"), "'/a b/it'\\''s'")
    }
}
