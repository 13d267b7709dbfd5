// The libFuzzer target for the tokenizer file readers and the tokenizers they build: BERT
// `tokenizer.json` and `vocab.txt`, GPT-2 `tokenizer.json` and `vocab.json` + `merges.txt`.
//
// Built by Tools/fuzz.sh together with every source of Sources/SMMTokenizers into one module.
// The first input byte picks the reader; the rest is the file (for vocab.json + merges.txt, the
// two files split at the first 0x00 byte), and after a second 0x00 byte comes a text to encode.
// A reader may refuse its file (a thrown `TokenizerError`) but must never trap, read out of
// bounds or allocate without bound; a tokenizer it builds must encode and decode any text.
import Foundation

private let directory: URL = {
    let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("smm-fuzz-tok-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}()

private let fixedTexts = ["Hello, world! Café naïve 東京 🙂", "  ", "[CLS] a [SEP] [MASK] <|endoftext|>", "a\u{0301}\u{0323}b\u{0F73}"]

@_cdecl("LLVMFuzzerTestOneInput")
public func smmTokenizerFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    let mode = bytes[0] % 4
    var body = Array(bytes[1...])
    var text: String? = nil
    func split(_ b: [UInt8]) -> ([UInt8], [UInt8]?) {
        guard let i = b.firstIndex(of: 0) else { return (b, nil) }
        return (Array(b[..<i]), Array(b[(i + 1)...]))
    }
    var second: [UInt8] = []
    if mode == 3 {
        let (vocab, rest) = split(body)
        body = vocab
        let (merges, tail) = split(rest ?? [])
        second = merges
        if let tail { text = String(decoding: tail, as: UTF8.self) }
    } else {
        let (file, tail) = split(body)
        body = file
        if let tail { text = String(decoding: tail, as: UTF8.self) }
    }
    let first = directory.appendingPathComponent(mode == 2 ? "vocab.txt" : mode == 3 ? "vocab.json" : "tokenizer.json")
    let merges = directory.appendingPathComponent("merges.txt")
    // An empty file is written as one newline, which every reader takes as it takes an empty file (a
    // blank line is skipped; a JSON reader sees nothing but whitespace): Foundation's Data(contentsOf:)
    // leaks a 4 KiB buffer on every file of size 0 on Linux (swift-foundation 6.3.1, readDataFromFile),
    // which LeakSanitizer reports, after a full leak check per such input (every empty merges.txt).
    func contents(_ b: [UInt8]) -> Data { b.isEmpty ? Data([0x0A]) : Data(b) }
    do {
        try contents(body).write(to: first)
        if mode == 3 { try contents(second).write(to: merges) }
    } catch { return 0 }

    let tokenizer: (any Tokenizer)?
    switch mode {
    case 0: tokenizer = try? BertTokenizer(tokenizerJSON: first, maxLength: 64)
    case 1: tokenizer = try? GPT2Tokenizer(tokenizerJSON: first)
    case 2: tokenizer = try? BertTokenizer(vocabularyFile: first, maxLength: 64)
    default: tokenizer = try? GPT2Tokenizer(vocabularyFile: first, mergesFile: merges)
    }
    guard let tokenizer else { return 0 }
    for t in fixedTexts + (text.map { [$0] } ?? []) {
        guard let encoding = try? tokenizer.encode(t) else { continue }
        for id in encoding.ids {
            precondition(id >= 0 && id < tokenizer.vocabularySize, "id \(id) outside the vocabulary of \(tokenizer.vocabularySize)")
        }
        _ = try? tokenizer.decode(encoding.ids, skipSpecialTokens: false)
        _ = try? tokenizer.decode(encoding.ids, skipSpecialTokens: true)
    }
    _ = try? tokenizer.decode([0, tokenizer.vocabularySize - 1, tokenizer.vocabularySize, -1], skipSpecialTokens: false)
    return 0
}

/// With `SMM_FUZZ_WRITE_SEEDS=DIR` set, writes a small valid input of each kind into DIR.
@_cdecl("LLVMFuzzerInitialize")
public func smmTokenizerFuzzInitialize(_ argc: UnsafeMutablePointer<CInt>,
                                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let dir = ProcessInfo.processInfo.environment["SMM_FUZZ_WRITE_SEEDS"], !dir.isEmpty else { return 0 }
    let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "caf", "##e", ",", "!", "a", "b", "東"]
    let bertJSON = """
    {"version":"1.0","added_tokens":[{"id":2,"content":"[CLS]","special":true,"normalized":false},\
    {"id":4,"content":"[MASK]","special":true,"normalized":false,"lstrip":true}],\
    "normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},\
    "pre_tokenizer":{"type":"BertPreTokenizer"},\
    "post_processor":{"type":"TemplateProcessing","special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2]},"[SEP]":{"id":"[SEP]","ids":[3]}}},\
    "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,\
    "vocab":{\(vocab.enumerated().map { "\"\($0.element)\":\($0.offset)" }.joined(separator: ","))}}}
    """
    let printable = (UInt8(0x21)...UInt8(0x7E)).map { String(UnicodeScalar($0)) }
    let gptVocab = printable + ["he", "hel", "hello", "Ġw", "<|endoftext|>"]
    let vocabJSON = "{" + gptVocab.enumerated().map { "\"\($0.element.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\":\($0.offset)" }.joined(separator: ",") + "}"
    let mergesText = "#version: 0.2\nh e\nhe l\nhel lo\n"
    let gptJSON = """
    {"version":"1.0","added_tokens":[{"id":\(gptVocab.count - 1),"content":"<|endoftext|>","special":true}],\
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},"decoder":{"type":"ByteLevel"},\
    "model":{"type":"BPE","vocab":\(vocabJSON),"merges":["h e","he l"]}}
    """
    let seeds: [(String, [UInt8])] = [
        ("bert-tokenizer.json", [0] + Array(bertJSON.utf8) + [0] + Array("Hello worlds, café!".utf8)),
        ("gpt2-tokenizer.json", [1] + Array(gptJSON.utf8) + [0] + Array("hello world".utf8)),
        ("vocab.txt", [2] + Array(vocab.joined(separator: "\n").utf8) + [0] + Array("a b hellos".utf8)),
        ("vocab-merges", [3] + Array(vocabJSON.utf8) + [0] + Array(mergesText.utf8) + [0] + Array("hello".utf8)),
    ]
    for (name, seed) in seeds {
        try? Data(seed).write(to: URL(fileURLWithPath: dir).appendingPathComponent(name))
    }
    return 0
}
