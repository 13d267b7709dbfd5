/// The common face of SMM's tokenizers (BERT WordPiece, GPT-2 byte-level BPE).
///
/// Both give the same ids as Hugging Face `tokenizers` for the same vocabulary files.
import Foundation
public protocol Tokenizer: Sendable {
    /// Number of entries in the vocabulary (the largest id plus one).
    var vocabularySize: Int { get }

    /// Encodes one text the way the model expects it, special tokens included
    /// (`[CLS] … [SEP]` for BERT, nothing added for GPT-2).
    func encode(_ text: String) throws -> Encoding

    /// Turns ids back into text. With `skipSpecialTokens`, `[CLS]`, `<|endoftext|>` and such are left out.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) throws -> String

    /// The token string for an id, or nil when the id is outside the vocabulary.
    func token(forID id: Int) -> String?

    /// The id for a token string, or nil when it is not in the vocabulary.
    func id(forToken token: String) -> Int?
}

/// The result of encoding one text (or one pair of texts).
public struct Encoding: Sendable, Equatable {
    /// Token ids, special tokens included.
    public var ids: [Int]
    /// The token strings for `ids` (`##ing`, `Ġthe`, `[CLS]`).
    public var tokens: [String]
    /// Segment ids: 0 for the first text, 1 for the second of a pair. All 0 for single texts and GPT-2.
    public var typeIDs: [Int]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
    /// True when the text was longer than the allowed length and tokens were dropped.
    public var wasTruncated: Bool

    /// Makes an encoding; `typeIDs` and `attentionMask` default to zeros and ones.
    public init(ids: [Int], tokens: [String], typeIDs: [Int]? = nil, attentionMask: [Int]? = nil,
                wasTruncated: Bool = false) {
        self.ids = ids
        self.tokens = tokens
        self.typeIDs = typeIDs ?? Array(repeating: 0, count: ids.count)
        self.attentionMask = attentionMask ?? Array(repeating: 1, count: ids.count)
        self.wasTruncated = wasTruncated
    }
}

/// Everything that can go wrong while loading or running a tokenizer, with a message a user can act on.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A vocabulary or tokenizer file is missing.
    case fileNotFound(String)
    /// A vocabulary or tokenizer file exists but cannot be parsed; the string says where and why.
    case invalidFile(path: String, reason: String)
    /// A special token the tokenizer needs (`[CLS]`, `[SEP]`, `[UNK]`, `<|endoftext|>`) is not in the vocabulary.
    case missingSpecialToken(String)
    /// An id passed to `decode` is not in the vocabulary.
    case unknownID(Int)
    /// The text cannot be encoded (for example, it is empty where that is not allowed).
    case invalidInput(String)

    /// A sentence saying what went wrong, naming the file, token or id concerned.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "tokenizer file not found: \(path); copy it from the model's original files into that folder"
        case .invalidFile(let path, let reason):
            return "invalid tokenizer file \(path): \(reason); replace it with the model's original file"
        case .missingSpecialToken(let token):
            return "the vocabulary has no special token \(token); use the tokenizer files the model was trained with"
        case .unknownID(let id): return "token id \(id) is not in the vocabulary; decode only ids this model's tokenizer produced"
        case .invalidInput(let reason): return "cannot tokenize: \(reason)"
        }
    }
}

extension TokenizerError: LocalizedError {
    /// Same as `description`, so that `localizedDescription` reads well on every platform.
    public var errorDescription: String? { description }
}
