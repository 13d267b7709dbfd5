// Where the CLI's texts come from: arguments, else standard input (one text a line, or with
// --jsonl one {"text": ...} object a line). Invalid UTF-8, missing fields and empty input are
// errors that say which line is wrong.
import Foundation

enum InputTexts {
    /// Longest accepted text, in bytes (a larger one is almost surely a mistake, e.g. a binary file).
    static let maxTextBytes = 1 << 20

    static func read(arguments: [String], jsonl: Bool) throws -> [String] {
        var texts: [String]
        if !arguments.isEmpty {
            texts = arguments
            for (i, text) in texts.enumerated() where text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw CLIError("text argument \(i + 1) is empty")
            }
        } else {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard let whole = String(validating: data, as: UTF8.self) else {
                let offset = firstInvalidUTF8Offset(data)
                throw CLIError("standard input is not valid UTF-8 (first bad byte at offset \(offset))")
            }
            texts = []
            for (number, line) in whole.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                var text = String(line)
                if text.hasSuffix("\r") { text.removeLast() }
                if text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                if jsonl {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                        throw CLIError("line \(number + 1) of standard input is not a JSON object")
                    }
                    guard let value = object["text"] as? String else {
                        throw CLIError("line \(number + 1) of standard input has no string field \"text\"")
                    }
                    text = value
                }
                texts.append(text)
            }
        }
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

/// An error the CLI reports as `error: <message>` with exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
