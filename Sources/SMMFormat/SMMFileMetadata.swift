// The metadata section of an `.smm` file: one UTF-8 JSON object carrying everything a model needs
// besides its tensors: architecture and Hugging Face config, the whole tokenizer, labels, default
// pooling, maximum length, storage dtype and provenance. Docs/FORMAT.md lists every key.
//
// Read with the strict in-house `JSONParser` (duplicate keys rejected, bounded depth, strict
// UTF-8), then checked key by key; every problem is a `FormatError.invalidMetadata` naming the key.
// Unknown keys are ignored, so that later minor versions can add some.
import Foundation
import SMMJSON

/// The tokenizer stored in an `.smm` file.
public struct SMMTokenizerMetadata: Sendable, Equatable {
    /// The tokenizer algorithm.
    public enum Kind: String, Sendable, CaseIterable {
        /// BERT's WordPiece (BERT, DistilBERT).
        case wordpiece
        /// Byte-level BPE (GPT-2).
        case bpe
    }

    /// The algorithm.
    public var kind: Kind
    /// Token strings indexed by id (`vocab.txt` lines; for BPE the byte-level tokens of `vocab.json`).
    public var vocabulary: [String]
    /// BPE merge rules in rank order, each `"left right"` (empty for WordPiece).
    public var merges: [String]
    /// Added tokens, matched in the text before the model runs.
    public var addedTokens: [SMMAddedToken]
    /// Special token ids by role: `unk`, `cls`, `sep`, `pad`, `mask`, `bos`, `eos` (those that exist).
    public var specialTokenIDs: [String: Int]
    /// WordPiece: lowercase the text.
    public var doLowerCase: Bool?
    /// WordPiece: strip accents (nil: follow `doLowerCase`).
    public var stripAccents: Bool?
    /// WordPiece: remove control characters and normalise whitespace.
    public var cleanText: Bool?
    /// WordPiece: put spaces around CJK ideographs.
    public var handleChineseChars: Bool?

    /// Makes a tokenizer description.
    public init(kind: Kind, vocabulary: [String], merges: [String] = [], addedTokens: [SMMAddedToken] = [],
                specialTokenIDs: [String: Int] = [:], doLowerCase: Bool? = nil, stripAccents: Bool? = nil,
                cleanText: Bool? = nil, handleChineseChars: Bool? = nil) {
        self.kind = kind
        self.vocabulary = vocabulary
        self.merges = merges
        self.addedTokens = addedTokens
        self.specialTokenIDs = specialTokenIDs
        self.doLowerCase = doLowerCase
        self.stripAccents = stripAccents
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
    }

    /// The merges as pairs (each rule split at its single space).
    public var mergePairs: [(String, String)] {
        merges.map { rule in
            guard let space = rule.firstIndex(of: " ") else { return (rule, "") }
            return (String(rule[..<space]), String(rule[rule.index(after: space)...]))
        }
    }
}

/// A token matched literally in the text (special tokens such as `[CLS]` or `<|endoftext|>`).
public struct SMMAddedToken: Sendable, Equatable {
    /// The token's text, matched literally.
    public var content: String
    /// The token's id.
    public var id: Int
    /// Left out when decoding with `skipSpecialTokens`.
    public var special: Bool
    /// Matched in the normalized text (true) or the raw text (false).
    public var normalized: Bool
    /// A match also swallows the whitespace just before it.
    public var lstrip: Bool
    /// A match also swallows the whitespace just after it.
    public var rstrip: Bool
    /// Only matches when not inside a word.
    public var singleWord: Bool

    /// Makes an added token; by default a special token matched in the raw text, stripping nothing.
    public init(content: String, id: Int, special: Bool = true, normalized: Bool = false, lstrip: Bool = false,
                rstrip: Bool = false, singleWord: Bool = false) {
        self.content = content
        self.id = id
        self.special = special
        self.normalized = normalized
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.singleWord = singleWord
    }
}

/// One source file a model was converted from.
public struct SMMSourceFile: Sendable, Equatable {
    /// File name relative to the source directory (`model.safetensors`, `vocab.txt`...).
    public var name: String
    /// Size in bytes.
    public var bytes: Int
    /// SHA-256, 64 lower-case hex digits.
    public var sha256: String

    /// Makes a source file entry.
    public init(name: String, bytes: Int, sha256: String) {
        self.name = name
        self.bytes = bytes
        self.sha256 = sha256
    }
}

/// Where a converted model came from.
public struct SMMProvenance: Sendable, Equatable {
    /// The source model's name (its directory name, e.g. `all-MiniLM-L6-v2`).
    public var sourceName: String
    /// The source directory as given to the converter.
    public var sourcePath: String
    /// Every source file read, with its SHA-256.
    public var sourceFiles: [SMMSourceFile]
    /// The converter and its version (`smm-convert 1.0`).
    public var converter: String
    /// When the file was written (ISO 8601, UTC).
    public var created: String

    /// Makes a provenance record.
    public init(sourceName: String, sourcePath: String, sourceFiles: [SMMSourceFile], converter: String,
                created: String) {
        self.sourceName = sourceName
        self.sourcePath = sourcePath
        self.sourceFiles = sourceFiles
        self.converter = converter
        self.created = created
    }
}

/// The metadata section of an `.smm` file.
public struct SMMFileMetadata: Sendable, Equatable {
    /// The model type: `bert`, `distilbert` or `gpt2` (equal to `config.modelType`).
    public var architecture: String { config.modelType }
    /// The parsed and validated Hugging Face config.
    public private(set) var config: ModelConfig
    /// The Hugging Face `config.json` object as stored (compact JSON text).
    public private(set) var configJSON: String
    /// The tokenizer.
    public var tokenizer: SMMTokenizerMetadata
    /// Class labels in class-index order (those of the config's `id2label`).
    public var labels: [String]
    /// `mean` or `cls` for sentence embeddings (sentence-transformers' pooling config), else nil.
    public var defaultPooling: String?
    /// Longest input in tokens, special tokens included.
    public var maxLength: Int
    /// The weight storage type chosen at conversion.
    public var dtype: ModelDType
    /// Where the model came from.
    public var provenance: SMMProvenance

    /// The config object, kept as parsed so that it is written back exactly.
    var configValue: JSONValue

    /// Makes metadata from a Hugging Face `config.json` text and the other parts.
    /// - Throws: `FormatError.invalidJSON` / `.invalidConfig` / `.unsupportedModelType` for a bad config.
    public init(configJSON: String, tokenizer: SMMTokenizerMetadata, labels: [String]? = nil,
                defaultPooling: String? = nil, maxLength: Int? = nil, dtype: ModelDType = .f32,
                provenance: SMMProvenance) throws {
        let value: JSONValue
        do {
            // 31: in the file the config sits one level inside the metadata, which reads at depth 32.
            value = try JSONParser.parse(Array(configJSON.utf8), rejectDuplicateKeys: false, maxDepth: 31)
        } catch {
            throw FormatError.invalidJSON(path: "config.json", reason: error.description)
        }
        let config = try ModelConfig.parse(value, path: "config.json")
        self.config = config
        self.configValue = value
        self.configJSON = String(decoding: value.serialized(), as: UTF8.self)
        self.tokenizer = tokenizer
        self.labels = labels ?? config.labels
        self.defaultPooling = defaultPooling
        self.maxLength = maxLength ?? config.maxPositions
        self.dtype = dtype
        self.provenance = provenance
    }

    private init(config: ModelConfig, configValue: JSONValue, tokenizer: SMMTokenizerMetadata, labels: [String],
                 defaultPooling: String?, maxLength: Int, dtype: ModelDType, provenance: SMMProvenance) {
        self.config = config
        self.configValue = configValue
        self.configJSON = String(decoding: configValue.serialized(), as: UTF8.self)
        self.tokenizer = tokenizer
        self.labels = labels
        self.defaultPooling = defaultPooling
        self.maxLength = maxLength
        self.dtype = dtype
        self.provenance = provenance
    }

    /// Equal when every public field is equal (the stored config object is compared as its `configJSON` text).
    public static func == (a: SMMFileMetadata, b: SMMFileMetadata) -> Bool {
        a.config == b.config && a.configJSON == b.configJSON && a.tokenizer == b.tokenizer && a.labels == b.labels
            && a.defaultPooling == b.defaultPooling && a.maxLength == b.maxLength && a.dtype == b.dtype
            && a.provenance == b.provenance
    }

    // MARK: - Writing

    /// The metadata section's bytes (compact UTF-8 JSON).
    public func encodedJSON() -> [UInt8] { jsonValue().serialized() }

    func jsonValue() -> JSONValue {
        var root = JSONObject()
        root.set("architecture", .string(architecture))
        root.set("config", configValue)
        root.set("tokenizer", tokenizerJSON())
        root.set("labels", .array(labels.map(JSONValue.string)))
        root.set("default_pooling", defaultPooling.map(JSONValue.string) ?? .null)
        root.set("max_length", .int(maxLength))
        root.set("dtype", .string(dtype.rawValue))
        var p = JSONObject()
        p.set("source_name", .string(provenance.sourceName))
        p.set("source_path", .string(provenance.sourcePath))
        p.set("source_files", .array(provenance.sourceFiles.map { file in
            var f = JSONObject()
            f.set("name", .string(file.name))
            f.set("bytes", .int(file.bytes))
            f.set("sha256", .string(file.sha256))
            return .object(f)
        }))
        p.set("converter", .string(provenance.converter))
        p.set("format_version", .string(SMMFileFormat.versionString))
        p.set("created", .string(provenance.created))
        root.set("provenance", .object(p))
        return .object(root)
    }

    private func tokenizerJSON() -> JSONValue {
        var t = JSONObject()
        t.set("kind", .string(tokenizer.kind.rawValue))
        t.set("vocabulary", .array(tokenizer.vocabulary.map(JSONValue.string)))
        t.set("merges", .array(tokenizer.merges.map(JSONValue.string)))
        t.set("added_tokens", .array(tokenizer.addedTokens.map { token in
            var a = JSONObject()
            a.set("content", .string(token.content))
            a.set("id", .int(token.id))
            a.set("special", .bool(token.special))
            a.set("normalized", .bool(token.normalized))
            a.set("lstrip", .bool(token.lstrip))
            a.set("rstrip", .bool(token.rstrip))
            a.set("single_word", .bool(token.singleWord))
            return .object(a)
        }))
        var special = JSONObject()
        for key in tokenizer.specialTokenIDs.keys.sorted() { special.set(key, .int(tokenizer.specialTokenIDs[key]!)) }
        t.set("special_tokens", .object(special))
        t.set("do_lower_case", tokenizer.doLowerCase.map(JSONValue.bool) ?? .null)
        t.set("strip_accents", tokenizer.stripAccents.map(JSONValue.bool) ?? .null)
        t.set("clean_text", tokenizer.cleanText.map(JSONValue.bool) ?? .null)
        t.set("handle_chinese_chars", tokenizer.handleChineseChars.map(JSONValue.bool) ?? .null)
        return .object(t)
    }

    // MARK: - Reading

    /// Parses and validates the metadata section `bytes` of the file at `path`.
    /// - Throws: `FormatError.invalidMetadata` naming the key and the problem (`.invalidConfig` /
    ///   `.unsupportedModelType` for a bad config).
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> SMMFileMetadata {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes, rejectDuplicateKeys: true, maxDepth: 32)
        } catch {
            throw FormatError.invalidMetadata(path: path, reason: "not valid JSON: \(error.description)")
        }
        let r = MetadataReader(path: path)
        let top = try r.object(root, "the metadata")
        let architecture = try r.string(top, "architecture")
        guard let configValue = top["config"] else { throw r.fail("missing key 'config'") }
        guard case .object = configValue else { throw r.fail("'config' must be an object, found \(configValue.kindDescription)") }
        let config = try ModelConfig.parse(configValue, path: "\(path) (metadata 'config')")
        guard architecture == config.modelType else {
            throw r.fail("'architecture' is '\(architecture)' but the config's model type is '\(config.modelType)'")
        }

        // Tokenizer
        let t = try r.object(top["tokenizer"] ?? .null, "'tokenizer'")
        let kindName = try r.string(t, "kind", in: "tokenizer")
        guard let kind = SMMTokenizerMetadata.Kind(rawValue: kindName) else {
            throw r.fail("tokenizer 'kind' '\(kindName)' is not one of \(SMMTokenizerMetadata.Kind.allCases.map(\.rawValue))")
        }
        let expectedKind: SMMTokenizerMetadata.Kind = config.modelType == "gpt2" ? .bpe : .wordpiece
        guard kind == expectedKind else {
            throw r.fail("tokenizer kind '\(kind.rawValue)' does not fit a \(config.modelType) model (expected '\(expectedKind.rawValue)')")
        }
        let vocabulary = try r.strings(t, "vocabulary", in: "tokenizer", limit: ConfigLimits.maxVocabSize)
        guard !vocabulary.isEmpty else { throw r.fail("tokenizer 'vocabulary' is empty") }
        let merges = try r.strings(t, "merges", in: "tokenizer", limit: SMMFileFormat.maxMerges, optional: true)
        if kind == .bpe {
            for (i, rule) in merges.enumerated() {
                let parts = rule.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw r.fail("tokenizer merge \(i) (\(JSONValue.string(rule).brief)) must be two tokens separated by one space")
                }
            }
        } else if !merges.isEmpty {
            throw r.fail("a wordpiece tokenizer has no 'merges' (found \(merges.count))")
        }
        let idLimit = ConfigLimits.maxVocabSize
        var addedTokens: [SMMAddedToken] = []
        if let list = t["added_tokens"], list != .null {
            guard case let .array(items) = list else { throw r.fail("tokenizer 'added_tokens' must be an array, found \(list.kindDescription)") }
            guard items.count <= SMMFileFormat.maxAddedTokens else {
                throw r.fail("tokenizer 'added_tokens' has \(items.count) entries (limit \(SMMFileFormat.maxAddedTokens))")
            }
            for (i, item) in items.enumerated() {
                let where_ = "tokenizer added_tokens[\(i)]"
                let a = try r.object(item, where_)
                let content = try r.string(a, "content", in: where_)
                guard !content.isEmpty else { throw r.fail("\(where_) has an empty 'content'") }
                let id = try r.int(a, "id", in: where_, range: 0..<idLimit)
                addedTokens.append(SMMAddedToken(
                    content: content, id: id,
                    special: try r.bool(a, "special", in: where_) ?? true,
                    normalized: try r.bool(a, "normalized", in: where_) ?? false,
                    lstrip: try r.bool(a, "lstrip", in: where_) ?? false,
                    rstrip: try r.bool(a, "rstrip", in: where_) ?? false,
                    singleWord: try r.bool(a, "single_word", in: where_) ?? false))
            }
        }
        let idCount = max(vocabulary.count, (addedTokens.map(\.id).max() ?? -1) + 1)
        var special: [String: Int] = [:]
        if let table = t["special_tokens"], table != .null {
            let s = try r.object(table, "tokenizer 'special_tokens'")
            for key in s.keys {
                special[key] = try r.int(s, key, in: "tokenizer special_tokens", range: 0..<idCount)
            }
        }
        let tokenizer = SMMTokenizerMetadata(
            kind: kind, vocabulary: vocabulary, merges: merges, addedTokens: addedTokens, specialTokenIDs: special,
            doLowerCase: try r.bool(t, "do_lower_case", in: "tokenizer"),
            stripAccents: try r.bool(t, "strip_accents", in: "tokenizer"),
            cleanText: try r.bool(t, "clean_text", in: "tokenizer"),
            handleChineseChars: try r.bool(t, "handle_chinese_chars", in: "tokenizer"))

        // Labels, pooling, length, dtype
        let labels = try r.strings(top, "labels", in: nil, limit: ConfigLimits.maxLabels, optional: true)
        guard top["labels"] == nil || labels == config.labels else {
            throw r.fail("'labels' \(labels.prefix(8)) do not match the config's id2label \(config.labels.prefix(8))")
        }
        var pooling: String? = nil
        if let value = top["default_pooling"], value != .null {
            guard case let .string(name) = value, name == "mean" || name == "cls" else {
                throw r.fail("'default_pooling' must be \"mean\", \"cls\" or null, found \(value.brief)")
            }
            pooling = name
        }
        let maxLength = try r.int(top, "max_length", in: nil, range: 1..<(config.maxPositions + 1))
        let dtypeName = try r.string(top, "dtype")
        guard let dtype = ModelDType(rawValue: dtypeName) else {
            throw r.fail("'dtype' '\(dtypeName)' is not one of \(ModelDType.allCases.map(\.rawValue))")
        }

        // Provenance (all fields optional for readers: it is informational)
        var provenance = SMMProvenance(sourceName: "", sourcePath: "", sourceFiles: [], converter: "", created: "")
        if let value = top["provenance"], value != .null {
            let p = try r.object(value, "'provenance'")
            provenance.sourceName = try r.optionalString(p, "source_name", in: "provenance") ?? ""
            provenance.sourcePath = try r.optionalString(p, "source_path", in: "provenance") ?? ""
            provenance.converter = try r.optionalString(p, "converter", in: "provenance") ?? ""
            provenance.created = try r.optionalString(p, "created", in: "provenance") ?? ""
            if let files = p["source_files"], files != .null {
                guard case let .array(items) = files, items.count <= 10_000 else {
                    throw r.fail("provenance 'source_files' must be an array of at most 10000 entries")
                }
                for (i, item) in items.enumerated() {
                    let where_ = "provenance source_files[\(i)]"
                    let f = try r.object(item, where_)
                    provenance.sourceFiles.append(SMMSourceFile(
                        name: try r.string(f, "name", in: where_),
                        bytes: try r.int(f, "bytes", in: where_, range: 0..<Int.max),
                        sha256: try r.string(f, "sha256", in: where_)))
                }
            }
        }
        return SMMFileMetadata(config: config, configValue: configValue, tokenizer: tokenizer,
                               labels: top["labels"] == nil ? config.labels : labels, defaultPooling: pooling,
                               maxLength: maxLength, dtype: dtype, provenance: provenance)
    }
}

/// Typed access to metadata keys, failing with `FormatError.invalidMetadata`.
private struct MetadataReader {
    let path: String

    func fail(_ reason: String) -> FormatError { .invalidMetadata(path: path, reason: reason) }

    private func name(_ key: String, _ context: String?) -> String {
        context.map { "\($0) '\(key)'" } ?? "'\(key)'"
    }

    func object(_ value: JSONValue, _ what: String) throws -> JSONObject {
        guard case let .object(object) = value else {
            throw fail("\(what) must be a JSON object, found \(value.kindDescription)")
        }
        return object
    }

    func string(_ object: JSONObject, _ key: String, in context: String? = nil) throws -> String {
        guard let value = object[key] else { throw fail("missing key \(name(key, context))") }
        guard case let .string(string) = value else {
            throw fail("\(name(key, context)) must be a string, found \(value.kindDescription)")
        }
        return string
    }

    func optionalString(_ object: JSONObject, _ key: String, in context: String?) throws -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard case let .string(string) = value else {
            throw fail("\(name(key, context)) must be a string, found \(value.kindDescription)")
        }
        return string
    }

    func bool(_ object: JSONObject, _ key: String, in context: String?) throws -> Bool? {
        guard let value = object[key], value != .null else { return nil }
        guard case let .bool(bool) = value else {
            throw fail("\(name(key, context)) must be true, false or null, found \(value.brief)")
        }
        return bool
    }

    func int(_ object: JSONObject, _ key: String, in context: String?, range: Range<Int>) throws -> Int {
        guard let value = object[key] else { throw fail("missing key \(name(key, context))") }
        guard value.isIntegerLiteral, let int = value.exactInt else {
            throw fail("\(name(key, context)) must be an integer, found \(value.brief)")
        }
        guard range.contains(int) else {
            throw fail("\(name(key, context)) is \(int), outside \(range.lowerBound)..<\(range.upperBound)")
        }
        return int
    }

    func strings(_ object: JSONObject, _ key: String, in context: String?, limit: Int,
                 optional: Bool = false) throws -> [String] {
        guard let value = object[key], value != .null else {
            if optional { return [] }
            throw fail("missing key \(name(key, context))")
        }
        guard case let .array(items) = value else {
            throw fail("\(name(key, context)) must be an array of strings, found \(value.kindDescription)")
        }
        guard items.count <= limit else {
            throw fail("\(name(key, context)) has \(items.count) entries (limit \(limit))")
        }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case let .string(string) = item else {
                throw fail("\(name(key, context))[\(i)] must be a string, found \(item.kindDescription)")
            }
            out.append(string)
        }
        return out
    }
}
