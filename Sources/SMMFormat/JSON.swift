/// A small strict JSON parser (RFC 8259) for safetensors headers, checkpoint indexes and configs.
///
/// Written here rather than using `JSONSerialization` so that the format layer can:
/// - detect duplicate object keys (two tensors with one name),
/// - keep numbers as their exact text (a shape entry of `1e3`, `-1` or `99999999999999999999` is
///   reported precisely instead of being silently rounded through `Double`),
/// - bound nesting depth, so hostile input cannot overflow the stack,
/// - validate UTF-8 strictly.
///
/// The parser never traps on any input; errors carry the byte offset where parsing stopped.

/// A parsed JSON value.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number, kept as its source text (already checked against the JSON number grammar).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A short name of the value's kind for error messages ("a string", "an array"...).
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    var objectValue: JSONObject? {
        if case let .object(object) = self { return object }
        return nil
    }

    var stringValue: String? {
        if case let .string(string) = self { return string }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case let .array(array) = self { return array }
        return nil
    }

    /// The value when it is a number written as an integer (no fraction, no exponent) that fits `Int`.
    var exactInt: Int? {
        if case let .number(text) = self { return Int(text) }
        return nil
    }

    /// The value as a Double when it is a number.
    var doubleValue: Double? {
        if case let .number(text) = self { return Double(text) }
        return nil
    }

    /// True for a number written as an integer (no `.`, no exponent), whatever its size.
    var isIntegerLiteral: Bool {
        if case let .number(text) = self { return !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) }
        return false
    }

    /// A short rendering of the value for error messages (numbers and strings as written).
    /// The value for an error message, saying its kind once: `null`, `the boolean true`,
    /// `the number 1e3`, `the string "x"`, `an array of 2 element(s)`, `an object with 3 key(s)`.
    var described: String {
        switch self {
        case .null: return "null"
        case .bool, .number, .string: return "\(kindDescription.replacingOccurrences(of: "a ", with: "the ")) \(brief)"
        case .array, .object: return brief
        }
    }

    var brief: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .number(text): return text
        case let .string(s): return s.count > 60 ? "\"\(s.prefix(60))...\"" : "\"\(s)\""
        case let .array(a): return "an array of \(a.count) element(s)"
        case let .object(o): return "an object with \(o.count) key(s)"
        }
    }
}

/// A JSON object: keys in source order and a lookup table.
struct JSONObject: Sendable, Equatable {
    /// Keys in the order they appear (each once; with duplicates allowed, the first position wins).
    private(set) var keys: [String] = []
    private(set) var values: [String: JSONValue] = [:]

    var count: Int { keys.count }

    subscript(key: String) -> JSONValue? { values[key] }

    /// Adds a member. Returns false when `key` was already present (the new value replaces the old).
    @discardableResult
    mutating func set(_ key: String, _ value: JSONValue) -> Bool {
        if values.updateValue(value, forKey: key) != nil { return false }
        keys.append(key)
        return true
    }
}

/// Why parsing stopped, and at which byte.
struct JSONParseError: Error, Sendable, CustomStringConvertible {
    var message: String
    var offset: Int
    /// For a duplicate-key error: the key, and the nesting depth of its object (1 = top level).
    var duplicateKey: String? = nil
    var depth: Int = 0
    var description: String { "\(message) at byte \(offset)" }
}

struct JSONParser {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private let rejectDuplicateKeys: Bool
    private let maxDepth: Int

    /// Parses one JSON value filling `bytes` (whitespace around it allowed; a UTF-8 byte order mark
    /// at the start is skipped).
    /// - Parameters:
    ///   - rejectDuplicateKeys: throw when an object repeats a key (otherwise the last value wins,
    ///     like Python's `json`).
    ///   - maxDepth: deepest nesting of arrays and objects accepted.
    static func parse(_ bytes: UnsafeRawBufferPointer, rejectDuplicateKeys: Bool = false,
                      maxDepth: Int = 128) throws(JSONParseError) -> JSONValue {
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

    /// Parses `bytes` as JSON.
    static func parse(_ bytes: [UInt8], rejectDuplicateKeys: Bool = false,
                      maxDepth: Int = 128) throws(JSONParseError) -> JSONValue {
        do {
            return try bytes.withUnsafeBytes { buffer in
                try parse(buffer, rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth)
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
    static func validatedUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
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
