// The smm commands' option checks and generate's handling of the model's context, on the tiny
// fixture models in Tests/Fixtures/models.
import ArgumentParser
import Foundation
import SMMModels
import XCTest
@testable import smm

/// `Tests/Fixtures/models/<name>`, found from this source file.
func fixtureModel(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/\(name)").path
}

final class QualityCommandTests: XCTestCase {
    func assertRejected(_ list: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try QualityCommand.parseDTypes(list), file: file, line: line) { error in
            XCTAssertEqual("\(error)", message, file: file, line: line)
        }
    }

    func testDTypeLists() throws {
        XCTAssertEqual(try QualityCommand.parseDTypes(" int8 , f16"), [.int8, .f16])
        XCTAssertEqual(try QualityCommand.parseDTypes("bf16"), [.bf16])
        XCTAssertEqual(try QualityCommand.parseDTypes("q4,int8"), [.q4, .int8])
        assertRejected("", "--dtypes is empty: give one or more of f16, bf16, int8, q4, comma-separated")
        assertRejected(",", "--dtypes is empty: give one or more of f16, bf16, int8, q4, comma-separated")
        assertRejected(" , ", "--dtypes is empty: give one or more of f16, bf16, int8, q4, comma-separated")
        assertRejected("f16,,int8", "--dtypes 'f16,,int8' has an empty entry")
        assertRejected("f16,", "--dtypes 'f16,' has an empty entry")
        assertRejected("f32", "--dtypes: 'f32' is not one of f16, bf16, int8, q4")
        assertRejected("int4", "--dtypes: 'int4' is not one of f16, bf16, int8, q4")
        assertRejected("int8,int8", "--dtypes lists 'int8' twice")
    }

    func testParsingChecksDTypesAndCandidate() throws {
        let plain = try QualityCommand.parse(["-m", "model"])
        XCTAssertNil(plain.dtypes)
        XCTAssertNil(plain.candidate)
        XCTAssertEqual(QualityCommand.defaultDTypes, [.f16, .bf16, .int8])
        XCTAssertEqual(try QualityCommand.parse(["-m", "model", "--candidate", "c.smm"]).candidate, "c.smm")
        XCTAssertThrowsError(try QualityCommand.parse(["-m", "model", "--dtypes", ""])) { error in
            XCTAssertEqual(QualityCommand.message(for: error),
                           "--dtypes is empty: give one or more of f16, bf16, int8, q4, comma-separated")
        }
        XCTAssertThrowsError(try QualityCommand.parse(["-m", "model", "--dtypes", "int8", "--candidate", "c.smm"])) { error in
            XCTAssertEqual(QualityCommand.message(for: error),
                           "--candidate and --dtypes cannot be used together: --candidate compares one model file, "
                           + "--dtypes quantizes MODEL at load")
        }
    }
}

final class ManagerOptionsTests: XCTestCase {
    func testModelsDirectoryMustBeAnExistingDirectory() throws {
        let missing = "/nonexistent-smm-\(UUID().uuidString)"
        XCTAssertThrowsError(try ManagerOptions.parse(["--models-dir", missing]).makeManager()) { error in
            XCTAssertEqual("\(error)", "--models-dir \(missing) does not exist")
        }
        let file = fixtureModel("tiny-bert/config.json")
        XCTAssertThrowsError(try ManagerOptions.checkModelsDirectory(file)) { error in
            XCTAssertEqual("\(error)", "--models-dir \(file) is not a directory")
        }
        XCTAssertThrowsError(try ManagerOptions.checkModelsDirectory("")) { error in
            XCTAssertEqual("\(error)", "--models-dir is empty")
        }
        XCTAssertNoThrow(try ManagerOptions.checkModelsDirectory(fixtureModel("")))
    }
}

final class SentimentTruncationTests: XCTestCase {
    /// `smm sentiment` reports the truncation the manager's results carry (it no longer rebuilds a
    /// tokenizer of its own); the warning names the model's length.
    func testTruncatedTextsAreFoundAndWarnedAbout() throws {
        let path = fixtureModel("tiny-bert")
        guard case .encoder(let encoder) = try ModelLoader.load(path: path) else { return XCTFail("not an encoder") }
        XCTAssertEqual(encoder.maxLength, 64)
        let long = Array(repeating: "good", count: 100).joined(separator: " ")
        XCTAssertEqual(try encoder.tokenize([long, "good news"]).map(\.wasTruncated), [true, false])
        XCTAssertEqual(truncationWarning(long, maxLength: 64),
                       "text truncated to 64 tokens: good good good good good good good good …")
    }
}

final class GenerateCommandTests: XCTestCase {
    func generator() throws -> TextGenerator {
        guard case .decoder(let generator) = try ModelLoader.load(path: fixtureModel("tiny-gpt2")) else {
            throw XCTSkip("tiny-gpt2 is not a decoder")
        }
        return generator
    }

    /// A prompt of exactly `count` tokens for `generator`'s tokenizer.
    func prompt(tokens count: Int, _ generator: TextGenerator) throws -> String {
        let text = String(repeating: "a,", count: count / 2) + (count % 2 == 1 ? "a" : "")
        XCTAssertEqual(generator.tokenizer.encodeIDs(text).count, count, "prompt '\(text)'")
        return text
    }

    func testPromptThatFillsTheContextIsAnError() throws {
        let generator = try generator()
        XCTAssertEqual(generator.model.contextLength, 64)
        for count in [64, 65] {
            XCTAssertThrowsError(try GenerateCommand.checkRoom(prompt: try prompt(tokens: count, generator),
                                                               generator: generator)) { error in
                XCTAssertEqual("\(error)",
                               "the prompt has \(count) tokens, the model's context is 64: no room to generate")
            }
        }
        XCTAssertEqual(try GenerateCommand.checkRoom(prompt: try prompt(tokens: 63, generator), generator: generator), 63)
    }

    func testGenerationCutShortByTheContextIsReported() async throws {
        let generator = try generator()
        let text = try prompt(tokens: 60, generator)
        let options = GenerationOptions(maxNewTokens: 10)
        let result = try generator.generate(prompt: text, options: options)
        XCTAssertEqual(result.stopReason, .contextFull)
        XCTAssertEqual(result.tokenIDs.count, 4)
        XCTAssertEqual(GenerateCommand.contextWarning(result, contextLength: 64),
                       "generation stopped after 4 new token(s): the model's context is full "
                       + "(60 prompt + 4 new = 64 of 64 tokens)")
        let json = GenerateCommand.jsonObject(prompt: text, result: result).text
        XCTAssertTrue(json.hasSuffix(",\"stopped\":\"context_full\"}"), json)

        // Streaming reports the same result, and the pieces make its text.
        var pieces: [String] = []
        let streamed = try await GenerateCommand.stream(generator, prompt: text, options: options) { pieces.append($0) }
        XCTAssertEqual(streamed.stopReason, .contextFull)
        XCTAssertEqual(streamed.tokenIDs, result.tokenIDs)
        XCTAssertEqual(pieces.joined(), result.text)
    }

    func testOtherStopReasonsGiveNoWarning() async throws {
        let generator = try generator()
        let text = try prompt(tokens: 10, generator)
        let result = try await GenerateCommand.stream(generator, prompt: text, options: GenerationOptions(maxNewTokens: 3)) { _ in }
        XCTAssertEqual(result.stopReason, .maxTokens)
        XCTAssertEqual(result.tokenIDs.count, 3)
        XCTAssertNil(GenerateCommand.contextWarning(result, contextLength: 64))
        XCTAssertTrue(GenerateCommand.jsonObject(prompt: text, result: result).text
            .hasSuffix(",\"stopped\":\"max_tokens\"}"))
        // 54 + 10 tokens reach both limits with the same token: max_tokens wins, no warning.
        let both = try generator.generate(prompt: try prompt(tokens: 54, generator), options: GenerationOptions(maxNewTokens: 10))
        XCTAssertEqual(both.stopReason, .maxTokens)
        XCTAssertNil(GenerateCommand.contextWarning(both, contextLength: 64))
        XCTAssertEqual(GenerateCommand.stoppedName(.endOfText), "eos")
        XCTAssertEqual(GenerateCommand.stoppedName(.stopString), "stop_string")
    }

    func testOptionErrorsNameTheFlags() throws {
        let cases: [([String], String)] = [
            (["--max-tokens=-1"], "--max-tokens must be >= 0, got -1"),
            (["--top-p", "0"], "--top-p must be in (0, 1] (1 = off), got 0.0"),
            (["--top-p", "1.5"], "--top-p must be in (0, 1] (1 = off), got 1.5"),
            (["--top-k=-2"], "--top-k must be >= 0 (0 = off), got -2"),
            (["--temperature=-1"], "--temperature must be a finite number >= 0 (0 = greedy), got -1.0"),
            (["--repetition-penalty", "0"], "--repetition-penalty must be a finite number > 0 (1 = off), got 0.0"),
            (["--stop", ""], "--stop must not be an empty string"),
        ]
        for (arguments, message) in cases {
            XCTAssertThrowsError(try GenerateCommand.parse(arguments + ["prompt"]), "\(arguments)") { error in
                XCTAssertEqual(GenerateCommand.message(for: error), message)
            }
        }
        XCTAssertEqual(try GenerateCommand.parse(["--top-p", "0.9", "--stop", "\n", "prompt"]).topP, 0.9)
    }
}
