import Foundation

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

    /// The bytes of a file, with `TokenizerError`s that name it.
    static func readFile(_ url: URL) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.fileNotFound(url.path)
        }
        if isDirectory.boolValue {
            throw TokenizerError.invalidFile(path: url.path, reason: "is a directory, not a file")
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.invalidFile(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }
}

/// A small JSON reader that keeps object keys in order and exactly as written.
///
/// `JSONSerialization` turns objects into `[String: Any]`, where canonically equivalent keys
/// ("é" and "e" + U+0301) collide; a WordPiece vocabulary may hold both as different tokens.
indirect enum MiniJSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([MiniJSON])
    case object([(String, MiniJSON)])

    /// Member `key` of an object (first match, compared by UTF-8 bytes), or nil.
    subscript(key: String) -> MiniJSON? {
        guard case .object(let members) = self else { return nil }
        let k = Array(key.utf8)
        return members.first { $0.0.utf8.elementsEqual(k) }?.1
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    var int: Int? {
        if case .number(let d) = self, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Parses a JSON document; the error string says where it went wrong.
    static func parse(_ data: Data) throws -> MiniJSON {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> MiniJSON in
            var parser = Parser(bytes: raw.bindMemory(to: UInt8.self))
            parser.skipSpace()
            let value = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.pos == parser.bytes.count else { throw parser.error("unexpected data after the JSON value") }
            return value
        }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var pos = 0

        func error(_ message: String) -> MiniJSONError {
            MiniJSONError(message: "\(message) at byte \(pos)")
        }

        mutating func skipSpace() {
            while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 {
                pos += 1
            }
        }

        mutating func expect(_ literal: String, _ value: MiniJSON) throws -> MiniJSON {
            for b in literal.utf8 {
                guard pos < bytes.count, bytes[pos] == b else { throw error("invalid literal") }
                pos += 1
            }
            return value
        }

        mutating func value(depth: Int) throws -> MiniJSON {
            guard depth < 512 else { throw error("nesting too deep") }
            guard pos < bytes.count else { throw error("unexpected end of file") }
            switch bytes[pos] {
            case UInt8(ascii: "{"):
                pos += 1
                var members: [(String, MiniJSON)] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
                    pos += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                    let key = try string()
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    pos += 1
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard pos < bytes.count else { throw error("unexpected end of file") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                pos += 1
                var items: [MiniJSON] = []
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
                    pos += 1
                    return .array(items)
                }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard pos < bytes.count else { throw error("unexpected end of file") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            default:
                let start = pos
                while pos < bytes.count, let c = Optional(bytes[pos]),
                      (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
                        || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                    pos += 1
                }
                guard pos > start, let d = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)) else {
                    pos = start
                    throw error("invalid value")
                }
                return .number(d)
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard pos + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                pos += 1
            }
            return v
        }

        mutating func string() throws -> String {
            pos += 1  // opening quote
            var out: [UInt8] = []
            var runStart = pos
            while true {
                guard pos < bytes.count else { throw error("unterminated string") }
                let c = bytes[pos]
                if c == UInt8(ascii: "\"") {
                    out.append(contentsOf: bytes[runStart..<pos])
                    pos += 1
                    return String(decoding: out, as: UTF8.self)
                }
                if c == UInt8(ascii: "\\") {
                    out.append(contentsOf: bytes[runStart..<pos])
                    pos += 1
                    guard pos < bytes.count else { throw error("unterminated string") }
                    let e = bytes[pos]
                    pos += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var v = try hex4()
                        if v >= 0xD800 && v < 0xDC00, pos + 6 <= bytes.count,
                           bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                            let save = pos
                            pos += 2
                            let low = try hex4()
                            if low >= 0xDC00 && low < 0xE000 {
                                v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                pos = save
                            }
                        }
                        let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                        out.append(contentsOf: String(scalar).utf8)
                    default:
                        throw error("invalid escape")
                    }
                    runStart = pos
                    continue
                }
                pos += 1
            }
        }
    }
}

/// A JSON syntax error.
struct MiniJSONError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
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

        let root: MiniJSON
        do {
            root = try MiniJSON.parse(data)
        } catch {
            throw invalid("not valid JSON: \(error)")
        }
        guard case .object = root else { throw invalid("the top level is not a JSON object") }
        guard let model = root["model"], case .object = model else { throw invalid("no \"model\" object") }
        if let type = model["type"]?.string, type != "WordPiece" {
            throw invalid("the model type is \(type), not WordPiece")
        }
        guard let vocab = model["vocab"], case .object(let entries) = vocab else {
            throw invalid("the model has no \"vocab\" object")
        }
        if entries.isEmpty { throw invalid("the vocabulary is empty") }
        var tokenIDs: [(String, Int)] = []
        tokenIDs.reserveCapacity(entries.count)
        for (token, value) in entries {
            guard let id = value.int, TokenizerLimits.accepts(id) else {
                throw invalid("the id of vocabulary entry \"\(token)\" is not an integer in 0 ..< \(TokenizerLimits.maxTokenID)")
            }
            tokenIDs.append((token, id))
        }
        let unk = model["unk_token"]?.string ?? "[UNK]"
        let prefix = model["continuing_subword_prefix"]?.string ?? "##"
        let maxChars = model["max_input_chars_per_word"]?.int ?? 100
        let wordPiece = try WordPiece(tokenIDs: tokenIDs, unknownToken: unk, continuingSubwordPrefix: prefix,
                                      maxInputCharactersPerWord: maxChars)

        // Normalizer.
        var options = BertNormalizerOptions(lowercase: false, stripAccents: false, cleanText: false,
                                            handleChineseCharacters: false)
        if let normalizer = root["normalizer"], !normalizer.isNull {
            var bert: MiniJSON? = nil
            if normalizer["type"]?.string == "BertNormalizer" {
                bert = normalizer
            } else if normalizer["type"]?.string == "Sequence", case .array(let steps)? = normalizer["normalizers"] {
                for step in steps {
                    switch step["type"]?.string {
                    case "BertNormalizer": bert = step
                    case "Lowercase": options.lowercase = true
                    case "StripAccents": options.stripAccents = true
                    case "NFD": break  // done as part of accent stripping
                    default: throw invalid("unsupported normalizer \(step["type"]?.string ?? "?") in a Sequence")
                    }
                }
            } else {
                throw invalid("unsupported normalizer \(normalizer["type"]?.string ?? "?")")
            }
            if let bert {
                options.cleanText = bert["clean_text"]?.bool ?? true
                options.handleChineseCharacters = bert["handle_chinese_chars"]?.bool ?? true
                options.lowercase = bert["lowercase"]?.bool ?? true
                options.stripAccents = bert["strip_accents"]?.bool  // null follows lowercase
            }
        }
        if let lowercaseOverride { options.lowercase = lowercaseOverride }

        // Added tokens.
        var added: [BertAddedToken] = []
        if case .array(let items)? = root["added_tokens"] {
            for item in items {
                guard let content = item["content"]?.string, let id = item["id"]?.int else {
                    throw invalid("an added token has no content or id")
                }
                guard TokenizerLimits.accepts(id) else {
                    throw invalid("added token \"\(content)\" has id \(id), outside 0 ..< \(TokenizerLimits.maxTokenID)")
                }
                added.append(BertAddedToken(content: content, id: id, special: item["special"]?.bool ?? false,
                                            normalized: item["normalized"]?.bool ?? !(item["special"]?.bool ?? false),
                                            lstrip: item["lstrip"]?.bool ?? false, rstrip: item["rstrip"]?.bool ?? false,
                                            singleWord: item["single_word"]?.bool ?? false))
            }
        }

        // Post-processor: the names of [CLS] and [SEP].
        var cls = "[CLS]"
        var sep = "[SEP]"
        if let post = root["post_processor"] {
            if post["type"]?.string == "BertProcessing" {
                if case .array(let c)? = post["cls"], let name = c.first?.string { cls = name }
                if case .array(let s)? = post["sep"], let name = s.first?.string { sep = name }
            } else if post["type"]?.string == "TemplateProcessing", case .array(let single)? = post["single"] {
                var specials: [String] = []
                for piece in single {
                    if let name = piece["SpecialToken"]?["id"]?.string { specials.append(name) }
                }
                if specials.count == 2 {
                    cls = specials[0]
                    sep = specials[1]
                }
            }
        }
        var pad = "[PAD]"
        if let padding = root["padding"], let name = padding["pad_token"]?.string { pad = name }
        let cleanup = root["decoder"]?["cleanup"]?.bool ?? true

        try self.init(model: wordPiece, normalizer: options, addedTokens: added, clsToken: cls, sepToken: sep,
                      padToken: pad, maxLength: maxLength, decoderCleanup: cleanup)
    }

    /// Loads the tokenizer of a model directory: its `tokenizer.json` when there is one, else its
    /// `vocab.txt`.
    ///
    /// - Parameters:
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
            let parsed: MiniJSON
            do {
                parsed = try MiniJSON.parse(data)
            } catch {
                throw TokenizerError.invalidFile(path: config.path, reason: "not valid JSON: \(error)")
            }
            if lower == nil { lower = parsed["do_lower_case"]?.bool }
            stripAccents = parsed["strip_accents"]?.bool
            chinese = parsed["tokenize_chinese_chars"]?.bool ?? true
        }
        let vocabulary = try BertVocabularyFile.read(directory.appendingPathComponent("vocab.txt"))
        return try BertTokenizer(vocabulary: vocabulary,
                                 normalizer: BertNormalizerOptions(lowercase: lower ?? true, stripAccents: stripAccents,
                                                                   handleChineseCharacters: chinese),
                                 maxLength: maxLength)
    }
}
