import SMMJSON

/// The parts of a Hugging Face `tokenizer.json` that GPT-2's tokenizer uses, read from the parsed
/// JSON with errors that name the key path (`model.vocab`, `added_tokens.3.id`).
struct GPT2TokenizerFile {
    /// Content that is valid JSON but not a usable BPE tokenizer.
    struct Invalid: Error {
        var reason: String
    }

    struct AddedToken {
        var id: Int
        var content: String
        var singleWord: Bool?
        var lstrip: Bool?
        var rstrip: Bool?
        var special: Bool?
    }

    struct PreTokenizer {
        var type: String?
        var addPrefixSpace: Bool?
        var useRegex: Bool?
        var pretokenizers: [PreTokenizer]?
    }

    struct Model {
        var vocab: [String: Int]
        var merges: [(left: String, right: String)]
        var unknownToken: String?
        var fuseUnknown: Bool?
        var ignoreMerges: Bool?
        var continuingSubwordPrefix: String?
        var endOfWordSuffix: String?
    }

    /// The normalizer's `type` (any normalizer is refused by the caller).
    struct Component {
        var type: String?
    }

    var addedTokens: [AddedToken]?
    var normalizer: Component?
    var preTokenizer: PreTokenizer?
    var model: Model

    init(_ root: JSONValue) throws(Invalid) {
        let top = try Self.object(root, at: "the top level")
        guard let modelValue = top["model"] else { throw Invalid(reason: "missing key \"model\"") }
        let m = try Self.object(modelValue, at: "model")
        if let type = try Self.string(m["type"], at: "model.type"), type != "BPE" {
            throw Invalid(reason: "model type is \(type), not BPE")
        }
        guard let vocab = m["vocab"] else { throw Invalid(reason: "missing key \"vocab\" at model") }
        var merges: [(left: String, right: String)] = []
        if let list = m["merges"], list != .null {
            guard case let .array(items) = list else {
                throw Invalid(reason: "model.merges must be an array, found \(list.kindDescription)")
            }
            merges.reserveCapacity(items.count)
            for (i, item) in items.enumerated() { merges.append(try Self.merge(item, at: "model.merges.\(i)")) }
        }
        model = Model(vocab: try Self.vocabulary(vocab, at: "model.vocab"), merges: merges,
                      unknownToken: try Self.string(m["unk_token"], at: "model.unk_token"),
                      fuseUnknown: try Self.bool(m["fuse_unk"], at: "model.fuse_unk"),
                      ignoreMerges: try Self.bool(m["ignore_merges"], at: "model.ignore_merges"),
                      continuingSubwordPrefix: try Self.string(m["continuing_subword_prefix"], at: "model.continuing_subword_prefix"),
                      endOfWordSuffix: try Self.string(m["end_of_word_suffix"], at: "model.end_of_word_suffix"))
        if let n = top["normalizer"], n != .null {
            normalizer = Component(type: try Self.string(try Self.object(n, at: "normalizer")["type"], at: "normalizer.type"))
        }
        if let p = top["pre_tokenizer"], p != .null {
            preTokenizer = try Self.preTokenizer(p, at: "pre_tokenizer")
        }
        if let list = top["added_tokens"], list != .null {
            guard case let .array(items) = list else {
                throw Invalid(reason: "added_tokens must be an array, found \(list.kindDescription)")
            }
            addedTokens = try items.enumerated().map { (i, item) throws(Invalid) in
                let at = "added_tokens.\(i)"
                let o = try Self.object(item, at: at)
                guard let id = o["id"]?.exactInt else { throw Invalid(reason: "\(at).id must be an integer") }
                guard let content = o["content"]?.stringValue else { throw Invalid(reason: "\(at).content must be a string") }
                return AddedToken(id: id, content: content,
                                  singleWord: try Self.bool(o["single_word"], at: "\(at).single_word"),
                                  lstrip: try Self.bool(o["lstrip"], at: "\(at).lstrip"),
                                  rstrip: try Self.bool(o["rstrip"], at: "\(at).rstrip"),
                                  special: try Self.bool(o["special"], at: "\(at).special"))
            }
        }
    }

    /// A `token → id` object (`vocab.json`, or `model.vocab` of a `tokenizer.json`).
    static func vocabulary(_ value: JSONValue, at path: String) throws(Invalid) -> [String: Int] {
        let o = try object(value, at: path)
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(o.count)
        for (token, id) in o.members {
            guard let n = id.exactInt else {
                throw Invalid(reason: "the id of \(debugQuote(token)) at \(path) is \(id.described), not an integer")
            }
            vocabulary[token] = n
        }
        return vocabulary
    }

    private static func merge(_ value: JSONValue, at path: String) throws(Invalid) -> (left: String, right: String) {
        switch value {
        case let .string(text):
            guard let space = text.utf8.firstIndex(of: 0x20) else {
                throw Invalid(reason: "merge \(debugQuote(text)) is not two tokens separated by a space")
            }
            return (String(decoding: text.utf8[..<space], as: UTF8.self),
                    String(decoding: text.utf8[text.utf8.index(after: space)...], as: UTF8.self))
        case let .array(pair):
            guard pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue else {
                throw Invalid(reason: "merge \(value.described) at \(path) is not a pair of tokens")
            }
            return (a, b)
        default:
            throw Invalid(reason: "merge at \(path) must be a string or a pair, found \(value.kindDescription)")
        }
    }

    private static func preTokenizer(_ value: JSONValue, at path: String) throws(Invalid) -> PreTokenizer {
        let o = try object(value, at: path)
        var list: [PreTokenizer]? = nil
        if let items = o["pretokenizers"], items != .null {
            guard case let .array(elements) = items else {
                throw Invalid(reason: "\(path).pretokenizers must be an array, found \(items.kindDescription)")
            }
            list = try elements.enumerated().map { (i, e) throws(Invalid) in try preTokenizer(e, at: "\(path).pretokenizers.\(i)") }
        }
        return PreTokenizer(type: try string(o["type"], at: "\(path).type"),
                            addPrefixSpace: try bool(o["add_prefix_space"], at: "\(path).add_prefix_space"),
                            useRegex: try bool(o["use_regex"], at: "\(path).use_regex"), pretokenizers: list)
    }

    private static func object(_ value: JSONValue, at path: String) throws(Invalid) -> JSONObject {
        guard case let .object(o) = value else { throw Invalid(reason: "\(path) must be an object, found \(value.kindDescription)") }
        return o
    }

    /// nil for an absent key or `null`; the string; else an error naming the path.
    private static func string(_ value: JSONValue?, at path: String) throws(Invalid) -> String? {
        guard let value, value != .null else { return nil }
        guard let s = value.stringValue else { throw Invalid(reason: "\(path) must be a string, found \(value.kindDescription)") }
        return s
    }

    private static func bool(_ value: JSONValue?, at path: String) throws(Invalid) -> Bool? {
        guard let value, value != .null else { return nil }
        guard let b = value.boolValue else { throw Invalid(reason: "\(path) must be a boolean, found \(value.kindDescription)") }
        return b
    }
}
