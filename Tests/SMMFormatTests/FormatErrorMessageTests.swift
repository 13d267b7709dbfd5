// FormatError read by a user: `localizedDescription` is `description`, names the file and the
// offending value, and says what to do. The cases a user meets first are made for real.
import Foundation
import SMMFormat
import XCTest

final class FormatErrorMessageTests: XCTestCase {
    private func text(_ error: FormatError?, file: StaticString = #filePath, line: UInt = #line) -> String {
        guard let error else {
            XCTFail("no error", file: file, line: line)
            return ""
        }
        XCTAssertEqual(error.localizedDescription, error.description, file: file, line: line)
        XCTAssertEqual((error as any Error).localizedDescription, error.description, file: file, line: line)
        return error.localizedDescription
    }

    func testMissingEmptyAndTruncatedFiles() throws {
        let dir = try makeTemporaryDirectory(self)
        let missing = dir.appendingPathComponent("missing.safetensors")
        let open = text(expectFormatError { try SafetensorsFile(url: missing) })
        XCTAssertTrue(open.hasPrefix("cannot open '\(missing.path)': No such file"), open)
        XCTAssertTrue(open.hasSuffix("; check the path and its permissions"), open)

        let empty = try writeFile([], named: "empty.safetensors", in: dir)
        XCTAssertEqual(text(expectFormatError { try SafetensorsFile(url: empty) }),
                       "'\(empty.path)' is empty (0 bytes); an empty file cannot be memory-mapped or parsed: download or convert it again")

        var writer = SafetensorsTestWriter()
        writer.add("a", shape: [2, 2], floats: [1, 2, 3, 4])
        let valid = writer.bytes()
        let tiny = try writeFile(Array(valid.prefix(5)), named: "tiny.safetensors", in: dir)
        XCTAssertEqual(text(expectFormatError { try SafetensorsFile(url: tiny) }),
                       "'\(tiny.path)' is not a safetensors file: it is 5 byte(s) long, shorter than the 8-byte header length; download it again")
        let cut = try writeFile(Array(valid.prefix(20)), named: "cut.safetensors", in: dir)
        let truncated = text(expectFormatError { try SafetensorsFile(url: cut) })
        XCTAssertTrue(truncated.hasPrefix("safetensors header of '\(cut.path)' claims "), truncated)
        XCTAssertTrue(truncated.hasSuffix("does not fit in the file's 20 bytes (truncated or not a safetensors file); download it again"),
                      truncated)

        let folder = text(expectFormatError { try SafetensorsFile(url: dir) })
        XCTAssertTrue(folder.contains(dir.path), folder)
    }

    func testUnknownArchitectureInAConfig() throws {
        let dir = try makeTemporaryDirectory(self)
        let config = try writeFile(#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}"#, named: "config.json", in: dir)
        let message = text(expectFormatError { try ModelConfig.load(contentsOf: config) })
        XCTAssertEqual(message, "cannot use config '\(config.path)': model_type 'llama' is not supported; use a model of a "
            + "supported type: \(ModelConfig.supportedModelTypes.joined(separator: ", "))")
        let unnamed = text(expectFormatError { try ModelConfig.parse(#"{"architectures": ["RobertaModel"]}"#, source: "r/config.json") })
        XCTAssertEqual(unnamed, "cannot use config 'r/config.json': it has no model_type and its architectures [\"RobertaModel\"] "
            + "are not recognised; use a model of a supported type: \(ModelConfig.supportedModelTypes.joined(separator: ", "))")
    }

    func testCheckpointFoldersWithoutUsableWeights() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertEqual(text(.noWeights(directory: dir.path, found: ["config.json"])),
                       "no model.safetensors or model.safetensors.index.json in '\(dir.path)'; it contains: config.json. "
                       + "Put the model's safetensors weights there, or give the folder that has them")
        XCTAssertEqual(text(.missingShard(index: "m/model.safetensors.index.json", shard: "model-00002-of-00002.safetensors")),
                       "checkpoint index 'm/model.safetensors.index.json' names shard 'model-00002-of-00002.safetensors', "
                       + "which does not exist; download the missing shard")
        let pickle = text(.pickleWeightsOnly(directory: "m", file: "pytorch_model.bin"))
        XCTAssertTrue(pickle.hasPrefix("'m' has only PyTorch pickle weights ('pytorch_model.bin'); SMM reads safetensors only. Convert them with: "),
                      pickle)
    }

    func testDTypeCasesNameTheTensorAndTheDType() {
        XCTAssertEqual(text(.unsupportedDType(path: "m.safetensors", tensor: "ids", dtype: .i64, operation: "reading floats")),
                       "tensor 'ids' in 'm.safetensors' has dtype I64, which is not supported for reading floats; convert "
                       + "the checkpoint to F32, F16 or BF16")
        XCTAssertEqual(text(.dtypeMismatch(path: "m.safetensors", tensor: "w", expected: [.f32, .f16], actual: .i32)),
                       "tensor 'w' in 'm.safetensors' has dtype I32, expected F32 or F16")
        XCTAssertEqual(text(.sizeMismatch(path: "m.safetensors", tensor: "w", dtype: .f16, shape: [2, 3], expectedBytes: 12,
                                          actualBytes: 10)),
                       "tensor 'w' in 'm.safetensors': dtype F16 with shape [2, 3] needs 12 bytes but data_offsets span 10 bytes")
        let unknown = text(.unknownDType(path: "m.safetensors", tensor: "w", dtype: "F128"))
        XCTAssertTrue(unknown.hasPrefix("tensor 'w' in 'm.safetensors' has unknown dtype 'F128' (known: "), unknown)
    }

    func testSMMFileCasesSayWhatToDo() {
        XCTAssertEqual(text(.truncatedFile(path: "m.smm", expectedSize: 100, actualSize: 40)),
                       "'m.smm' is truncated: its header says 100 bytes but the file has 40 (an interrupted download or copy?)")
        XCTAssertEqual(text(.unsupportedFormatVersion(path: "m.smm", major: 9, minor: 1, supportedMajor: 1)),
                       "'m.smm' uses SMM format version 9.1; this build reads version 1.x only. Upgrade SmartModelManager, "
                       + "or convert the model again with this build's smm-convert")
        XCTAssertEqual(text(.outputExists(path: "out.smm")), "'out.smm' already exists (use --force to overwrite it)")
        XCTAssertTrue(text(.checksumMismatch(path: "m.smm", what: "the body", expected: "ab", actual: "cd"))
            .hasSuffix("(the file is damaged or was modified)"))
    }
}
