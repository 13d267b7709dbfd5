// The libFuzzer target for the server's request decoder: every input is a request body, handled
// exactly as `InferenceServer.decode` handles one (Sources/SMMServer/RequestDecoding.swift): first
// `InputCounter`, the one-pass byte scanner behind the early 413 for too many inputs, then
// `decodeRequestBody` (the UTF-8 check, the strict SMMJSON reader with repeated keys refused and
// depth 64, then JSONDecoder) into each wire type a POST route takes:
//   OpenAIEmbeddingRequest  POST /v1/embeddings
//   TEIEmbedRequest         POST /embed
//   ClassifyRequest         POST /predict, /v1/classify, /v1/sentiment
//   TokenizeRequest         POST /tokenize
//
// Built by Tools/fuzz.sh from Sources/SMMServer/WireTypes.swift + RequestDecoding.swift (which import
// only Foundation and SMMJSON) and this file, without Hummingbird. A body may be refused (a thrown
// `RequestBodyError` or `DecodingError`, a 400 for the client) but decoding must never trap, hang
// or leak. The error is turned into text as the server does for its answer.
import Foundation
import SMMJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func smmServerFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    // The early count may give up (nil) on anything, but a count it gives for a body that decodes
    // must be the number of inputs decoded from that key: a wrong count would refuse a valid
    // request (413) or let an oversized one reach the parsers.
    let counted = InputCounter.count(bytes)
    func checkCount(_ key: String, _ decoded: Int) {
        guard let counted, counted.key == key else { return }
        precondition(counted.count == decoded, "InputCounter counted \(counted.count) '\(key)', the decoder \(decoded)")
    }
    if let r = decode(OpenAIEmbeddingRequest.self, bytes) {
        switch r.input {
        case let .texts(texts, single):
            precondition(!single || texts.count == 1)
            if !single { checkCount("input", texts.count) }
        case let .tokens(lists):
            precondition(r.input.count == lists.count)
        }
    }
    if let r = decode(TEIEmbedRequest.self, bytes) {
        precondition(!r.inputs.single || r.inputs.texts.count == 1)
        if !r.inputs.single { checkCount("inputs", r.inputs.texts.count) }
    }
    if let r = decode(ClassifyRequest.self, bytes) { precondition(!r.inputs.single || r.inputs.texts.count == 1) }
    if let r = decode(TokenizeRequest.self, bytes) {
        precondition(!r.inputs.single || r.inputs.texts.count == 1)
        if !r.inputs.single { checkCount("inputs", r.inputs.texts.count) }
    }
    return 0
}

/// The body decoded as `T`, or nil after formatting the error the way `ServerError` does (the
/// message of a `RequestBodyError`, the coding path and description of a `DecodingError`).
private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
    do {
        return try decodeRequestBody(T.self, from: bytes)
    } catch let error as RequestBodyError {
        precondition(!error.message.isEmpty)
    } catch let error as DecodingError {
        let context: DecodingError.Context?
        switch error {
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .keyNotFound(_, c), let .dataCorrupted(c): context = c
        @unknown default: context = nil
        }
        if let context {
            _ = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            _ = context.debugDescription
        }
    } catch {
        _ = "\(error)"
    }
    return nil
}
