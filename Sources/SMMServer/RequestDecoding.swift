// How a request body becomes a wire type, apart from HTTP: the UTF-8 check, the strict SMMJSON
// reader (nesting over 64 levels, repeated keys, bad numbers or escapes refused), then Codable.
// Imports only Foundation and SMMJSON, so that Tools/fuzz.sh compiles it with WireTypes.swift alone
// (the `server` fuzz target); `InferenceServer.decode` reads the body and maps the errors to 400s.
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
