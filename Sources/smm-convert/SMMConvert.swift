// `smm-convert HF_DIR -o OUT [--dtype f32|f16|bf16|int8|q4] [--force] [--verify]`: a Hugging Face model
// directory (bert, distilbert, gpt2) to one `.smm` file, written atomically. See Docs/FORMAT.md.
import ArgumentParser
import Foundation
import SMMFormat
import SMMModels
import SmartModelManager

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct SMMConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smm-convert",
        abstract: "Convert a Hugging Face model directory (bert, distilbert, gpt2) to one .smm file.",
        discussion: """
            Reads config.json, the safetensors weights (single or sharded) and the tokenizer files, and \
            writes OUT atomically (a temporary file in OUT's directory, loaded as a user would load it, \
            then renamed): a source whose config and weights disagree, or with NaN or infinite weights, \
            is refused and OUT left as it was. With \
            --dtype f16, bf16 or int8, weight matrices are stored in that type (int8: symmetric, one \
            scale per output channel); with q4, in 4-bit blocks of 32 with an f16 scale each (format \
            1.2; matrices whose inputs are not a multiple of 32, and position embeddings, int8); \
            biases, LayerNorm and small matrices stay f32.
            """,
        version: ModelConverter.version)

    @Argument(help: "The Hugging Face model directory (config.json, *.safetensors, tokenizer files).")
    var hfDir: String

    @Option(name: [.short, .customLong("output")], help: "The .smm file to write.")
    var output: String

    @Option(help: "Storage type of the weight matrices: f32, f16, bf16, int8 or q4.")
    var dtype: ModelDType = .f32

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    @Flag(help: "Before publishing OUT, check the converted file's checksums and that its outputs equal the directory's loaded at the same dtype (to 1e-5); OUT is left as it was when that fails. (smm quality measures what a dtype loses against f32.)")
    var verify = false

    @Flag(help: "Store a SHA-256 body checksum instead of XXH64 (slower to verify).")
    var sha256 = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func run() throws {
        let source = URL(fileURLWithPath: hfDir)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
            throw ValidationError("model directory not found: \(hfDir)")
        }
        guard isDirectory.boolValue else {
            throw ValidationError("\(hfDir) is not a directory; smm-convert reads a Hugging Face model directory")
        }
        let destination = URL(fileURLWithPath: output)
        let interrupts = removePartialFilesOnInterrupt(for: destination)
        defer { interrupts.forEach { $0.cancel() } }
        let start = ContinuousClock.now
        let progress = ProgressLine(enabled: !quiet && isatty(STDERR_FILENO) == 1)
        // --verify runs on the complete temporary file, before it replaces anything: a file that
        // fails it is never published.
        let check: ((SMMFile, LoadedModel) throws -> Void)? = verify
            ? { file, converted in
                progress.finish()
                try runVerify(source: source, file: file, converted: converted)
            }
            : nil
        let report = try ModelConverter.convert(
            directory: source, to: destination,
            options: ModelConverter.Options(dtype: dtype, overwrite: force, checksum: sha256 ? .sha256 : .xxh64,
                                            progress: { progress.update($0) }, validate: check))
        progress.finish()
        let seconds = (ContinuousClock.now - start).seconds
        if !quiet {
            let size = report.header.fileSize
            let ratio = report.sourceWeightBytes > 0 ? Double(size) / Double(report.sourceWeightBytes) : 0
            print("wrote \(output): \(report.metadata.architecture), \(dtype.rawValue), \(report.tensorCount) tensors, "
                + "\(ByteFormat.string(size)) (\(String(format: "%.1f", ratio * 100))% of the \(ByteFormat.string(report.sourceWeightBytes)) source weights) "
                + "in \(String(format: "%.2f", seconds)) s")
            print("body checksum: \(report.header.checksumKind?.name ?? "?") \(report.header.bodyChecksumHex)")
        }
    }

    /// Checks the converted (not yet published) `file`: its checksums, then `converted`'s outputs
    /// against the source directory's.
    /// - Throws: `ConversionFailure` listing what failed.
    private func runVerify(source: URL, file: SMMFile, converted: LoadedModel) throws {
        do {
            try file.verifyBody()
        } catch {
            throw ConversionFailure("verification failed, \(output) was not written: \(error)")
        }
        if !quiet { print("verify: checksums OK (header, metadata and tensor table, body)") }
        // The policy (the source at the same dtype, to ModelConverter.verificationTolerance) is the converter's.
        let verification: ModelConverter.Verification
        do {
            verification = try ModelConverter.verify(converted: converted, source: source, dtype: dtype)
        } catch {
            throw ConversionFailure("verification failed, \(output) was not written: \(error)")
        }
        if !quiet {
            for r in verification.comparisons {
                var line = "verify: \(r.output) of \(r.vectors) vectors: max |diff| \(String(format: "%.3g", r.maxAbsDiff)), "
                    + "min cosine \(String(format: "%.6f", r.minCosine))"
                if let labels = r.labelsEqual { line += labels ? ", same labels" : ", LABELS DIFFER" }
                print(line)
            }
        }
        let failures = verification.failures
        guard failures.isEmpty else {
            throw ConversionFailure("verification failed, \(output) was not written: " + failures.joined(separator: "; "))
        }
        if !quiet { print("verify: OK") }
    }
}

/// A conversion that cannot go on: printed as `Error: <description>`, exit status 1 (not the usage
/// error status 64 of `ValidationError`, which also prints the usage text).
struct ConversionFailure: Error, CustomStringConvertible {
    /// What went wrong.
    let description: String

    init(_ description: String) { self.description = description }
}

extension ModelDType: ExpressibleByArgument {}

/// On SIGINT / SIGTERM / SIGHUP, removes this process's temporary output file (the destination is
/// untouched: it is only ever replaced by a complete file) and exits with 128 + the signal.
func removePartialFilesOnInterrupt(for destination: URL) -> [any DispatchSourceSignal] {
    let directory = destination.deletingLastPathComponent()
    let prefix = SMMFileWriter.temporaryFilePrefix(for: destination)
    return [SIGINT, SIGTERM, SIGHUP].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names where name.hasPrefix(prefix) {
                unlink(directory.appendingPathComponent(name).path)
            }
            FileHandle.standardError.write(Data("\ninterrupted; \(destination.path) was not written\n".utf8))
            exit(128 + sig)
        }
        source.resume()
        return source
    }
}

/// A one-line progress display on standard error (only when it is a terminal).
final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private var shown = false
    private var last = ContinuousClock.now

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: SMMWriteProgress) {
        guard enabled else { return }
        let now = ContinuousClock.now
        guard p.tensorsWritten == p.tensorCount || now - last > .milliseconds(100) || !shown else { return }
        last = now
        shown = true
        let percent = p.totalBytes > 0 ? 100 * p.bytesWritten / p.totalBytes : 100
        var name = p.tensorName
        if name.count > 40 { name = "…" + name.suffix(39) }
        let line = String(format: "\r[%3d%%] %d/%d tensors, %@ / %@  %@", percent, p.tensorsWritten, p.tensorCount,
                          ByteFormat.string(p.bytesWritten), ByteFormat.string(p.totalBytes), name)
        FileHandle.standardError.write(Data((line.padding(toLength: 100, withPad: " ", startingAt: 0)).utf8))
    }

    func finish() {
        guard enabled, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
