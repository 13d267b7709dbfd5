// How a batch command (`tokenize`, `embed`, `classify`, `sentiment`) answers its records: it reads
// them (arguments, or standard input as it arrives), computes them in chunks (up to `chunkSize`
// records, or what has arrived so far on a pipe), and prints one answer per record in input order,
// flushed after each chunk.
//
// With --jsonl every input line gets exactly one output line: its answer as a JSON object with its
// 0-based "index", or `{"index": i, "error": "..."}` when the line could not be read or its text
// could not be answered; the run goes on, and the exit status is 1 if any record failed.
// --fail-fast stops at the first failed record instead. Without --jsonl the first problem is an
// error that stops the run, as it always was.
import ArgumentParser
import Foundation
import SMMJSON

struct RecordAnswers {
    /// Records computed together (a batch for the engine; also how often output is written).
    static let chunkSize = 64

    let input: TextInputOptions
    /// Records that got an error in their place.
    private(set) var failed = 0
    /// Records read.
    private(set) var total = 0

    init(_ input: TextInputOptions) { self.input = input }

    /// Reads every record, answers it, and prints the answers.
    /// - Parameters:
    ///   - compute: one answer per text, in order. With --jsonl, a chunk whose computation throws
    ///     is computed again one text at a time, so that the error lands on the record that caused it.
    ///   - json: the fields of an answer's JSON object (with --json or --jsonl; --jsonl puts
    ///     "index" first).
    ///   - plain: the lines printed for an answer otherwise.
    /// - Throws: `CLIError` for input that cannot be read (without --jsonl) and, with --fail-fast,
    ///   for the first failed record; the errors of `compute` without --jsonl; `ExitCode.failure`
    ///   after all the output when a record failed.
    mutating func run<Answer>(compute: ([String]) async throws -> [Answer],
                              json: (String, Answer) -> [(String, JSONValue)],
                              plain: (String, Answer) -> String) async throws {
        if !input.texts.isEmpty {
            let texts = try InputTexts.read(arguments: input.texts, jsonl: input.jsonl)
            let chunk = texts.enumerated().map { ($0.offset, InputRecord.text($0.element)) }
            try await answer(chunk, compute: compute, json: json, plain: plain)
        } else {
            var reader = RecordReader(handle: FileHandle.standardInput, jsonl: input.jsonl)
            while case let chunk = try reader.nextBatch(max: Self.chunkSize), !chunk.isEmpty {
                try await answer(chunk, compute: compute, json: json, plain: plain)
            }
            if total == 0 { _ = try InputTexts.nonEmpty([]) }
        }
        if failed > 0 {
            warn("\(failed) of \(total) records failed; each has {\"index\", \"error\"} in its place")
            throw ExitCode.failure
        }
    }

    private mutating func answer<Answer>(_ chunk: [(Int, InputRecord)],
                                         compute: ([String]) async throws -> [Answer],
                                         json: (String, Answer) -> [(String, JSONValue)],
                                         plain: (String, Answer) -> String) async throws {
        total += chunk.count
        let texts = chunk.compactMap { if case .text(let t) = $0.1 { t } else { nil } }
        let answers = try await Self.outcomes(texts, oneByOneOnError: input.jsonl, compute: compute)
        var next = answers.makeIterator()
        for (index, record) in chunk {
            let outcome: Result<Answer, any Error>
            let text: String
            switch record {
            case .failed(let why):
                outcome = .failure(CLIError(why))
                text = ""
            case .text(let t):
                guard let o = next.next() else { throw CLIError("internal error: fewer answers than texts") }
                outcome = o
                text = t
            }
            switch outcome {
            case .success(let a):
                if input.jsonl {
                    printLine(.record([("index", .int(index))] + json(text, a)))
                } else if input.json {
                    printLine(.record(json(text, a)))
                } else {
                    print(plain(text, a))
                }
            case .failure(let error):
                if !input.jsonl { throw error }
                if input.failFast { throw CLIError("line \(index + 1) of standard input: \(error)") }
                failed += 1
                printLine(.record([("index", .int(index)), ("error", .string("\(error)"))]))
            }
        }
        // A pipeline reading our output sees each chunk's answers as soon as they exist.
        fflush(nil)  // every output stream: stdout is a C global that Swift 6 will not name here
    }

    /// The answers for `texts`: all at once, or when that throws and `oneByOneOnError`, each
    /// text's own answer or error.
    static func outcomes<Answer>(_ texts: [String], oneByOneOnError: Bool,
                                 compute: ([String]) async throws -> [Answer]) async throws -> [Result<Answer, any Error>] {
        if texts.isEmpty { return [] }
        do {
            let answers = try await compute(texts)
            guard answers.count == texts.count else {
                throw CLIError("internal error: \(answers.count) answers for \(texts.count) texts")
            }
            return answers.map { .success($0) }
        } catch {
            guard oneByOneOnError, texts.count > 1 else {
                if oneByOneOnError { return [.failure(error)] }
                throw error
            }
            var results: [Result<Answer, any Error>] = []
            for text in texts {
                do {
                    let one = try await compute([text])
                    guard let a = one.first, one.count == 1 else { throw CLIError("internal error: no answer") }
                    results.append(.success(a))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
    }
}
