// The one mapping from errors to HTTP answers: every failure a route, the batcher, the manager or
// the engine can raise becomes a status code and a body, OpenAI-shaped on /v1/... routes
// ({"error":{"message","type","param","code"}}) and TEI-shaped elsewhere ({"error","error_type"}).
import Foundation
import SMMJSON
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import SMMModels
import SMMTokenizers
import SmartModelManager

/// An HTTP answer to a failed request.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The status code.
    public var status: HTTPResponse.Status
    /// What went wrong, for the caller (never the API key, never the texts).
    public var message: String
    /// OpenAI's `type` (`invalid_request_error`, `authentication_error`, `not_found_error`,
    /// `rate_limit_error`, `server_error`).
    public var type: String
    /// The request field at fault, when there is one (`input`, `model`, `inputs[2]`).
    public var param: String?
    /// A short machine-readable code (`invalid_json`, `model_not_found`, `queue_full`, ...).
    public var code: String
    /// TEI's `error_type` (`Validation`, `Tokenizer`, `Overloaded`, `Unhealthy`, `Backend`, `Empty`).
    public var teiType: String
    /// Seconds for a `Retry-After` header (429, 503).
    public var retryAfter: Int?
    /// The answer says `Connection: close` and the connection closes after it (413 for the body, 408,
    /// malformed HTTP): the rest of what the client is sending is not read.
    public var closesConnection: Bool

    /// An error with every field given.
    public init(_ status: HTTPResponse.Status, _ message: String, type: String, param: String? = nil, code: String,
                teiType: String, retryAfter: Int? = nil, closesConnection: Bool = false) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.teiType = teiType
        self.retryAfter = retryAfter
        self.closesConnection = closesConnection
    }

    /// `status: message`.
    public var description: String { "\(status.code): \(message)" }

    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }

    // MARK: - The errors the server raises

    /// 400: a request field is missing, has the wrong type or value.
    public static func invalidField(_ param: String, _ message: String, code: String = "invalid_value") -> ServerError {
        ServerError(.badRequest, message, type: "invalid_request_error", param: param, code: code, teiType: "Validation")
    }
    /// 400: the body is not JSON (or not UTF-8).
    public static func invalidJSON(_ message: String) -> ServerError {
        ServerError(.badRequest, message, type: "invalid_request_error", param: "body", code: "invalid_json", teiType: "Validation")
    }
    /// 400: an empty list or text.
    public static func empty(_ param: String, _ message: String) -> ServerError {
        ServerError(.badRequest, message, type: "invalid_request_error", param: param, code: "empty_input", teiType: "Empty")
    }
    /// 401: no key or the wrong key.
    public static let unauthorized = ServerError(.unauthorized, "missing or invalid API key: send Authorization: Bearer <key>",
                                                 type: "authentication_error", code: "invalid_api_key", teiType: "Unauthorized")
    /// 404: no model by that name.
    public static func modelNotFound(_ name: String, served: [String]) -> ServerError {
        ServerError(.notFound, "model '\(name)' is not served here; served: \(served.joined(separator: ", "))",
                    type: "invalid_request_error", param: "model", code: "model_not_found", teiType: "Validation")
    }
    /// 404: no such route.
    public static func routeNotFound(_ path: String) -> ServerError {
        ServerError(.notFound, "no route \(path)", type: "not_found_error", code: "route_not_found", teiType: "Validation")
    }
    /// 413: the body is over `--max-body-bytes` (the connection closes: the rest is not read).
    public static func bodyTooLarge(limit: Int) -> ServerError {
        ServerError(.contentTooLarge, "the request body is larger than \(limit) bytes (--max-body-bytes)",
                    type: "invalid_request_error", param: "body", code: "body_too_large", teiType: "Validation",
                    closesConnection: true)
    }
    /// 413: more inputs in one request than `--max-client-batch-size` (TEI's answer to the same), or
    /// than the model's queue could ever hold (`--max-queue`). Checked before any input is tokenized.
    public static func tooManyInputs(_ param: String, count: Int, limit: Int, option: String = "--max-client-batch-size")
        -> ServerError {
        ServerError(.contentTooLarge, "\(count) inputs in one request, at most \(limit) allowed (\(option)); split them into smaller requests",
                    type: "invalid_request_error", param: param, code: "too_many_inputs", teiType: "Validation")
    }
    /// 408: the request's body did not arrive within `--read-timeout-s` (the connection closes).
    public static func requestTimeout(_ message: String) -> ServerError {
        ServerError(.requestTimeout, message, type: "invalid_request_error", param: "body", code: "request_timeout",
                    teiType: "Validation", closesConnection: true)
    }
    /// 400: the bytes are not HTTP/1.1 (a malformed head, chunk size or length); the connection closes.
    public static func malformedHTTP(_ message: String) -> ServerError {
        ServerError(.badRequest, "malformed HTTP request: \(message)", type: "invalid_request_error", code: "malformed_http",
                    teiType: "Validation", closesConnection: true)
    }
    /// Too many tokens: 422 on TEI routes (as TEI answers), 400 naming the limit on OpenAI routes
    /// (``response(openAI:)`` picks).
    public static func tooLong(_ param: String, tokens: Int, limit: Int) -> ServerError {
        ServerError(.unprocessableContent,
                    "\(param) has \(tokens) tokens but the model takes at most \(limit) (special tokens included); "
                    + "send shorter text or truncate: true",
                    type: "invalid_request_error", param: param, code: "context_length_exceeded", teiType: "Validation")
    }
    /// 429: the model's queue is full.
    public static func overloaded(queue: Int, limit: Int) -> ServerError {
        ServerError(.tooManyRequests, "model queue is full (\(queue) of \(limit) texts waiting, --max-queue); retry shortly",
                    type: "rate_limit_error", code: "queue_full", teiType: "Overloaded", retryAfter: 1)
    }
    /// 503: not ready (models loading) or draining.
    public static func unavailable(_ message: String) -> ServerError {
        ServerError(.serviceUnavailable, message, type: "server_error", code: "unavailable", teiType: "Unhealthy", retryAfter: 1)
    }
    /// 500: an unexpected failure (the message names what failed, for the log and the caller).
    public static func internalError(_ message: String) -> ServerError {
        ServerError(.internalServerError, message, type: "server_error", code: "internal_error", teiType: "Backend")
    }

    // MARK: - Mapping

    /// The answer for any error: server errors as they are; decoding errors as 400 naming the field;
    /// Hummingbird's (413 body limit, 404 route, 405) by status; manager and engine errors by kind.
    public static func from(_ error: any Error, path: String = "") -> ServerError {
        switch error {
        case let e as ServerError:
            return e
        case let e as RequestReadTimeout:
            return requestTimeout(e.description)
        case let e as HTTPParserError:
            return malformedHTTP("\(e)")
        case is NIOTooManyBytesError:
            return bodyTooLarge(limit: 0).with(message: "the request body is too large (--max-body-bytes)")
        case let e as DecodingError:
            return fromDecoding(e)
        case let e as HTTPError:
            switch e.status {
            case .contentTooLarge: return bodyTooLarge(limit: 0).with(message: e.body ?? "the request body is too large")
            case .requestTimeout: return requestTimeout(e.body ?? "the request was not received in time")
            case .notFound: return routeNotFound(path)
            case .methodNotAllowed:
                return ServerError(.methodNotAllowed, "method not allowed on \(path)", type: "invalid_request_error",
                                   code: "method_not_allowed", teiType: "Validation")
            default:
                return ServerError(e.status, e.body ?? e.status.reasonPhrase, type: e.status.code < 500 ? "invalid_request_error" : "server_error",
                                   code: "http_\(e.status.code)", teiType: e.status.code < 500 ? "Validation" : "Backend")
            }
        case let e as ManagerError:
            switch e {
            case .unknownModel(let id, let known): return modelNotFound(id, served: known)
            case .invalidInput(let m): return invalidField("input", m)
            case .unsupportedTask: return ServerError(.badRequest, "\(e)", type: "invalid_request_error", param: "model",
                                                      code: "unsupported_task", teiType: "Validation")
            default: return internalError("\(e)")
            }
        case let e as TokenizerError:
            return ServerError(.unprocessableContent, "\(e)", type: "invalid_request_error", param: "input",
                               code: "tokenizer_error", teiType: "Tokenizer")
        case let e as ModelError:
            return internalError("\(e)")
        default:
            return internalError("\(error)")
        }
    }

    /// 400 naming the field a `DecodingError` is about (`input`, `inputs[3]`, `encoding_format`).
    static func fromDecoding(_ error: DecodingError) -> ServerError {
        func name(_ path: [any CodingKey]) -> String {
            var out = ""
            for key in path {
                if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return out.isEmpty ? "body" : out
        }
        switch error {
        case .typeMismatch(let type, let context):
            let field = name(context.codingPath)
            return invalidField(field, "\(field): expected \(describe(type)); \(context.debugDescription)", code: "invalid_type")
        case .valueNotFound(let type, let context):
            let field = name(context.codingPath)
            return invalidField(field, "\(field): expected \(describe(type)), found null", code: "invalid_type")
        case .keyNotFound(let key, let context):
            let field = name(context.codingPath + [key])
            return invalidField(field, "\(field) is required", code: "missing_field")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return invalidJSON("the body is not valid JSON: \(context.debugDescription)")
            }
            let field = name(context.codingPath)
            return invalidField(field, "\(field): \(context.debugDescription)")
        @unknown default:
            return invalidJSON("the body could not be decoded")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int32.Type, is Int64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default: return "\(type)"
        }
    }

    func with(message: String) -> ServerError {
        var copy = self
        copy.message = message
        return copy
    }

    // MARK: - Bodies

    /// The response: OpenAI-shaped for `/v1/...` routes, TEI-shaped otherwise. A too-long input is 422
    /// on TEI routes and 400 (naming the limit) on OpenAI routes.
    public func response(openAI: Bool) -> Response {
        var status = self.status
        if openAI && status == .unprocessableContent { status = .badRequest }
        let body: JSONValue
        if openAI {
            body = .record([("error", .record([("message", .string(message)), ("type", .string(type)),
                                               ("param", param.map(JSONValue.string) ?? .null), ("code", .string(code))]))])
        } else {
            body = .record([("error", .string(message)), ("error_type", .string(teiType))])
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if closesConnection { headers[.connection] = "close" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }
}
