import Foundation
import SMMJSON

// Loading BERT tokenizers from files: `vocab.txt`, a Hugging Face `tokenizer.json`, or a model
// directory holding either (plus `tokenizer_config.json`).

/// Reads `vocab.txt` files.
enum BertVocabularyFile {
    /// The tokens of a `vocab.txt`, one per line, the line number being the id. A final newline
    /// does not add an empty token, and `\r\n` line ends are accepted.
    static func read(_ url: URL) throws -> [String] {
        let data = try readFile(url)
        var tokens: [String] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineStart = 0
            var i = 0
            while i <= bytes.count {
                if i == bytes.count || bytes[i] == 0x0A {
                    if i == bytes.count && lineStart == bytes.count { break }  // final newline
                    var lineEnd = i
                    if lineEnd > lineStart && bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                    tokens.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd]), as: UTF8.self))
                    lineStart = i + 1
                }
                i += 1
            }
        }
        if tokens.allSatisfy(\.isEmpty) {
            throw TokenizerError.invalidFile(path: url.path, reason: "the vocabulary is empty")
        }
        return tokens
    }

    /// The bytes of a file, with `TokenizerError`s that name it (every tokenizer file is read here).
    static func readFile(_ url: URL) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.fileNotFound(url.path)
        }
        if isDirectory.boolValue {
            throw TokenizerError.invalidFile(path: url.path, reason: "is a directory, not a file")
        }
        // An empty file is empty bytes: Foundation's Data(contentsOf:) leaks a 4 KiB buffer on a
        // 0-byte file (LeakSanitizer, Tools/fuzz.sh), so it is not asked.
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue
        if size == 0 { return Data() }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.invalidFile(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }
}

extension BertTokenizer {
    /// Loads a Hugging Face `tokenizer.json` whose model is WordPiece.
    ///
    /// Reads the vocabulary, `unk_token`, `continuing_subword_prefix`, `max_input_chars_per_word`,
    /// the `BertNormalizer` flags (`lowercase`, `strip_accents`, `handle_chinese_chars`,
    /// `clean_text`; also inside a `Sequence` normalizer), the added tokens with their
    /// `normalized`/`lstrip`/`rstrip`/`single_word` flags, the `[CLS]`/`[SEP]` of a `BertProcessing`
    /// or `TemplateProcessing` post-processor, and the decoder's `cleanup`. The pre-tokenizer is
    /// always BERT's (whitespace and punctuation split).
    ///
    /// - Throws: `TokenizerError.fileNotFound`, `.invalidFile` (bad JSON, not a WordPiece model,
    ///   unsupported normalizer, empty vocabulary), or `.missingSpecialToken`.
    public init(tokenizerJSON url: URL, maxLength: Int = 512) throws {
        try self.init(tokenizerJSON: url, maxLength: maxLength, lowercaseOverride: nil)
    }

    init(tokenizerJSON url: URL, maxLength: Int, lowercaseOverride: Bool?) throws {
        let data = try BertVocabularyFile.readFile(url)
        let path = url.path
        func invalid(_ reason: String) -> TokenizerError { .invalidFile(path: path, reason: reason) }

        let root: JSONValue
        do {
            root = try JSONParser.parse([UInt8](data))
        } catch {
            throw invalid("not valid JSON: \(error)")
        }
        guard case .object = root else { throw invalid("the top level is not a JSON object") }
        guard let model = root["model"], case .object = model else { throw invalid("no \"model\" object") }
        if let type = model["type"]?.stringValue, type != "WordPiece" {
            throw invalid("the model type is \(type), not WordPiece")
        }
        guard let vocab = model["vocab"], case .object(let entries) = vocab else {
            throw invalid("the model has no \"vocab\" object")
        }
        if entries.isEmpty { throw invalid("the vocabulary is empty") }
        var tokenIDs: [(String, Int)] = []
        tokenIDs.reserveCapacity(entries.count)
        for (token, value) in entries.members {
            guard let id = value.exactInt, TokenizerLimits.accepts(id) else {
                throw invalid("the id of vocabulary entry \"\(token)\" is not an integer in 0 ..< \(TokenizerLimits.maxTokenID)")
            }
            tokenIDs.append((token, id))
        }
        let unk = model["unk_token"]?.stringValue ?? "[UNK]"
        let prefix = model["continuing_subword_prefix"]?.stringValue ?? "##"
        let maxChars = model["max_input_chars_per_word"]?.exactInt ?? 100
        let wordPiece = try WordPiece(tokenIDs: tokenIDs, unknownToken: unk, continuingSubwordPrefix: prefix,
                                      maxInputCharactersPerWord: maxChars)

        // Normalizer.
        var options = BertNormalizerOptions(lowercase: false, stripAccents: false, cleanText: false,
                                            handleChineseCharacters: false)
        if let normalizer = root["normalizer"], normalizer != .null {
            var bert: JSONValue? = nil
            if normalizer["type"]?.stringValue == "BertNormalizer" {
                bert = normalizer
            } else if normalizer["type"]?.stringValue == "Sequence", case .array(let steps)? = normalizer["normalizers"] {
                for step in steps {
                    switch step["type"]?.stringValue {
                    case "BertNormalizer": bert = step
                    case "Lowercase": options.lowercase = true
                    case "StripAccents": options.stripAccents = true
                    case "NFD": break  // done as part of accent stripping
                    default: throw invalid("unsupported normalizer \(step["type"]?.stringValue ?? "?") in a Sequence")
                    }
                }
            } else {
                throw invalid("unsupported normalizer \(normalizer["type"]?.stringValue ?? "?")")
            }
            if let bert {
                options.cleanText = bert["clean_text"]?.boolValue ?? true
                options.handleChineseCharacters = bert["handle_chinese_chars"]?.boolValue ?? true
                options.lowercase = bert["lowercase"]?.boolValue ?? true
                options.stripAccents = bert["strip_accents"]?.boolValue  // null follows lowercase
            }
        }
        if let lowercaseOverride { options.lowercase = lowercaseOverride }

        // Added tokens.
        var added: [BertAddedToken] = []
        if case .array(let items)? = root["added_tokens"] {
            for item in items {
                guard let content = item["content"]?.stringValue, let id = item["id"]?.exactInt else {
                    throw invalid("an added token has no content or id")
                }
                guard TokenizerLimits.accepts(id) else {
                    throw invalid("added token \"\(content)\" has id \(id), outside 0 ..< \(TokenizerLimits.maxTokenID)")
                }
                added.append(BertAddedToken(content: content, id: id, special: item["special"]?.boolValue ?? false,
                                            normalized: item["normalized"]?.boolValue ?? !(item["special"]?.boolValue ?? false),
                                            lstrip: item["lstrip"]?.boolValue ?? false, rstrip: item["rstrip"]?.boolValue ?? false,
                                            singleWord: item["single_word"]?.boolValue ?? false))
            }
        }

        // Post-processor: the names of [CLS] and [SEP].
        var cls = "[CLS]"
        var sep = "[SEP]"
        if let post = root["post_processor"] {
            if post["type"]?.stringValue == "BertProcessing" {
                if case .array(let c)? = post["cls"], let name = c.first?.stringValue { cls = name }
                if case .array(let s)? = post["sep"], let name = s.first?.stringValue { sep = name }
            } else if post["type"]?.stringValue == "TemplateProcessing", case .array(let single)? = post["single"] {
                var specials: [String] = []
                for piece in single {
                    if let name = piece["SpecialToken"]?["id"]?.stringValue { specials.append(name) }
                }
                if specials.count == 2 {
                    cls = specials[0]
                    sep = specials[1]
                }
            }
        }
        var pad = "[PAD]"
        if let padding = root["padding"], let name = padding["pad_token"]?.stringValue { pad = name }
        let cleanup = root["decoder"]?["cleanup"]?.boolValue ?? true

        try self.init(model: wordPiece, normalizer: options, addedTokens: added, clsToken: cls, sepToken: sep,
                      padToken: pad, maxLength: maxLength, decoderCleanup: cleanup)
    }

    /// Loads the tokenizer of a model directory: its `tokenizer.json` when there is one, else its
    /// `vocab.txt`.
    ///
    /// - Parameters:
    ///   - directory: the model directory.
    ///   - doLowerCase: nil reads `do_lower_case` from `tokenizer_config.json` (true when absent)
    ///     for a `vocab.txt`, and keeps the normalizer of a `tokenizer.json`; a value overrides both.
    ///     With a `vocab.txt`, `strip_accents` and `tokenize_chinese_chars` are read from the config too.
    ///   - maxLength: longest encoding, special tokens included.
    /// - Throws: `TokenizerError.fileNotFound` naming `vocab.txt` when neither file exists, and the
    ///   errors of the initialisers.
    public static func load(directory: URL, doLowerCase: Bool?, maxLength: Int) throws -> BertTokenizer {
        let fm = FileManager.default
        let json = directory.appendingPathComponent("tokenizer.json")
        if fm.fileExists(atPath: json.path) {
            return try BertTokenizer(tokenizerJSON: json, maxLength: maxLength, lowercaseOverride: doLowerCase)
        }
        var lower = doLowerCase
        var stripAccents: Bool? = nil
        var chinese = true
        let config = directory.appendingPathComponent("tokenizer_config.json")
        if fm.fileExists(atPath: config.path) {
            let data = try BertVocabularyFile.readFile(config)
            let parsed: JSONValue
            do {
                parsed = try JSONParser.parse([UInt8](data))
            } catch {
                throw TokenizerError.invalidFile(path: config.path, reason: "not valid JSON: \(error)")
            }
            if lower == nil { lower = parsed["do_lower_case"]?.boolValue }
            stripAccents = parsed["strip_accents"]?.boolValue
            chinese = parsed["tokenize_chinese_chars"]?.boolValue ?? true
        }
        let vocabulary = try BertVocabularyFile.read(directory.appendingPathComponent("vocab.txt"))
        return try BertTokenizer(vocabulary: vocabulary,
                                 normalizer: BertNormalizerOptions(lowercase: lower ?? true, stripAccents: stripAccents,
                                                                   handleChineseCharacters: chinese),
                                 maxLength: maxLength)
    }
}
