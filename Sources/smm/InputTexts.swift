// Where the CLI's texts come from: arguments, else standard input (one text a line, or with
// --jsonl one {"text": ...} object a line). Invalid UTF-8, missing fields, empty texts and empty
// input are errors that say which line is wrong.
//
// Lines are split on the byte 0x0A and one trailing 0x0D is dropped from each, so LF, CRLF and a
// mix of both all give one text per line. (Splitting a Swift String on "\n" would not: "\r\n" is
// a single Character, so CRLF input used to come out as one text.) A 0x0D anywhere else in a line
// is kept as part of the text.
import Foundation
import SMMJSON

enum InputTexts {
    /// Longest accepted text, in bytes (a larger one is almost surely a mistake, e.g. a binary file).
    static let maxTextBytes = 1 << 20

    /// The texts of `arguments`, else of standard input (see `parse(_:jsonl:)`).
    /// - Throws: `CLIError` for `--jsonl` with TEXT arguments, an empty argument, and everything
    ///   `parse(_:jsonl:)` rejects.
    static func read(arguments: [String], jsonl: Bool) throws -> [String] {
        if !arguments.isEmpty {
            if jsonl { throw CLIError("--jsonl reads standard input; do not also pass texts") }
            return try check(arguments: arguments)
        }
        return try parse(FileHandle.standardInput.readDataToEndOfFile(), jsonl: jsonl)
    }

    /// TEXT arguments as given, once each is known to be non-blank, valid UTF-8 in the command
    /// line (`invalid`: the lossy decodings of the raw arguments that are not) and within
    /// `maxTextBytes`.
    static func check(arguments: [String], invalid: Set<String> = invalidUTF8Arguments()) throws -> [String] {
        for (i, text) in arguments.enumerated() {
            if isBlank(text) { throw CLIError("text argument \(i + 1) is empty") }
            // Swift decodes the command line with replacement characters; standard input is
            // refused for invalid UTF-8, and so is an argument.
            if invalid.contains(text) { throw CLIError("text argument \(i + 1) is not valid UTF-8") }
        }
        return try checked(arguments)
    }

    /// The command-line arguments whose raw bytes are not valid UTF-8, as Swift decoded them (with
    /// U+FFFD for the bad bytes).
    static func invalidUTF8Arguments() -> Set<String> {
        var invalid = Set<String>()
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[i] else { continue }
            if String(validatingCString: raw) == nil { invalid.insert(String(decoding: UnsafeRawBufferPointer(start: raw, count: strlen(raw)), as: UTF8.self)) }
        }
        return invalid
    }

    /// The texts in `data` (standard input): one per line, or with `jsonl` the string field
    /// `"text"` of the JSON object on each line. Lines end at LF (0x0A); one CR (0x0D) before it
    /// (CRLF) is dropped, as is a UTF-8 byte order mark at the very start. Blank lines are skipped.
    /// - Throws: `CLIError` naming the problem: invalid UTF-8 (with the offset of the first bad byte
    ///   in `data`), a line that is not a JSON object or has no string `"text"`, a blank `"text"`,
    ///   a text over `maxTextBytes`, or no texts at all.
    static func parse(_ data: Data, jsonl: Bool) throws -> [String] {
        let bytes = [UInt8](data)
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var texts: [String] = []
        var number = 0
        while start < bytes.count {
            number += 1
            let newline = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            var end = newline
            if end > start && bytes[end - 1] == 0x0D { end -= 1 }
            let line = bytes[start..<end]
            guard let text = String(validating: line, as: UTF8.self) else {
                let offset = start + firstInvalidUTF8Offset(Data(line))
                throw CLIError("standard input is not valid UTF-8 (first bad byte at offset \(offset))")
            }
            start = newline + 1
            if isBlank(text) { continue }
            if jsonl {
                guard let object = (try? JSONParser.parse(Array(line), maxDepth: 64))?.objectValue else {
                    throw CLIError("line \(number) of standard input is not a JSON object")
                }
                guard let value = object["text"]?.stringValue else {
                    throw CLIError("line \(number) of standard input has no string field \"text\"")
                }
                guard !isBlank(value) else {
                    throw CLIError("line \(number) of standard input has an empty \"text\"")
                }
                texts.append(value)
            } else {
                texts.append(text)
            }
        }
        return try checked(texts)
    }

    /// True for a text with nothing but whitespace and line breaks (CR included).
    static func isBlank(_ text: String) -> Bool {
        text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// `texts`, once it is known to be non-empty with every text within `maxTextBytes`.
    private static func checked(_ texts: [String]) throws -> [String] {
        guard !texts.isEmpty else {
            throw CLIError("no input texts: pass TEXT arguments or write one text per line to standard input")
        }
        for (i, text) in texts.enumerated() where text.utf8.count > maxTextBytes {
            throw CLIError("text \(i + 1) is \(text.utf8.count) bytes; the limit is \(maxTextBytes)")
        }
        return texts
    }

    static func firstInvalidUTF8Offset(_ data: Data) -> Int {
        let bytes = [UInt8](data)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let length = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            if length == 0 || i + length > bytes.count { return i }
            if String(validating: bytes[i..<(i + length)], as: UTF8.self) == nil { return i }
            i += length
        }
        return i
    }
}
