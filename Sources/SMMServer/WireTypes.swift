// The wire types: what each route accepts (decoded with Codable; `ServerError.from` turns a
// DecodingError into a 400 naming the field) and the one JSON writer the answers are built with.
import Foundation
import SMMJSON

// MARK: - Inputs

/// A string or a list of strings (`inputs` of the TEI routes, `inputs` of ours).
public struct TextInputs: Decodable, Sendable, Equatable {
    /// The texts, in order.
    public var texts: [String]
    /// True when the field was one string (TEI answers one item then, not a list of one, on some routes).
    public var single: Bool

    /// Texts as given.
    public init(texts: [String], single: Bool) {
        self.texts = texts
        self.single = single
    }

    /// Decodes a string or an array of strings.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            texts = [s]
            single = true
            return
        }
        guard var list = try? decoder.unkeyedContainer() else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath,
                debugDescription: "expected a string or a list of strings"))
        }
        var out: [String] = []
        while !list.isAtEnd { out.append(try list.decode(String.self)) }
        texts = out
        single = false
    }
}

/// OpenAI's `input`: a string, a list of strings, a list of token ids, or a list of lists of ids.
public enum EmbeddingInput: Decodable, Sendable, Equatable {
    /// Texts; `single` when `input` was one string.
    case texts([String], single: Bool)
    /// Token id sequences, used as they are (no special tokens added).
    case tokens([[Int]])

    /// Decodes any of the four shapes; a mixed list is a type mismatch at the first odd element.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .texts([s], single: true)
            return
        }
        guard var list = try? decoder.unkeyedContainer() else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath,
                debugDescription: "expected a string, a list of strings, a list of token ids or a list of lists of token ids"))
        }
        var strings: [String] = []
        var ids: [Int] = []
        var lists: [[Int]] = []
        var kind = 0  // 1 strings, 2 ids, 3 lists of ids
        while !list.isAtEnd {
            if kind == 0 {
                if (try? list.decodeNil()) == true {
                    throw DecodingError.valueNotFound(String.self, .init(codingPath: decoder.codingPath + [IndexKey(0)],
                                                                         debugDescription: "null"))
                }
                // Peek by trying each shape on a copy of the container.
                var probe = list
                if (try? probe.decode(String.self)) != nil { kind = 1 } else {
                    probe = list
                    if (try? probe.decode(Int.self)) != nil { kind = 2 } else { kind = 3 }
                }
            }
            switch kind {
            case 1: strings.append(try list.decode(String.self))
            case 2: ids.append(try list.decode(Int.self))
            default: lists.append(try list.decode([Int].self))
            }
        }
        switch kind {
        case 2: self = .tokens([ids])
        case 3: self = .tokens(lists)
        default: self = .texts(strings, single: false)
        }
    }

    /// How many inputs.
    public var count: Int {
        switch self {
        case .texts(let t, _): return t.count
        case .tokens(let t): return t.count
        }
    }
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ i: Int) { intValue = i }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

/// `POST /v1/embeddings` (OpenAI).
public struct OpenAIEmbeddingRequest: Decodable, Sendable {
    /// The inputs.
    public var input: EmbeddingInput
    /// A served model's name; nil or absent: the default embedding model.
    public var model: String?
    /// `float` (default) or `base64` (little-endian f32).
    public var encodingFormat: String?
    /// Must equal the model's size when given.
    public var dimensions: Int?
    /// Ignored (OpenAI's end-user id).
    public var user: String?

    enum CodingKeys: String, CodingKey {
        case input, model, dimensions, user
        case encodingFormat = "encoding_format"
    }

    /// Decodes the fields; a `dimensions` that is not an integer in range is a type mismatch at `dimensions`
    /// (Foundation reports some such numbers without a coding path).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        input = try c.decode(EmbeddingInput.self, forKey: .input)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        encodingFormat = try c.decodeIfPresent(String.self, forKey: .encodingFormat)
        user = try? c.decodeIfPresent(String.self, forKey: .user)
        do {
            dimensions = try c.decodeIfPresent(Int.self, forKey: .dimensions)
        } catch {
            throw DecodingError.typeMismatch(Int.self, .init(codingPath: [CodingKeys.dimensions],
                                                             debugDescription: "dimensions must be an integer"))
        }
    }
}

/// `POST /embed` (TEI).
public struct TEIEmbedRequest: Decodable, Sendable {
    /// The texts.
    public var inputs: TextInputs
    /// L2-normalise (default true).
    public var normalize: Bool?
    /// Cut texts over the model's limit instead of answering 422 (default false).
    public var truncate: Bool?
    /// Only `right` is supported (default).
    public var truncationDirection: String?
    /// A served model's name (an extension: TEI serves one model).
    public var model: String?

    enum CodingKeys: String, CodingKey {
        case inputs, normalize, truncate, model
        case truncationDirection = "truncation_direction"
    }
}

/// `POST /predict` (TEI), `POST /v1/classify` and `POST /v1/sentiment` (ours).
public struct ClassifyRequest: Decodable, Sendable {
    /// The texts (`inputs`; `input` is accepted too).
    public var inputs: TextInputs
    /// Logits instead of probabilities (`/predict`, `/v1/classify`).
    public var rawScores: Bool?
    /// Cut texts over the model's limit instead of answering 422 (default false).
    public var truncate: Bool?
    /// A served model's name.
    public var model: String?

    enum CodingKeys: String, CodingKey {
        case inputs, input, truncate, model
        case rawScores = "raw_scores"
    }

    /// Decodes `inputs` (or `input`) and the options.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.inputs) {
            inputs = try c.decode(TextInputs.self, forKey: .inputs)
        } else if c.contains(.input) {
            inputs = try c.decode(TextInputs.self, forKey: .input)
        } else {
            throw DecodingError.keyNotFound(CodingKeys.inputs, .init(codingPath: [], debugDescription: "inputs is required"))
        }
        rawScores = try c.decodeIfPresent(Bool.self, forKey: .rawScores)
        truncate = try c.decodeIfPresent(Bool.self, forKey: .truncate)
        model = try c.decodeIfPresent(String.self, forKey: .model)
    }
}

/// `POST /tokenize` (TEI).
public struct TokenizeRequest: Decodable, Sendable {
    /// The texts.
    public var inputs: TextInputs
    /// Add `[CLS]`/`[SEP]` (default true).
    public var addSpecialTokens: Bool?
    /// A served model's name.
    public var model: String?

    enum CodingKeys: String, CodingKey {
        case inputs, model
        case addSpecialTokens = "add_special_tokens"
    }
}

// MARK: - Output


/// OpenAI's base64 embedding: the little-endian f32 bytes of the vector, base64-encoded.
public enum Base64Floats {
    /// Encodes `values`.
    public static func encode(_ values: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for v in values {
            let bits = v.bitPattern.littleEndian
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 16))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 24))
        }
        return Data(bytes).base64EncodedString()
    }

    /// Decodes what ``encode(_:)`` made; nil when it is not base64 of a multiple of 4 bytes.
    public static func decode(_ text: String) -> [Float]? {
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
        let bytes = [UInt8](data)
        return stride(from: 0, to: bytes.count, by: 4).map { i in
            let bits = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            return Float(bitPattern: UInt32(littleEndian: bits))
        }
    }
}
