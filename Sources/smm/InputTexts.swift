// Where the CLI's texts come from: arguments, else standard input (one text a line, or with
// --jsonl one {"text": ...} object a line).
//
// Texts are what Hugging Face sees: an empty or whitespace-only argument or `"text"` is a text
// (BERT gives it `[CLS] [SEP]`). Only plain stdin lines that are blank are skipped, as a line
// reader's users expect. With --jsonl every line is a record: a line that cannot be read (not JSON,
// no string "text", invalid UTF-8, over the size limit, blank) becomes `InputRecord.failed` in its
// place, so a batch tool answers every other record (see RecordAnswers). Without --jsonl such input
// is an error that stops the run and says which line is wrong.
//
// Lines are split on the byte 0x0A and one trailing 0x0D is dropped from each, so LF, CRLF and a
// mix of both all give one text per line. (Splitting a Swift String on "\n" would not: "\r\n" is
// a single Character, so CRLF input used to come out as one text.) A 0x0D anywhere else in a line
// is kept as part of the text. Standard input is read in chunks, so memory follows the longest
// line, not the whole input.
import Foundation
import SMMJSON

/// One input record: its text, or why it has none (a `--jsonl` line that cannot be read).
enum InputRecord: Equatable, Sendable {
    case text(String)
    case failed(String)
}

enum InputTexts {
    /// Longest accepted text, in bytes (a larger one is almost surely a mistake, e.g. a binary file).
    static let maxTextBytes = 1 << 20
    /// Longest `--jsonl` line, in bytes: a `maxTextBytes` text written with `\u` escapes fits. A
    /// longer line is a failed record, skipped without being held in memory.
    static let maxLineBytes = 8 * maxTextBytes

    /// The texts of `arguments`, else of standard input, all at once, stopping at the first record
    /// that cannot be read (for commands that need every text, e.g. `smm quality`).
    /// - Throws: `CLIError` for `--jsonl` with TEXT arguments, for everything `check(arguments:)`
    ///   rejects, for the first failed record, and for no texts at all.
    static func read(arguments: [String], jsonl: Bool) throws -> [String] {
        if !arguments.isEmpty {
            if jsonl { throw CLIError("--jsonl reads standard input; do not also pass texts") }
            return try check(arguments: arguments)
        }
        var texts: [String] = []
        var reader = RecordReader(handle: FileHandle.standardInput, jsonl: jsonl)
        while let (index, record) = try reader.next() {
            switch record {
            case .text(let t): texts.append(t)
            case .failed(let why): throw CLIError("line \(index + 1) of standard input: \(why)")
            }
        }
        return try nonEmpty(texts)
    }

    /// TEXT arguments as given, once each is known to be valid UTF-8 in the command line
    /// (`invalid`: the lossy decodings of the raw arguments that are not) and within
    /// `maxTextBytes`. An empty or blank argument is a text.
    static func check(arguments: [String], invalid: Set<String> = invalidUTF8Arguments()) throws -> [String] {
        for (i, text) in arguments.enumerated() {
            // Swift decodes the command line with replacement characters; standard input is
            // refused for invalid UTF-8, and so is an argument.
            if invalid.contains(text) { throw CLIError("text argument \(i + 1) is not valid UTF-8") }
            if text.utf8.count > maxTextBytes {
                throw CLIError("text argument \(i + 1) is \(text.utf8.count) bytes; the limit is \(maxTextBytes)")
            }
        }
        return try nonEmpty(arguments)
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

    /// The records in `data`, as `RecordReader` reads them from a handle (for tests and small inputs).
    /// - Throws: what `RecordReader.next` throws; without `jsonl`, also when there are no texts.
    static func parse(_ data: Data, jsonl: Bool) throws -> [InputRecord] {
        var records: [InputRecord] = []
        var lines = LineSplitter(maxLineBytes: maxLineBytes)
        for line in lines.append(data) { if let r = try record(line, jsonl: jsonl) { records.append(r) } }
        if let line = lines.finish(), let r = try record(line, jsonl: jsonl) { records.append(r) }
        if !jsonl, records.isEmpty { _ = try nonEmpty([]) }
        return records
    }

    /// One line as a record: nil for a blank plain line (skipped).
    static func record(_ line: Line, jsonl: Bool) throws -> InputRecord? {
        if line.overflowed {
            let why = "the line is over \(maxLineBytes) bytes"
            if jsonl { return .failed(why) }
            throw CLIError("line \(line.number) of standard input: \(why)")
        }
        guard let text = String(validating: line.bytes, as: UTF8.self) else {
            let offset = line.offset + firstInvalidUTF8Offset(line.bytes)
            if jsonl { return .failed("the line is not valid UTF-8 (first bad byte at offset \(offset) of the input)") }
            throw CLIError("standard input is not valid UTF-8 (first bad byte at offset \(offset))")
        }
        guard jsonl else {
            if isBlank(text) { return nil }
            guard text.utf8.count <= maxTextBytes else {
                throw CLIError("line \(line.number) of standard input is \(text.utf8.count) bytes; the limit is \(maxTextBytes)")
            }
            return .text(text)
        }
        if isBlank(text) { return .failed("the line is blank; expected a JSON object with a string \"text\"") }
        let object: JSONObject
        do {
            guard let o = try JSONParser.parse(Array(line.bytes), maxDepth: 64).objectValue else {
                return .failed("the line is not a JSON object")
            }
            object = o
        } catch {
            return .failed("the line is not valid JSON: \(error)")
        }
        guard let field = object["text"] else { return .failed("the object has no field \"text\"") }
        guard let value = field.stringValue else { return .failed("the field \"text\" is not a string") }
        guard value.utf8.count <= maxTextBytes else {
            return .failed("the text is \(value.utf8.count) bytes; the limit is \(maxTextBytes)")
        }
        return .text(value)
    }

    /// True for a text with nothing but whitespace and line breaks (CR included).
    static func isBlank(_ text: String) -> Bool {
        text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// `texts`, once it is known to be non-empty.
    static func nonEmpty(_ texts: [String]) throws -> [String] {
        guard !texts.isEmpty else {
            throw CLIError("no input texts: pass TEXT arguments or write one text per line to standard input")
        }
        return texts
    }

    static func firstInvalidUTF8Offset<C: Collection>(_ bytes: C) -> Int where C.Element == UInt8 {
        let bytes = Array(bytes)
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

/// Standard input (or any handle) read in chunks to its end, one record at a time: with `jsonl`
/// one record per line (blank ones included, as failed records); without, one text per non-blank
/// line. The index of a record is its 0-based line number with `jsonl`, its position among the
/// texts without.
struct RecordReader {
    private let handle: FileHandle
    private let jsonl: Bool
    private var lines = LineSplitter(maxLineBytes: InputTexts.maxLineBytes)
    private var ready: [Line] = []
    private var readyIndex = 0
    private var atEnd = false
    private var index = 0

    init(handle: FileHandle, jsonl: Bool) {
        self.handle = handle
        self.jsonl = jsonl
    }

    /// The next record and its index, or nil at the end of the input.
    /// - Throws: without `jsonl`, `CLIError` for invalid UTF-8 (with the offset of the first bad
    ///   byte in the whole input) or a text over `InputTexts.maxTextBytes`; read errors.
    mutating func next() throws -> (Int, InputRecord)? {
        try nextBatch(max: 1).first
    }

    /// Up to `max` records: those already read, else what the next read brings (so a pipe that
    /// delivers one line at a time is answered line by line); empty only at the end of the input.
    /// - Throws: as `next()`.
    mutating func nextBatch(max: Int) throws -> [(Int, InputRecord)] {
        var batch: [(Int, InputRecord)] = []
        while batch.count < max {
            if readyIndex < ready.count {
                let line = ready[readyIndex]
                readyIndex += 1
                guard let record = try InputTexts.record(line, jsonl: jsonl) else { continue }
                batch.append((index, record))
                index += 1
                continue
            }
            if atEnd || !batch.isEmpty { break }
            ready = []
            readyIndex = 0
            if let chunk = try Self.readSome(handle), !chunk.isEmpty {
                ready = lines.append(chunk)
            } else {
                atEnd = true
                if let last = lines.finish() { ready = [last] }
            }
        }
        return batch
    }
}

extension RecordReader {
    /// What one read(2) of `handle` brings, up to 64 KiB: on a pipe, what has arrived (blocking only
    /// until something has), unlike `FileHandle.read(upToCount:)`, which waits for the whole count.
    /// Nil at the end of the input.
    static func readSome(_ handle: FileHandle) throws -> Data? {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if n > 0 { return Data(buffer[0..<n]) }
            if n == 0 { return nil }
            guard errno == EINTR else { throw CLIError("cannot read standard input: \(String(cString: strerror(errno)))") }
        }
    }
}

/// A line of input: its bytes without the line end, its 1-based number, the offset of its first
/// byte in the whole input, and whether it was longer than the splitter keeps (then `bytes` is empty).
struct Line {
    var bytes: [UInt8]
    var number: Int
    var offset: Int
    var overflowed = false
}

/// Splits a byte stream, fed in chunks, into lines at 0x0A, dropping one 0x0D before it and a UTF-8
/// byte order mark at the very start. A line longer than `maxLineBytes` is not kept: it comes out
/// once, marked `overflowed`, when its end arrives.
struct LineSplitter {
    let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var consumed = 0
    private var number = 0
    private var overflowing = false
    private var sawStart = false

    init(maxLineBytes: Int) { self.maxLineBytes = maxLineBytes }

    /// The lines that `chunk` completes.
    mutating func append(_ chunk: Data) -> [Line] {
        var bytes = [UInt8](chunk)
        var base = consumed
        consumed += bytes.count
        if !sawStart {
            if pending.count + bytes.count < 3 && bytes.count > 0 && [0xEF, 0xBB, 0xBF].starts(with: pending + bytes) {
                // Too few bytes yet to tell a byte order mark from text.
                pending += bytes
                return []
            }
            bytes = pending + bytes
            base -= pending.count
            pending = []
            sawStart = true
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3); base += 3 }
            pendingOffset = base
        }
        var lines: [Line] = []
        var start = 0
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            lines.append(take(bytes[start..<newline]))
            start = newline + 1
            pendingOffset = base + start
        }
        keep(bytes[start...])
        return lines
    }

    /// The last line, when the input does not end with a line break.
    mutating func finish() -> Line? {
        if !sawStart { sawStart = true; if pending == [0xEF, 0xBB, 0xBF] || pending.isEmpty { return nil } }
        guard !pending.isEmpty || overflowing else { return nil }
        return take([][...])
    }

    private mutating func keep(_ bytes: ArraySlice<UInt8>) {
        guard !overflowing else { return }
        if pending.count + bytes.count > maxLineBytes {
            overflowing = true
            pending = []
        } else {
            pending += bytes
        }
    }

    private mutating func take(_ tail: ArraySlice<UInt8>) -> Line {
        number += 1
        keep(tail)
        defer { pending = []; overflowing = false }
        if overflowing { return Line(bytes: [], number: number, offset: pendingOffset, overflowed: true) }
        var line = pending
        if line.last == 0x0D { line.removeLast() }
        return Line(bytes: line, number: number, offset: pendingOffset)
    }
}
