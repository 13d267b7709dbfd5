// Every --jsonl record gets an answer: the held-out style corpus of Tests/Fixtures/tokenizers/
// jsonl_records.json (empty, whitespace-only, control-character and 1 MiB texts, lines that are not
// records), read as smm reads it and tokenized as Hugging Face does (ids made by
// Tools/make_jsonl_fixture.py), and the smm binary answering one line per record, in order.
import Foundation
import SMMJSON
import SMMTokenizers
import XCTest
@testable import smm

/// `Tests/Fixtures/<path>`, found from this source file.
private func fixture(_ path: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/\(path)")
}

/// The held-out corpus: each record's input line and what Hugging Face gives for it.
struct JSONLCorpus {
    struct Record {
        var line: Data
        var bert: [Int]?
        var gpt2: [Int]?
        var isError: Bool { bert == nil }
    }
    var records: [Record]
    var input: Data { Data(records.map(\.line).joined(separator: [0x0A])) + Data([0x0A]) }

    static func load() throws -> JSONLCorpus {
        let root = try JSONParser.parse(Array(try Data(contentsOf: fixture("tokenizers/jsonl_records.json"))))
        let list = try XCTUnwrap(root.objectValue?["records"]?.arrayValue)
        var records: [Record] = []
        for item in list {
            let o = try XCTUnwrap(item.objectValue)
            let line: Data
            if let text = o["line"]?.stringValue {
                line = Data(text.utf8)
            } else if let hex = o["line_hex"]?.stringValue {
                line = Data(stride(from: 0, to: hex.count, by: 2).map {
                    let i = hex.index(hex.startIndex, offsetBy: $0)
                    return UInt8(hex[i..<hex.index(i, offsetBy: 2)], radix: 16) ?? 0
                })
            } else {
                // {"text": unit repeated, cut to n bytes at a character boundary}
                let unit = try XCTUnwrap(o["repeat"]?.stringValue), n = try XCTUnwrap(o["bytes"]?.exactInt)
                var text = String(repeating: unit, count: n / unit.utf8.count + 1)
                while text.utf8.count > n { text.removeLast() }
                line = Data(JSONValue.record([("text", .string(text))]).text.utf8)
            }
            records.append(Record(line: line, bert: o["bert"]?.arrayValue?.compactMap(\.exactInt),
                                  gpt2: o["gpt2"]?.arrayValue?.compactMap(\.exactInt)))
        }
        return JSONLCorpus(records: records)
    }
}

final class JSONLRecordsTests: XCTestCase {
    /// Read as smm reads --jsonl, every valid record's ids equal Hugging Face's, for BERT
    /// (bert-base-uncased's tokenizer.json, as all-MiniLM-L6-v2 has it) and GPT-2; every other line
    /// is a failed record in its place.
    func testHeldOutCorpusMatchesHuggingFaceRecordByRecord() throws {
        let corpus = try JSONLCorpus.load()
        XCTAssertEqual(corpus.records.count, 40)
        XCTAssertEqual(corpus.records.filter(\.isError).count, 11)
        let bert = try BertTokenizer.load(directory: fixture("tokenizers/bert-base-uncased"), doLowerCase: nil, maxLength: 512)
        let gpt2 = try GPT2Tokenizer(vocabularyFile: fixture("tokenizers/gpt2/vocab.json"),
                                     mergesFile: fixture("tokenizers/gpt2/merges.txt"))
        let records = try InputTexts.parse(corpus.input, jsonl: true)
        XCTAssertEqual(records.count, corpus.records.count, "one record per line")
        for (i, (record, expected)) in zip(records, corpus.records).enumerated() {
            switch record {
            case .failed(let why):
                XCTAssertTrue(expected.isError, "record \(i) failed: \(why)")
            case .text(let text):
                guard let ids = expected.bert else { XCTFail("record \(i) should have failed"); continue }
                XCTAssertEqual(try bert.encode(text).ids, ids, "BERT ids of record \(i)")
                if let ids = expected.gpt2 { XCTAssertEqual(gpt2.encodeIDs(text), ids, "GPT-2 ids of record \(i)") }
            }
        }
        // The fixture's own anchors, as the issue states them.
        XCTAssertEqual(try bert.encode("").ids, [101, 102])
        XCTAssertEqual(gpt2.encodeIDs(""), [])
        XCTAssertEqual(gpt2.encodeIDs(" "), [220])
    }

    /// The smm binary on the real all-MiniLM-L6-v2: one output line per input line, in order, ids
    /// equal to Hugging Face's, `{"index","error"}` for the bad ones, exit status 1; --fail-fast
    /// stops at the first bad one.
    func testSMMTokenizeAnswersEveryRecord() throws {
        let model = fixture("../../Weights/models/all-MiniLM-L6-v2").standardizedFileURL
        guard FileManager.default.fileExists(atPath: model.appendingPathComponent("model.safetensors").path) else {
            if ProcessInfo.processInfo.environment["SMM_REQUIRE_REAL_MODELS"] == "1" {
                return XCTFail("SMM_REQUIRE_REAL_MODELS=1 but \(model.path) is missing; run bash Tools/fetch_minilm.sh")
            }
            throw XCTSkip("the real all-MiniLM-L6-v2 is not in Weights/models (bash Tools/fetch_minilm.sh)")
        }
        let corpus = try JSONLCorpus.load()
        // The model reads 256 tokens (sentence-transformers' max_seq_length for it): HF's ids cut
        // there, [SEP] kept last, as a single sequence is truncated.
        let config = try JSONParser.parse(Array(try Data(contentsOf: model.appendingPathComponent("sentence_bert_config.json"))))
        let maxLength = try XCTUnwrap(config.objectValue?["max_seq_length"]?.exactInt)
        XCTAssertEqual(maxLength, 256)
        let run = try runSMM(["tokenize", "-m", model.path, "--jsonl"], stdin: corpus.input)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("11 of 40 records failed"), run.stderr)
        let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, corpus.records.count)
        for (i, (line, expected)) in zip(lines, corpus.records).enumerated() {
            let o = try XCTUnwrap(try JSONParser.parse(Array(line.utf8)).objectValue, "line \(i)")
            XCTAssertEqual(o["index"]?.exactInt, i)
            if var ids = expected.bert {
                if ids.count > maxLength { ids = Array(ids.prefix(maxLength - 1)) + [102] }
                XCTAssertEqual(o["ids"]?.arrayValue?.compactMap(\.exactInt), ids, "record \(i)")
            } else {
                XCTAssertNotNil(o["error"]?.stringValue, "record \(i): \(line.prefix(200))")
                XCTAssertNil(o["ids"])
            }
        }
        let firstBad = try XCTUnwrap(corpus.records.firstIndex(where: \.isError))
        let failFast = try runSMM(["tokenize", "-m", model.path, "--jsonl", "--fail-fast"], stdin: corpus.input)
        XCTAssertNotEqual(failFast.status, 0)
        XCTAssertEqual(failFast.stdout.split(separator: "\n").count, firstBad, "the records before the first bad one")
        XCTAssertTrue(failFast.stderr.contains("line \(firstBad + 1) of standard input: the line is not valid JSON"),
                      failFast.stderr)
    }

    /// embed and classify on the tiny fixture model: an empty text gets an answer like any other,
    /// a bad line an error in its place; without --jsonl, blank lines are skipped as before.
    func testEmbedAndClassifyAnswerEveryRecord() throws {
        let model = fixture("models/tiny-bert").path
        let input = Data("{\"text\":\"\"}\n{\"text\":\"good news\"}\n{\"nope\":1}\n{\"text\":\"  \"}\n".utf8)
        let embed = try runSMM(["embed", "-m", model, "--jsonl"], stdin: input)
        XCTAssertEqual(embed.status, 1, embed.stderr)
        let lines = try embed.stdout.split(separator: "\n").map { try XCTUnwrap(try JSONParser.parse(Array($0.utf8)).objectValue) }
        XCTAssertEqual(lines.map { $0["index"]?.exactInt }, [0, 1, 2, 3])
        XCTAssertEqual(lines.map { $0["embedding"]?.arrayValue?.count }, [64, 64, nil, 64])
        XCTAssertEqual(lines[2]["error"]?.stringValue, "the object has no field \"text\"")
        XCTAssertEqual(lines[0]["text"]?.stringValue, "")
        // "" and "  " are both [CLS] [SEP]: the same embedding.
        XCTAssertEqual(lines[0]["embedding"], lines[3]["embedding"])
        XCTAssertNotEqual(lines[0]["embedding"], lines[1]["embedding"])

        let classify = try runSMM(["classify", "-m", model, "--jsonl"], stdin: Data("{\"text\":\"\"}\n{\"text\":\"fine\"}\n".utf8))
        XCTAssertEqual(classify.status, 0, classify.stderr)
        let results = try classify.stdout.split(separator: "\n").map { try XCTUnwrap(try JSONParser.parse(Array($0.utf8)).objectValue) }
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(results.compactMap { $0["logits"]?.arrayValue?.count }, [3, 3])

        let plain = try runSMM(["embed", "-m", model, "--json"], stdin: Data("one\n\n  \ntwo\n".utf8))
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(plain.stdout.split(separator: "\n").count, 2, "blank plain lines are skipped")
        let arguments = try runSMM(["tokenize", "-m", model, "--json", "", " "], stdin: Data())
        XCTAssertEqual(arguments.status, 0, arguments.stderr)
        XCTAssertEqual(arguments.stdout.split(separator: "\n").count, 2, "empty arguments are texts")
    }
}

/// The output of one run of the `smm` binary built beside this test bundle.
struct SMMRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The `smm` binary built beside this test bundle.
func smmBinary() throws -> URL {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("smm")
    let candidates = [binary] + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent().appendingPathComponent("smm") }
    guard let smm = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CLIError("the smm binary is not beside the test bundle (\(binary.path)); build with --build-tests")
    }
    return smm
}

/// Runs `smm arguments` with `stdin` as its standard input.
func runSMM(_ arguments: [String], stdin: Data) throws -> SMMRun {
    let process = Process()
    process.executableURL = try smmBinary()
    process.arguments = arguments
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smm-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let files = ["in", "out", "err"].map { dir.appendingPathComponent($0) }
    try stdin.write(to: files[0])
    for f in files.dropFirst() { _ = FileManager.default.createFile(atPath: f.path, contents: nil) }
    process.standardInput = try FileHandle(forReadingFrom: files[0])
    process.standardOutput = try FileHandle(forWritingTo: files[1])
    process.standardError = try FileHandle(forWritingTo: files[2])
    try process.run()
    process.waitUntilExit()
    return SMMRun(status: process.terminationStatus,
                  stdout: String(decoding: try Data(contentsOf: files[1]), as: UTF8.self),
                  stderr: String(decoding: try Data(contentsOf: files[2]), as: UTF8.self))
}
