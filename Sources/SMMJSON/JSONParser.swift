// The project's one JSON reader: a strict RFC 8259 parser for safetensors headers, checkpoint
// indexes, configs, tokenizer files and the CLI's `--jsonl` records.
//
// Written here rather than using `JSONSerialization` so that readers can:
// - detect duplicate object keys (two tensors with one name), compared as bytes,
// - keep numbers as their exact text (a shape entry of `1e3`, `-1` or `99999999999999999999` is
//   reported precisely instead of being silently rounded through `Double`),
// - bound nesting depth and input size, so hostile input cannot overflow the stack,
// - validate UTF-8 strictly.
//
// The parser never traps on any input; errors carry the byte offset where parsing stopped.

// For LocalizedError only (the lighter FoundationEssentials where the toolchain has it).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why parsing stopped, and at which byte.
public struct JSONParseError: Error, Sendable, CustomStringConvertible, LocalizedError {
    /// What is wrong.
    public var message: String
    /// The byte offset where parsing stopped.
    public var offset: Int
    /// For a duplicate-key error: the key, and the nesting depth of its object (1 = top level).
    public var duplicateKey: String? = nil
    public var depth: Int = 0
    /// `message at byte offset`: what is wrong and where, so the JSON can be fixed there.
    public var description: String { "\(message) at byte \(offset)" }
    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }

    /// An error `message` at byte `offset`.
    public init(message: String, offset: Int, duplicateKey: String? = nil, depth: Int = 0) {
        self.message = message
        self.offset = offset
        self.duplicateKey = duplicateKey
        self.depth = depth
    }
}

/// The strict JSON reader.
public struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private let rejectDuplicateKeys: Bool
    private let maxDepth: Int

    /// Parses one JSON value filling `bytes` (whitespace around it allowed; a UTF-8 byte order mark
    /// at the start is skipped).
    /// - Parameters:
    ///   - bytes: the UTF-8 input.
    ///   - rejectDuplicateKeys: throw when an object repeats a key (otherwise the last value wins,
    ///     like Python's `json`).
    ///   - maxDepth: deepest nesting of arrays and objects accepted.
    ///   - maxBytes: largest input accepted (nil: any size).
    public static func parse(_ bytes: UnsafeRawBufferPointer, rejectDuplicateKeys: Bool = false,
                             maxDepth: Int = 128, maxBytes: Int? = nil) throws(JSONParseError) -> JSONValue {
        if let maxBytes, bytes.count > maxBytes {
            throw JSONParseError(message: "input of \(bytes.count) bytes is over the limit of \(maxBytes)", offset: 0)
        }
        var parser = JSONParser(bytes: bytes, rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth)
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { parser.index = 3 }
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index != bytes.count {
            throw parser.error("unexpected data after the JSON value")
        }
        return value
    }

    /// Parses `bytes` as JSON (see the other `parse`).
    public static func parse(_ bytes: [UInt8], rejectDuplicateKeys: Bool = false,
                             maxDepth: Int = 128, maxBytes: Int? = nil) throws(JSONParseError) -> JSONValue {
        do {
            return try bytes.withUnsafeBytes { buffer in
                try parse(buffer, rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth, maxBytes: maxBytes)
            }
        } catch let error as JSONParseError {
            throw error
        } catch {
            throw JSONParseError(message: "\(error)", offset: 0)
        }
    }

    private init(bytes: UnsafeRawBufferPointer, rejectDuplicateKeys: Bool, maxDepth: Int) {
        self.bytes = bytes
        self.rejectDuplicateKeys = rejectDuplicateKeys
        self.maxDepth = maxDepth
    }

    private func error(_ message: String) -> JSONParseError {
        JSONParseError(message: message, offset: index)
    }

    private var atEnd: Bool { index >= bytes.count }

    private var current: UInt8 { bytes[index] }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expectLiteral(_ literal: StaticString, _ value: JSONValue) throws(JSONParseError) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error("invalid literal") }
        let start = literal.utf8Start
        for k in 0..<count where bytes[index + k] != start[k] {
            throw error("invalid literal")
        }
        index += count
        return value
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard !atEnd else { throw error("unexpected end of input, expected a value") }
        switch current {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expectLiteral("true", .bool(true))
        case UInt8(ascii: "f"): return try expectLiteral("false", .bool(false))
        case UInt8(ascii: "n"): return try expectLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default:
            throw error("unexpected character \(JSONParser.describe(current)), expected a value")
        }
    }

    private static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "0x" + String(byte, radix: 16, uppercase: true)
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        index += 1 // {
        var object = JSONObject()
        skipWhitespace()
        if !atEnd && current == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input inside an object") }
            guard current == UInt8(ascii: "\"") else {
                throw error("expected a string key, found \(JSONParser.describe(current))")
            }
            let keyOffset = index
            let key = try parseString()
            skipWhitespace()
            guard !atEnd, current == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            if !object.set(key, value) && rejectDuplicateKeys {
                throw JSONParseError(message: "duplicate key \"\(key)\"", offset: keyOffset,
                                     duplicateKey: key, depth: depth)
            }
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input inside an object") }
            if current == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if current == UInt8(ascii: "}") {
                index += 1
                return .object(object)
            }
            throw error("expected ',' or '}' in an object, found \(JSONParser.describe(current))")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
        index += 1 // [
        var array: [JSONValue] = []
        skipWhitespace()
        if !atEnd && current == UInt8(ascii: "]") {
            index += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth))
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of input inside an array") }
            if current == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if current == UInt8(ascii: "]") {
                index += 1
                return .array(array)
            }
            throw error("expected ',' or ']' in an array, found \(JSONParser.describe(current))")
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard !atEnd, isDigit(current) else { throw error("invalid number: expected a digit") }
        if current == UInt8(ascii: "0") {
            index += 1
            if !atEnd && isDigit(current) { throw error("invalid number: leading zero") }
        } else {
            while !atEnd && isDigit(current) { index += 1 }
        }
        if !atEnd && current == UInt8(ascii: ".") {
            index += 1
            guard !atEnd, isDigit(current) else { throw error("invalid number: expected a digit after '.'") }
            while !atEnd && isDigit(current) { index += 1 }
        }
        if !atEnd && (current == UInt8(ascii: "e") || current == UInt8(ascii: "E")) {
            index += 1
            if !atEnd && (current == UInt8(ascii: "+") || current == UInt8(ascii: "-")) { index += 1 }
            guard !atEnd, isDigit(current) else { throw error("invalid number: expected a digit in the exponent") }
            while !atEnd && isDigit(current) { index += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        return .number(text)
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1 // opening quote
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                guard let string = JSONParser.validatedUTF8(slice) else {
                    throw JSONParseError(message: "invalid UTF-8 in a string", offset: start)
                }
                index += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("unescaped control character in a string") }
            index += 1
        }
        guard index < bytes.count else { throw error("unterminated string") }
        // Slow path: copy, resolving escapes.
        var buffer = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let string = buffer.withUnsafeBytes({ JSONParser.validatedUTF8($0) }) else {
                    throw JSONParseError(message: "invalid UTF-8 in a string", offset: start)
                }
                return string
            }
            if byte < 0x20 { throw error("unescaped control character in a string") }
            if byte != UInt8(ascii: "\\") {
                buffer.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): buffer.append(0x22)
            case UInt8(ascii: "\\"): buffer.append(0x5C)
            case UInt8(ascii: "/"): buffer.append(0x2F)
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(try parseHex4())
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // High surrogate: a low one must follow.
                    guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                          bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in a \\u escape")
                    }
                    index += 2
                    let low = UInt32(try parseHex4())
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate in a \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("unpaired surrogate in a \\u escape")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                buffer.append(contentsOf: Array(String(Character(unicode)).utf8))
            default:
                index -= 1
                throw error("invalid escape sequence")
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt16 {
        guard bytes.count - index >= 4 else { throw error("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// The string when `bytes` is valid UTF-8, else nil.
    public static func validatedUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
        // Fast path for ASCII, the common case for tensor names and config keys.
        if bytes.allSatisfy({ $0 < 0x80 }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
