// How a request body becomes a wire type, apart from HTTP: the UTF-8 check, the strict SMMJSON
// reader (nesting over 64 levels, repeated keys, bad numbers or escapes refused), then Codable.
// Imports only Foundation and SMMJSON, so that Tools/fuzz.sh compiles it with WireTypes.swift alone
// (the `server` fuzz target); `InferenceServer.decode` reads the body, runs `InputCounter` (the early
// 413 for too many inputs), then this, and maps the errors to 400s.
import Foundation
import SMMJSON

/// A body refused before Codable saw it; `message` is the text of the 400 (`ServerError.invalidJSON`).
struct RequestBodyError: Error, Sendable, Equatable {
    /// What is wrong with the body.
    var message: String
}

/// Decodes a request body into `T`.
/// - Throws: `RequestBodyError` when the body is empty, not UTF-8 or not strict JSON; otherwise what
///   `JSONDecoder` throws (a `DecodingError` naming the field).
func decodeRequestBody<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
    if bytes.isEmpty { throw RequestBodyError(message: "the body is empty; send a JSON object") }
    guard String(validating: bytes, as: UTF8.self) != nil else {
        throw RequestBodyError(message: "the body is not valid UTF-8")
    }
    // The strict reader first (nesting over 64 levels, repeated keys, bad numbers or escapes: 400
    // with the byte offset); Codable then maps the checked text onto the wire types.
    do {
        _ = try JSONParser.parse(bytes, rejectDuplicateKeys: true, maxDepth: 64)
    } catch {
        throw RequestBodyError(message: "the body is not valid JSON: \(error)")
    }
    return try JSONDecoder().decode(T.self, from: Data(bytes))
}

/// Counts the elements of the top-level `inputs` (or `input`) list of a JSON body in one pass over
/// its bytes, without parsing it: the early check of `--max-client-batch-size`. A list of numbers
/// (one input given as token ids) is not counted; nor is anything that is not a list. Malformed
/// JSON gives nil or a count, and the parsers after it answer 400 when it gets that far.
enum InputCounter {
    static let keys: [[UInt8]] = [Array("inputs".utf8), Array("input".utf8)]

    static func count(_ bytes: [UInt8]) -> (key: String, count: Int)? {
        bytes.withUnsafeBufferPointer { count($0) }
    }

    static func count(_ b: UnsafeBufferPointer<UInt8>) -> (key: String, count: Int)? {
        var i = 0
        let n = b.count
        func skipSpace() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        /// Past a string starting at b[i] == '"'; returns its raw bytes' range.
        func skipString() -> Range<Int>? {
            let start = i + 1
            i += 1
            while i < n {
                if b[i] == 0x5C { i += 2; continue }
                if b[i] == 0x22 { i += 1; return start..<(i - 1) }
                i += 1
            }
            return nil
        }
        /// Past one value (string, number, literal, or a nested list or object).
        func skipValue() -> Bool {
            skipSpace()
            guard i < n else { return false }
            if b[i] == 0x22 { return skipString() != nil }
            if b[i] == 0x5B || b[i] == 0x7B {
                var depth = 0
                while i < n {
                    switch b[i] {
                    case 0x22: if skipString() == nil { return false }; continue
                    case 0x5B, 0x7B: depth += 1
                    case 0x5D, 0x7D:
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            }
            while i < n, b[i] != 0x2C, b[i] != 0x7D, b[i] != 0x5D { i += 1 }
            return true
        }
        skipSpace()
        guard i < n, b[i] == 0x7B else { return nil }
        i += 1
        while i < n {
            skipSpace()
            guard i < n, b[i] == 0x22, let key = skipString() else { return nil }
            skipSpace()
            guard i < n, b[i] == 0x3A else { return nil }
            i += 1
            skipSpace()
            if let k = keys.first(where: { $0.elementsEqual(b[key]) }), i < n, b[i] == 0x5B {
                i += 1
                skipSpace()
                guard i < n else { return nil }
                if b[i] == 0x5D { return (String(decoding: k, as: UTF8.self), 0) }
                if b[i] != 0x22 && b[i] != 0x5B { return nil }  // token ids of one input, or not a list of inputs
                var count = 0
                while i < n {
                    guard skipValue() else { return nil }
                    count += 1
                    skipSpace()
                    guard i < n else { return nil }
                    if b[i] == 0x5D { return (String(decoding: k, as: UTF8.self), count) }
                    guard b[i] == 0x2C else { return nil }
                    i += 1
                }
                return nil
            }
            guard skipValue() else { return nil }
            skipSpace()
            guard i < n else { return nil }
            if b[i] == 0x7D { return nil }
            guard b[i] == 0x2C else { return nil }
            i += 1
        }
        return nil
    }
}
