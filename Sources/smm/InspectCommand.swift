// `smm inspect FILE [--json] [--verify]`: what an `.smm` file holds (Docs/FORMAT.md), without
// loading the model: format version, model and tokenizer summary, labels, dtype, provenance,
// checksums, and the tensor table with sizes.
import ArgumentParser
import Foundation
import SMMJSON
import SMMFormat
import SMMModels
import SmartModelManager

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an .smm model file's metadata, tensor table, sizes and dtype.")

    @Argument(help: "An .smm model file (written by smm-convert).")
    var file: String

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Also verify the body checksum (reads the whole file); a mismatch exits non-zero.")
    var verify = false

    @Flag(help: "Also time opening the file, building the model and its first output (one short text), in this process.")
    var timeLoad = false

    func run() throws {
        if timeLoad { try timeLoading() }
        let smm = try SMMFile(path: file)
        var verifyError: Error? = nil
        var computed: String? = nil
        if verify {
            computed = smm.computedBodyChecksum()
            if computed != smm.header.bodyChecksumHex {
                do { try smm.verifyBody() } catch { verifyError = error }   // hashes again, for the error
            }
        }
        if json {
            printJSON(smm, verified: verify ? verifyError == nil : nil, computed: computed)
        } else {
            printText(smm, verified: verify ? verifyError == nil : nil)
        }
        if let verifyError { throw verifyError }
    }

    /// Opens the file afresh, builds the model and computes one output, printing each step's wall time.
    private func timeLoading() throws {
        let clock = ContinuousClock()
        let t0 = clock.now
        let smm = try SMMFile(path: file)
        let t1 = clock.now
        let model = try EngineBackend.loadEngineModel(file: smm)
        let t2 = clock.now
        let text = "The quick brown fox jumps over the lazy dog."
        switch model {
        case .encoder(let encoder): _ = try encoder.embed([text])
        case .decoder(let generator): _ = try generator.model.logits(generator.tokenizer.encodeIDs(text))
        }
        let t3 = clock.now
        switch model {
        case .encoder(let encoder): _ = try encoder.embed([text])
        case .decoder(let generator): _ = try generator.model.logits(generator.tokenizer.encodeIDs(text))
        }
        let t4 = clock.now
        func ms(_ d: Duration) -> String {
            String(format: "%.1f ms", BenchmarkHarness.milliseconds(d))
        }
        print("Load timing: open + validate \(ms(t1 - t0)), build model and tokenizer \(ms(t2 - t1)), "
              + "first output \(ms(t3 - t2)); total \(ms(t3 - t0)) (a second output: \(ms(t4 - t3)))")
    }

    // MARK: - Text

    private func printText(_ smm: SMMFile, verified: Bool?) {
        let h = smm.header, m = smm.metadata
        let weights = smm.tensors.filter { !isScale($0, in: smm) }
        let parameters = weights.reduce(0) { $0 + $1.elementCount }
        print("File:       \(smm.path) (\(h.fileSize) bytes, \(ByteFormat.string(h.fileSize)))")
        print("Format:     SMM \(h.majorVersion).\(h.minorVersion), header \(h.headerSize) B, metadata \(ByteFormat.string(h.metadataLength)), "
              + "tensor table \(ByteFormat.string(h.tableLength)), data \(ByteFormat.string(h.dataLength))")
        print("Model:      \(m.architecture)\(m.config.architectures.isEmpty ? "" : " (\(m.config.architectures.joined(separator: ", ")))"), "
              + "\(m.config.layerCount) layers, hidden \(m.config.hiddenSize), vocab \(m.config.vocabSize), "
              + "\(m.config.maxPositions) positions, \(formatCount(parameters)) parameters")
        print("Dtype:      \(m.dtype.rawValue)  (\(dtypeSummary(smm)))")
        let t = m.tokenizer
        var tokenizer = "\(t.kind.rawValue), \(t.vocabulary.count) tokens"
        if t.kind == .bpe { tokenizer += ", \(t.merges.count) merges" }
        if let lower = t.doLowerCase { tokenizer += lower ? ", lowercase" : ", cased" }
        if !t.addedTokens.isEmpty { tokenizer += ", added: " + t.addedTokens.map { "\($0.content)=\($0.id)" }.joined(separator: " ") }
        print("Tokenizer:  \(tokenizer)")
        if !t.specialTokenIDs.isEmpty {
            print("Specials:   " + t.specialTokenIDs.keys.sorted().map { "\($0)=\(t.specialTokenIDs[$0]!)" }.joined(separator: " "))
        }
        if m.architecture != "gpt2" { print("Labels:     \(m.labels.joined(separator: ", "))") }
        print("Pooling:    \(m.defaultPooling ?? "(none)")")
        print("Max length: \(m.maxLength) tokens")
        let status: String
        switch verified {
        case true?: status = " (verified)"
        case false?: status = " (MISMATCH)"
        case nil: status = " (not verified; use --verify)"
        }
        print("Checksum:   \(h.checksumKind?.name ?? "kind \(h.bodyChecksumKind)") \(h.bodyChecksumHex)\(status)")
        let p = m.provenance
        print("Source:     \(p.sourceName.isEmpty ? "?" : p.sourceName) (\(p.sourcePath)), converted by \(p.converter) at \(p.created)")
        for f in p.sourceFiles {
            print("            \(f.name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(String(f.bytes).leftPad(11)) B  sha256 \(f.sha256.isEmpty ? "(not recorded)" : f.sha256)")
        }
        print("Tensors:    \(smm.tensors.count) (\(weights.count) weights, \(smm.tensors.count - weights.count) scale tensors)")
        let width = min(64, max(20, smm.tensors.map(\.name.count).max() ?? 20))
        print("  " + "name".padding(toLength: width, withPad: " ", startingAt: 0) + "  dtype  " + "shape".padding(toLength: 16, withPad: " ", startingAt: 0)
              + "      bytes      offset  quantization")
        for e in smm.tensors {
            var name = e.name
            if name.count > width { name = "…" + name.suffix(width - 1) }
            let shape = "[" + e.shape.map(String.init).joined(separator: ", ") + "]"
            var quant = ""
            switch e.quantization {
            case let .int8PerChannel(axis, scale):
                quant = "int8/channel axis \(axis), scales '\(smm.tensors[scale].name)'"
            case let .packedPanels(axis):
                quant = "packed panels of \(SMMPanelLayout.columns), outputs on axis \(axis)"
            case let .q4Blocks(axis, scale):
                quant = "q4 blocks of \(SMMQ4Blocks.blockSize), outputs on axis \(axis), scales '\(smm.tensors[scale].name)'"
            case .none:
                break
            }
            print("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                  + e.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                  + shape.padding(toLength: 16, withPad: " ", startingAt: 0) + String(e.byteLength).leftPad(11)
                  + String(e.dataOffset).leftPad(12) + "  " + quant)
        }
    }

    private func isScale(_ entry: SMMTensorEntry, in smm: SMMFile) -> Bool {
        smm.tensors.contains { smm.scaleEntry(for: $0) == entry }
    }

    private func dtypeSummary(_ smm: SMMFile) -> String {
        var bytes: [String: (count: Int, bytes: Int)] = [:]
        for e in smm.tensors {
            let key = e.dtype.rawValue
            bytes[key, default: (0, 0)].count += 1
            bytes[key, default: (0, 0)].bytes += e.byteLength
        }
        return bytes.keys.sorted().map { "\($0): \(bytes[$0]!.count) tensors, \(ByteFormat.string(bytes[$0]!.bytes))" }.joined(separator: "; ")
    }

    // MARK: - JSON

    private func printJSON(_ smm: SMMFile, verified: Bool?, computed: String?) {
        let h = smm.header, m = smm.metadata, t = m.tokenizer, p = m.provenance
        // The stored config, embedded as the JSON it is (numbers and key order as written).
        let config = (try? JSONParser.parse(Array(m.configJSON.utf8))) ?? .string(m.configJSON)
        let checksumKind: JSONValue = h.checksumKind.map { JSONValue.string($0.name) } ?? .int(Int(h.bodyChecksumKind))
        let tensors: [JSONValue] = smm.tensors.map { (e: SMMTensorEntry) -> JSONValue in
            var fields: [(String, JSONValue)] = [("name", .string(e.name)), ("dtype", .string(e.dtype.rawValue)),
                                                 ("shape", .ints(e.shape)), ("offset", .int(e.dataOffset)),
                                                 ("bytes", .int(e.byteLength))]
            switch e.quantization {
            case let .int8PerChannel(axis, scale):
                fields.append(("quantization", .record([("scheme", .string("int8_per_channel")), ("axis", .int(axis)),
                                                        ("scales", .string(smm.tensors[scale].name))])))
            case let .packedPanels(axis):
                fields.append(("quantization", .record([("scheme", .string("packed_panels")), ("axis", .int(axis)),
                                                        ("columns", .int(SMMPanelLayout.columns))])))
            case let .q4Blocks(axis, scale):
                fields.append(("quantization", .record([("scheme", .string("q4_blocks")), ("axis", .int(axis)),
                                                        ("block", .int(SMMQ4Blocks.blockSize)),
                                                        ("scales", .string(smm.tensors[scale].name))])))
            case .none:
                break
            }
            return .record(fields)
        }
        let sections: JSONValue = .record([
            ("header", .record([("offset", .int(0)), ("length", .int(h.headerSize))])),
            ("metadata", .record([("offset", .int(h.metadataOffset)), ("length", .int(h.metadataLength))])),
            ("tensor_table", .record([("offset", .int(h.tableOffset)), ("length", .int(h.tableLength))])),
            ("data", .record([("offset", .int(h.dataOffset)), ("length", .int(h.dataLength))])),
        ])
        let checksum: JSONValue = .record([
            ("kind", checksumKind),
            ("stored", .string(h.bodyChecksumHex)),
            ("computed", computed.map(JSONValue.string) ?? .null),
            ("verified", verified.map(JSONValue.bool) ?? .null),
        ])
        let tokenizer: JSONValue = .record([
            ("kind", .string(t.kind.rawValue)),
            ("vocabulary_size", .int(t.vocabulary.count)),
            ("merges", .int(t.merges.count)),
            ("added_tokens", .array(t.addedTokens.map { JSONValue.record([("content", .string($0.content)), ("id", .int($0.id)),
                                                                 ("special", .bool($0.special))]) })),
            ("special_tokens", .record(t.specialTokenIDs.keys.sorted().map { ($0, JSONValue.int(t.specialTokenIDs[$0]!)) })),
            ("do_lower_case", t.doLowerCase.map(JSONValue.bool) ?? .null),
            ("strip_accents", t.stripAccents.map(JSONValue.bool) ?? .null),
        ])
        let provenance: JSONValue = .record([
            ("source_name", .string(p.sourceName)), ("source_path", .string(p.sourcePath)),
            ("source_files", .array(p.sourceFiles.map { JSONValue.record([("name", .string($0.name)), ("bytes", .int($0.bytes)),
                                                                 ("sha256", .string($0.sha256))]) })),
            ("converter", .string(p.converter)), ("created", .string(p.created)),
        ])
        let value: JSONValue = .record([
            ("file", .string(smm.path)),
            ("format_version", .string("\(h.majorVersion).\(h.minorVersion)")),
            ("file_size", .int(h.fileSize)),
            ("sections", sections),
            ("checksum", checksum),
            ("architecture", .string(m.architecture)),
            ("dtype", .string(m.dtype.rawValue)),
            ("config", config),
            ("labels", .strings(m.labels)),
            ("default_pooling", m.defaultPooling.map(JSONValue.string) ?? .null),
            ("max_length", .int(m.maxLength)),
            ("tokenizer", tokenizer),
            ("provenance", provenance),
            ("parameters", .int(smm.tensors.filter { !isScale($0, in: smm) }.reduce(0) { $0 + $1.elementCount })),
            ("tensors", .array(tensors)),
        ])
        print(value.text)
    }
}

private extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

private func formatCount(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.1f M", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1f k", Double(n) / 1e3) : "\(n)"
}

/// `--dtype f32|f16|bf16|int8|q4` on model-running commands.
extension ModelDType: ExpressibleByArgument {}
